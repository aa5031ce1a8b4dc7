// @ts-check
// Hash router: every page lives at #/t/<tenant>/<page>[/<arg>][?query], so deep links work
// under any prefix and survive a reload.
import {setBanner, setNav, setUpdated, initChrome} from './chrome.js';
import {initAuth} from './auth.js';
import {h} from './util.js';
import * as status from './status.js';
import * as change from './change.js';
import * as console_ from './console.js';
import * as builds from './builds.js';
import * as build from './build.js';
import * as buildset from './buildset.js';
import * as projects from './projects.js';
import * as jobs from './jobs.js';
import * as nodes from './nodes.js';
import * as lists from './lists.js';
import * as tenants from './tenants.js';

/** @typedef {(root: HTMLElement, params: any) => (void | (() => void))} Mount */

/** Page name -> [mount, the nav entry it belongs to]. @type {Record<string, [Mount, string]>} */
const PAGES = {
  status: [status.mount, 'status'], change: [change.mount, 'status'],
  stream: [console_.mount, 'status'], console: [console_.mount, 'status'],
  projects: [projects.mountList, 'projects'], project: [projects.mount, 'projects'],
  jobs: [jobs.mountList, 'jobs'], job: [jobs.mount, 'jobs'],
  labels: [nodes.mountLabels, 'labels'], nodes: [nodes.mount, 'nodes'], node: [nodes.mountNode, 'nodes'],
  autoholds: [lists.mountAutoholds, 'autoholds'], builds: [builds.mount, 'builds'],
  build: [build.mount, 'builds'], buildsets: [builds.mountBuildsets, 'buildsets'],
  buildset: [buildset.mount, 'buildsets'], semaphores: [lists.mountSemaphores, 'semaphores'],
  components: [lists.mountComponents, 'components'], 'config-errors': [lists.mountErrors, ''],
};
/** @type {null | (() => void)} */
let cleanup = null;

/**
 * Split the hash into path segments and query parameters.
 * @param {string} hash
 */
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
  const main = /** @type {HTMLElement} */ (document.getElementById('main'));
  main.replaceChildren();
  const {parts, query} = parseHash(location.hash);
  /** @type {[Mount, string]|null} */
  let page = null;
  /** @type {any} */
  let params = {query};
  if (parts[0] === 't' && parts[1]) {
    params = {tenant: parts[1], arg: parts.slice(3).join('/'), query};
    page = PAGES[parts[2] || 'status'] || null;
    setNav(parts[1], page ? page[1] : '');
  } else if (parts.length === 0 || parts[0] === 'tenants') {
    page = [tenants.mount, 'tenants'];
    setNav(null, 'tenants');
  }
  if (!page) {
    setNav(params.tenant || null, '');
    main.append(h('h1', {}, 'Page not found'),
                h('p', {}, 'No page at ', h('code', {}, location.hash), '. ',
                  h('a', {href: '#/tenants'}, 'Go to the tenant list'), '.'));
    return;
  }
  cleanup = page[0](main, params) || null;
}

initChrome();
initAuth();
window.addEventListener('hashchange', route);
window.addEventListener('zuul-auth', route);
route();
