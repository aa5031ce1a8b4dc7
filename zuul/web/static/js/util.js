// DOM and formatting helpers shared by the pages. Data is only ever put into the page as text.

/** Create an element: h('a', {href: '#'}, 'text', child, ...). Null/false children are skipped. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'style') el.style.cssText = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** A number of milliseconds as "1h 02m", "3m 05s" or "12s". */
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

/** A time (epoch seconds, epoch ms or an ISO string) as epoch ms, or null. */
export function toMs(value) {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value === 'number') return value < 1e11 ? value * 1000 : value;
  const parsed = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : value + 'Z');
  return isNaN(parsed) ? null : parsed;
}

/** A time as a short local date and time. */
export function formatTime(value) {
  const ms = toMs(value);
  if (ms === null) return '';
  return new Date(ms).toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
    second: '2-digit',
  });
}

const RESULT_CLASSES = {
  SUCCESS: 'success', FAILURE: 'failure', POST_FAILURE: 'failure', TIMED_OUT: 'failure',
  MERGE_CONFLICT: 'warning', MERGE_FAILURE: 'warning', CONFIG_ERROR: 'warning',
  NODE_FAILURE: 'error', RETRY_LIMIT: 'error', ERROR: 'error', DISK_FULL: 'error',
  ABORTED: 'skipped', CANCELED: 'skipped', SKIPPED: 'skipped', DEQUEUED: 'skipped',
  LOST: 'error',
};

/** The CSS class for a build result ("success", "failure", ...). */
export function resultClass(result) {
  return RESULT_CLASSES[String(result || '').toUpperCase()] || 'skipped';
}

/** A coloured result badge. */
export function resultBadge(result) {
  return h('span', {class: `result ${resultClass(result)}`}, result || 'UNKNOWN');
}

/** Read a nested field trying several names: pick(obj, 'a', 'b.c'). */
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

/** An array from a response that is a list or an object holding one under `key`. */
export function listOf(data, key) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data[key])) return data[key];
  return [];
}

/** Call fn at most once per `wait` ms after the last call. */
export function debounce(fn, wait) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
}
