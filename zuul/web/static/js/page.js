// @ts-check
// Loading one API answer into a page section, with the same handling of errors everywhere:
// a route the API lacks is "not available" (calm, not red), an unknown object is "not found",
// an unreachable API is the banner.
import {apiUrl, getJSON} from './api.js';
import {token} from './auth.js';
import {notAvailable, setBanner} from './chrome.js';
import {h} from './util.js';

/**
 * Fetch `path` (under api/) and put `render(data)` into `el`; returns an abort function.
 * @param {HTMLElement} el
 * @param {string} path
 * @param {string} what  e.g. "The build history"
 * @param {(data: any) => any} render
 * @param {(err: any) => any} [fallback]  what to show instead of an error (e.g. other source)
 */
export function load(el, path, what, render, fallback) {
  const controller = new AbortController();
  el.replaceChildren(h('p', {class: 'muted'}, 'Loading…'));
  getJSON(apiUrl(path), {signal: controller.signal, token: token()}).then((data) => {
    el.replaceChildren(render(data) || '');
  }).catch((err) => {
    if (controller.signal.aborted) return;
    const alt = fallback ? fallback(err) : null;
    if (alt) el.replaceChildren(alt);
    else el.replaceChildren(failure(err, what));
  });
  return () => controller.abort();
}

/**
 * What to show for a failed load of `what`.
 * @param {any} err
 * @param {string} what
 */
export function failure(err, what) {
  if (err.missing) return notAvailable(what);
  if (err.status === 401 || err.status === 403) {
    return h('p', {class: 'notice', dataset: {auth: String(err.status)}},
      `${what} needs an admin of this tenant: sign in (${err.message})`);
  }
  if (err.unreachable) setBanner(err);
  return h('p', {class: 'notice', dataset: {error: String(err.status || 0)}},
    err.status === 404 ? `Not found: ${err.message}` : `${what} could not be loaded: ${err.message}`);
}

/**
 * Deep equality of JSON data (no allocation, stops at the first difference).
 * @param {any} a
 * @param {any} b
 * @returns {boolean}
 */
export function same(a, b) {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!same(a[i], b[i])) return false;
    return true;
  }
  let n = 0;
  for (const key in a) {
    if (!same(a[key], b[key])) return false;
    n++;
  }
  for (const _ in b) n--;  // eslint-disable-line no-unused-vars
  return n === 0;
}

/**
 * Make the children of `parent` the keyed nodes in `wanted`, reusing nodes whose data is
 * unchanged (deep-equal) and moving nodes only when out of place (so focus and scroll survive).
 * With a `budget`, at most `budget.left` nodes for new keys are created (each one counts);
 * the keys left out are counted in `budget.skipped` for a later pass (progressive rendering).
 * @param {HTMLElement} parent
 * @param {[string, any, () => HTMLElement][]} wanted  key, data it is drawn from, create
 * @param {{left: number, skipped: number}} [budget]
 */
export function reconcile(parent, wanted, budget) {
  /** @type {Map<string, {el: HTMLElement, sig: any}>} */
  const old = /** @type {any} */ (parent)._keyed || new Map();
  const next = new Map();
  let cursor = parent.firstChild;
  for (const [key, sig, create] of wanted) {
    let entry = old.get(key);
    if (!entry && budget) {
      if (budget.left <= 0) { budget.skipped++; continue; }
      budget.left--;
    }
    if (!entry || !same(entry.sig, sig)) {
      const el = create();
      if (entry) {
        const focusKey = entry.el.contains(document.activeElement)
          ? /** @type {HTMLElement} */ (document.activeElement).dataset.fk : null;
        entry.el.replaceWith(el);
        if (cursor === entry.el) cursor = el;
        if (focusKey) {
          const again = /** @type {HTMLElement|null} */ (el.querySelector(`[data-fk="${CSS.escape(focusKey)}"]`));
          if (again) again.focus({preventScroll: true});
        }
      }
      entry = {el, sig};
    }
    next.set(key, entry);
    if (cursor === entry.el) cursor = cursor.nextSibling;
    else parent.insertBefore(entry.el, cursor);
  }
  while (cursor) {
    const after = cursor.nextSibling;
    parent.removeChild(cursor);
    cursor = after;
  }
  /** @type {any} */ (parent)._keyed = next;
}
