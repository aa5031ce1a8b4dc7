// Hash router: #/tenants, #/t/<tenant>/status, #/t/<tenant>/stream/<uuid>,
// #/t/<tenant>/builds?project=..., #/t/<tenant>/build/<uuid>, #/t/<tenant>/nodes.
import {setBanner, setNav, setUpdated} from './chrome.js';
import {h} from './util.js';
import * as status from './status.js';
import * as console_ from './console.js';
import * as builds from './builds.js';
import * as build from './build.js';
import * as nodes from './nodes.js';
import * as tenants from './tenants.js';

const PAGES = {status, stream: console_, console: console_, builds, build, nodes};
let cleanup = null;

/** Split the hash into path segments and query parameters. */
export function parseHash(hash) {
  const raw = hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return {parts, query: new URLSearchParams(query)};
}

function route() {
  if (cleanup) {
    try { cleanup(); } catch (err) { console.error(err); }
    cleanup = null;
  }
  setBanner(null);
  setUpdated('');
  const main = document.getElementById('main');
  main.replaceChildren();
  const {parts, query} = parseHash(location.hash);
  let page = null;
  let params = {query};
  if (parts[0] === 't' && parts[1]) {
    params = {tenant: parts[1], arg: parts.slice(3).join('/'), query};
    const name = parts[2] || 'status';
    page = PAGES[name];
    setNav(parts[1], name === 'stream' || name === 'console' ? 'status' : name);
  } else if (parts.length === 0 || parts[0] === 'tenants') {
    page = tenants;
    setNav(null, 'tenants');
  }
  if (!page) {
    setNav(params.tenant || null, '');
    main.append(h('h1', {}, 'Page not found'),
                h('p', {}, 'No page at ', h('code', {}, location.hash), '. ',
                  h('a', {href: '#/tenants'}, 'Go to the tenant list'), '.'));
    return;
  }
  cleanup = page.mount(main, params) || null;
}

window.addEventListener('hashchange', route);
route();
