// @ts-check
// DOM and formatting helpers shared by the pages. Data is only ever put into the page as text.

/**
 * Create an element: h('a', {href: '#'}, 'text', child, ...). Null/false children are skipped.
 * `href` values that are not http(s), relative or fragment URLs are dropped (no javascript:).
 * @param {string} tag
 * @param {Record<string, any>|null} [attrs]
 * @param {...any} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'css') for (const [k, v] of Object.entries(value)) el.style.setProperty(k, v);
    else if (key === 'href') {
      const safe = safeHref(String(value));
      if (safe !== null) el.setAttribute('href', safe);
    } else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/**
 * The href if it is safe to link: '#...', a relative path, or an absolute http(s) URL.
 * @param {string} value
 * @returns {string|null}
 */
export function safeHref(value) {
  if (value.startsWith('#')) return value;
  try {
    const url = new URL(value, location.href);
    return url.protocol === 'http:' || url.protocol === 'https:' ? value : null;
  } catch {
    return null;
  }
}

/**
 * An external link (new tab) when `url` is http(s), else the plain text.
 * @param {any} url
 * @param {any} [text]
 */
export function extLink(url, text) {
  const label = text ?? url;
  if (typeof url !== 'string' || !/^https?:\/\//i.test(url)) return label ?? '';
  return h('a', {href: url, target: '_blank', rel: 'noopener noreferrer'}, label);
}

/**
 * A number of milliseconds as "1h 02m", "3m 05s" or "12s".
 * @param {any} ms
 */
export function formatDuration(ms) {
  if (typeof ms !== 'number' || !isFinite(ms) || ms < 0) return '';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(hrs / 24)}d ${hrs % 24}h`;
}

/**
 * A time (epoch seconds, epoch ms or an ISO string; naive means UTC) as epoch ms, or null.
 * @param {any} value
 * @returns {number|null}
 */
export function toMs(value) {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value === 'number') return value < 1e11 ? value * 1000 : value;
  const text = String(value);
  const parsed = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : text + 'Z');
  return isNaN(parsed) ? null : parsed;
}

const TZ_KEY = 'zuul.timezone';
/** The zone choice, read from localStorage once (the first access to it is slow). @type {'UTC'|'local'|null} */
let zone = null;

/** The user's time zone choice: 'UTC' (default, as logs are) or 'local'; remembered. */
export function timeZone() {
  if (zone === null) {
    try {
      zone = localStorage.getItem(TZ_KEY) === 'local' ? 'local' : 'UTC';
    } catch {
      zone = 'UTC';
    }
  }
  return zone;
}

/** @param {'UTC'|'local'} choice */
export function setTimeZone(choice) {
  zone = choice;
  try { localStorage.setItem(TZ_KEY, choice); } catch { /* private mode: not remembered */ }
}

/** The local-time formatter, made on first use: making one loads ICU data (tens of ms). @type {Intl.DateTimeFormat|null} */
let localFormat = null;

/**
 * A time as "2026-11-25 18:36:06 UTC" (or local time labelled with its zone). UTC needs no
 * Intl formatter (toISOString), so the first status's "updated" line costs nothing.
 * @param {any} value
 */
export function formatTime(value) {
  const ms = toMs(value);
  if (ms === null || !(Math.abs(ms) <= 8.64e15)) return '';  // beyond what a Date holds
  if (timeZone() === 'UTC') {
    const iso = new Date(ms).toISOString();
    return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
  }
  localFormat = localFormat || new Intl.DateTimeFormat('en-CA', {
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
    second: '2-digit', hourCycle: 'h23', timeZoneName: 'short'});
  /** @type {Record<string, string>} */
  const p = {};
  for (const part of localFormat.formatToParts(new Date(ms))) p[part.type] = part.value;
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${p.timeZoneName || 'local'}`;
}

/**
 * "3m ago" / "in 2m" relative to now.
 * @param {any} value
 * @param {number} [now]
 */
export function relTime(value, now = Date.now()) {
  const ms = toMs(value);
  if (ms === null) return '';
  const diff = now - ms;
  if (Math.abs(diff) < 5000) return 'just now';
  return diff > 0 ? `${formatDuration(diff)} ago` : `in ${formatDuration(-diff)}`;
}

/**
 * A <time> element: the absolute time in the chosen zone plus the relative time.
 * @param {any} value
 */
