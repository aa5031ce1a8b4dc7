// Zuul-style path links (<prefix>/t/<tenant>/...) reach index.html through Apache's
// FallbackResource; turn them into hash routes under the real prefix before anything loads.
// A classic script file (not inline) so the page works under a strict Content-Security-Policy.
(function () {
  var path = location.pathname, at = path.indexOf('/t/');
  if (at >= 0 && !/\/index\.html$/.test(path)) {
    location.replace(path.slice(0, at + 1) + '#' + path.slice(at) + location.search);
  }
})();
