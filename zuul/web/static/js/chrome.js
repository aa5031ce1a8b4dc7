// @ts-check
// The page frame around every view: collapsing navigation, time zone switch, sign-in, the
// config-error indicator, the "API unreachable" banner, "updated at", dialogs and notices.
import {apiUrl, getJSON, seg} from './api.js';
import {h, listOf, setTimeZone, thref, timeZone} from './util.js';

const NAV = [['status', 'Status'], ['projects', 'Projects'], ['jobs', 'Jobs'],
             ['labels', 'Labels'], ['nodes', 'Nodes'], ['autoholds', 'Autoholds'],
             ['builds', 'Builds'], ['buildsets', 'Buildsets'], ['semaphores', 'Semaphores'],
             ['components', 'Components']];

/** @param {string} id */
const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * Show the header for `tenant` with `page` marked as current.
 * @param {string|null} tenant
 * @param {string} page
 */
export function setNav(tenant, page) {
  const links = tenant ? NAV.map(([name, label]) => h('a', {
    href: thref(tenant, name), 'aria-current': name === page ? 'page' : null}, label)) : [];
  links.push(h('a', {href: '#/tenants', 'aria-current': page === 'tenants' ? 'page' : null},
               'Tenants'));
  byId('nav').replaceChildren(...links);
  byId('tenant-name').textContent = tenant || '';
  document.title = tenant ? `Zuul · ${tenant} · ${page}` : 'Zuul';
  setMenu(false);
  configErrors(tenant);
}

/** @param {boolean} open */
function setMenu(open) {
  byId('menu').setAttribute('aria-expanded', String(open));
  byId('nav').classList.toggle('open', open);
}

/** @type {string|null} */
let errorsFor = null;
let errorsAt = 0;

/**
 * The header's config-error indicator: a link with the count, refreshed at most every minute.
 * @param {string|null} tenant
 */
function configErrors(tenant) {
  const el = byId('config-errors');
  if (!tenant) { el.hidden = true; errorsFor = null; return; }
  if (errorsFor === tenant && Date.now() - errorsAt < 60000) return;
  errorsFor = tenant;
  errorsAt = Date.now();
  getJSON(apiUrl(`tenant/${seg(tenant)}/config-errors`)).then((data) => {
    const n = listOf(data, 'errors').length;
    el.replaceChildren(h('a', {href: thref(tenant, 'config-errors')},
      `⚠ ${n} config error${n === 1 ? '' : 's'}`));
    el.hidden = n === 0;
  }).catch(() => { el.hidden = true; });
}

/**
 * Show (or with null, hide) the error banner. An unreachable API keeps stale data dimmed.
 * @param {any} error
 */
export function setBanner(error) {
  const banner = byId('banner');
  if (!error) {
    banner.hidden = true;
    document.body.classList.remove('stale');
    banner.textContent = '';
    return;
  }
  const text = error.unreachable
    ? `${error.service || 'Zuul'} API unreachable (${error.message}). Retrying; the data below may be stale.`
    : `Error: ${error.message}`;
  if (banner.textContent !== text) banner.textContent = text;
  banner.dataset.kind = error.unreachable ? 'unreachable' : 'error';
  document.body.classList.toggle('stale', Boolean(error.unreachable));
  banner.hidden = false;
}

/**
 * Note in the header when the data was last refreshed (not a live region: it changes often).
 * @param {string} text
 */
export function setUpdated(text) {
  byId('updated').textContent = text || '';
}

/**
 * Announce the answer to an action in the polite status region (and show it).
 * @param {string} text
 * @param {'ok'|'error'} [kind]
 */
export function notify(text, kind = 'ok') {
  const el = byId('notice');
  el.dataset.kind = kind;
  el.textContent = text;
  el.hidden = false;
}

/**
 * A modal confirmation; resolves true when confirmed.
 * @param {string} question
 * @param {string} [action]
 * @returns {Promise<boolean>}
 */
export function confirmDialog(question, action = 'Confirm') {
  const dialog = /** @type {HTMLDialogElement} */ (byId('confirm'));
  dialog.replaceChildren(h('form', {method: 'dialog'},
    h('p', {id: 'confirm-text'}, question),
    h('div', {class: 'toolbar'}, h('button', {value: 'yes', class: 'primary'}, action),
      h('button', {value: 'no', autofocus: true}, 'Cancel'))));
  dialog.setAttribute('aria-labelledby', 'confirm-text');
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'yes'), {once: true});
    dialog.returnValue = '';
    dialog.showModal();
  });
}

/**
 * A calm "not available" notice for a route this API does not serve (yet).
 * @param {string} what
 */
export function notAvailable(what) {
  return h('p', {class: 'notice', dataset: {unavailable: '1'}},
    `${what} is not available from this Zuul API.`);
}

/** Wire the static header controls once. */
export function initChrome() {
  byId('menu').addEventListener('click', () =>
    setMenu(byId('menu').getAttribute('aria-expanded') !== 'true'));
  const tz = byId('tz');
  const label = () => { tz.textContent = `Times: ${timeZone() === 'UTC' ? 'UTC' : 'local'}`; };
  label();
  tz.addEventListener('click', () => {
    setTimeZone(timeZone() === 'UTC' ? 'local' : 'UTC');
    label();
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  });
}