export function timeEl(value) {
  const ms = toMs(value);
  if (ms === null) return '';
  return h('time', {datetime: new Date(ms).toISOString(), title: relTime(ms)},
    formatTime(ms), h('span', {class: 'rel'}, ` (${relTime(ms)})`));
}

/** Result name -> colour class; a result missing here is shown neutral. */
const RESULT_CLASSES = {
  SUCCESS: 'success', FAILURE: 'failure', POST_FAILURE: 'failure', TIMED_OUT: 'failure',
  MERGE_CONFLICT: 'warning', MERGE_FAILURE: 'warning', CONFIG_ERROR: 'warning',
  NODE_FAILURE: 'error', RETRY_LIMIT: 'error', ERROR: 'error', DISK_FULL: 'error',
  ABORTED: 'skipped', CANCELED: 'skipped', SKIPPED: 'skipped', DEQUEUED: 'skipped',
  LOST: 'error',
};

/**
 * The CSS class for a build result ("success", "failure", ...).
 * @param {any} result
 */
export function resultClass(result) {
  return RESULT_CLASSES[/** @type {keyof RESULT_CLASSES} */ (String(result || '').toUpperCase())]
    || 'skipped';
}

/**
 * A coloured result badge; no result means the build is still running.
 * @param {any} result
 */
export function resultBadge(result) {
  if (!result) return h('span', {class: 'result running'}, 'RUNNING');
  return h('span', {class: `result ${resultClass(result)}`}, String(result));
}

/**
 * Read a nested field trying several names: pick(obj, 'a', 'b.c').
 * @param {any} obj
 * @param {...string} names
 * @returns {any}
 */
export function pick(obj, ...names) {
  for (const name of names) {
    let value = obj;
    for (const part of name.split('.')) {
      value = value !== null && typeof value === 'object' ? value[part] : undefined;
    }
    if (value !== undefined && value !== null && value !== '') return value;
  }
  return undefined;
}

/**
 * An array from a response that is a list or an object holding one under `key`.
 * @param {any} data
 * @param {string} key
 * @returns {any[]}
 */
export function listOf(data, key) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data[key])) return data[key];
  return [];
}

/**
 * Call fn at most once per `wait` ms after the last call.
 * @template {any[]} A
 * @param {(...args: A) => void} fn
 * @param {number} wait
 */
export function debounce(fn, wait) {
  /** @type {any} */
  let timer = null;
  return (/** @type {A} */ ...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
}

/**
 * A hash link inside the tenant: tlink(t, 'build', uuid) -> "#/t/<t>/build/<uuid>".
 * @param {string} tenant
 * @param {...any} parts
 */
export function thref(tenant, ...parts) {
  return `#/t/${encodeURIComponent(tenant)}/` + parts.map((p) => encodeURIComponent(p)).join('/');
}

/**
 * A table that turns into cards on phones: each cell carries its column name.
 * @param {string} id
 * @param {string[]} columns
 * @param {any[][]} rows  cells per row; a row may carry `dataset` via rowData
 * @param {(index: number) => Record<string, string>} [rowData]
 * @param {string} [empty]
 */
export function table(id, columns, rows, rowData, empty = 'Nothing to show.') {
  return h('table', {class: 'grid', id},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {scope: 'col'}, c)))),
    h('tbody', {}, rows.length ? rows.map((cells, i) => h('tr', {dataset: rowData ? rowData(i) : null},
      cells.map((cell, j) => h('td', {dataset: {label: columns[j]}}, cell))))
      : h('tr', {}, h('td', {colspan: columns.length, class: 'muted'}, empty))));
}

/**
 * A definition table of label/value rows (null values skipped).
 * @param {string} id
 * @param {[string, any][]} rows
 */
export function details(id, rows) {
  return h('table', {class: 'details', id}, h('tbody', {}, rows.filter((r) => r[1] !== null)
    .map(([label, value]) => h('tr', {}, h('th', {scope: 'row'}, label), h('td', {}, value)))));
}

/**
 * An <input> element (typed for the checker).
 * @param {Record<string, any>} attrs
 */
export const input = (attrs) => /** @type {HTMLInputElement} */ (h('input', attrs));

/**
 * The change an item tests: Zuul's ``refs[0]`` (older Zuul: ``changes[0]``, or the item).
 * @param {any} item
 */
export const firstChange = (item) => (Array.isArray(item.refs) && item.refs[0])
  || (Array.isArray(item.changes) && item.changes[0]) || item;
