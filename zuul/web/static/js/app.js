// @ts-check
// Hash router: every page lives at #/t/<tenant>/<page>[/<arg>][?query], so deep links work
// under any prefix and survive a reload. Page modules are imported when first visited, so a
// first load fetches and compiles only the shared modules and the page it shows.
import {setBanner, setNav, setUpdated, initChrome} from './chrome.js';
import {initAuth} from './auth.js';
import {h} from './util.js';

/** @typedef {(root: HTMLElement, params: any) => (void | (() => void))} Mount */
/** @typedef {() => Promise<Mount>} Loader */

/** @type {Loader} */
const status = () => import('./status.js').then((m) => m.mount);
/** @type {Loader} */
const consolePage = () => import('./console.js').then((m) => m.mount);
const nodes = () => import('./nodes.js');
const lists = () => import('./lists.js');
const builds = () => import('./builds.js');
const projects = () => import('./projects.js');
const jobs = () => import('./jobs.js');

/** Page name -> [its mount function, the nav entry it belongs to]. @type {Record<string, [Loader, string]>} */
const PAGES = {
  status: [status, 'status'],
  change: [() => import('./change.js').then((m) => m.mount), 'status'],
  stream: [consolePage, 'status'], console: [consolePage, 'status'],
  projects: [() => projects().then((m) => m.mountList), 'projects'],
  project: [() => projects().then((m) => m.mount), 'projects'],
  jobs: [() => jobs().then((m) => m.mountList), 'jobs'], job: [() => jobs().then((m) => m.mount), 'jobs'],
  labels: [() => nodes().then((m) => m.mountLabels), 'labels'],
  nodes: [() => nodes().then((m) => m.mount), 'nodes'],
  node: [() => nodes().then((m) => m.mountNode), 'nodes'],
  autoholds: [() => lists().then((m) => m.mountAutoholds), 'autoholds'],
  builds: [() => builds().then((m) => m.mount), 'builds'],
  build: [() => import('./build.js').then((m) => m.mount), 'builds'],
  buildsets: [() => builds().then((m) => m.mountBuildsets), 'buildsets'],
  buildset: [() => import('./buildset.js').then((m) => m.mount), 'buildsets'],
  semaphores: [() => lists().then((m) => m.mountSemaphores), 'semaphores'],
  components: [() => lists().then((m) => m.mountComponents), 'components'],
  'config-errors': [() => lists().then((m) => m.mountErrors), ''],
};
/** @type {null | (() => void)} */
let cleanup = null;
/** Counts routings, so a page module arriving after the user moved on is not mounted. */
let generation = 0;

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

async function route() {
  const mine = ++generation;
  if (cleanup) {
    try { cleanup(); } catch (err) { console.error(err); }
    cleanup = null;
  }
  setBanner(null);
  setUpdated('');
  const main = /** @type {HTMLElement} */ (document.getElementById('main'));
  const {parts, query} = parseHash(location.hash);
  /** @type {[Loader, string]|null} */
  let page = null;
  /** @type {any} */
  let params = {query};
  if (parts[0] === 't' && parts[1]) {
    params = {tenant: parts[1], arg: parts.slice(3).join('/'), query};
    page = PAGES[parts[2] || 'status'] || null;
    setNav(parts[1], page ? page[1] : '');
  } else if (parts.length === 0 || parts[0] === 'tenants') {
    page = [() => import('./tenants.js').then((m) => m.mount), 'tenants'];
    setNav(null, 'tenants');
  }
  if (!page) {
    setNav(params.tenant || null, '');
    main.replaceChildren(h('h1', {}, 'Page not found'),
      h('p', {}, 'No page at ', h('code', {}, location.hash), '. ',
        h('a', {href: '#/tenants'}, 'Go to the tenant list'), '.'));
    return;
  }
  let mount;
  try {
    mount = await page[0]();
  } catch (err) {
    if (mine !== generation) return;
    main.replaceChildren(h('p', {class: 'notice'}, `This page could not be loaded (${err}); reload to try again.`));
    return;
  }
  if (mine !== generation) return;
  main.replaceChildren();
  cleanup = mount(main, params) || null;
}

initChrome();
initAuth();
window.addEventListener('hashchange', route);
window.addEventListener('zuul-auth', route);
route();
