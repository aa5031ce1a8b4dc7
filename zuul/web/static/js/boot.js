// @ts-check
// Loaded first (async, no imports): on a status route, start fetching the status while the
// page's modules are still downloading and compiling; status.js takes this answer over for
// its first render (api.js takePrefetch). Saves the module load time from the first status.
const route = /^#\/t\/([^/?]+)(?:\/status)?\/?(?:\?|$)/.exec(location.hash);
if (route) {
  const base = new URL(location.href);
  base.hash = '';
  base.search = '';
  base.pathname = base.pathname.replace(/[^/]*$/, '');
  const url = new URL(`api/tenant/${route[1]}/status`, base).toString();
  /** @type {any} */ (window).zuulPrefetch = {
    url, response: fetch(url, {cache: 'no-cache', headers: {Accept: 'application/json'}}).catch(() => null)};
}
export {};
