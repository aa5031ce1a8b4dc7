// @ts-check
// Every URL the dashboard uses is relative to the page's own URL (without hash and query), so
// the same files work under any prefix: /zuul/, /, /ci/zuul/ ...

/** The directory URL the dashboard was loaded from. */
export function pageBase() {
  const url = new URL(location.href);
  url.hash = '';
  url.search = '';
  url.pathname = url.pathname.replace(/[^/]*$/, '');
  return url;
}

/**
 * Absolute URL of a scheduler API path ("tenants", "tenant/x/status").
 * @param {string} path
 */
export function apiUrl(path) {
  return new URL('api/' + path, pageBase()).toString();
}

/**
 * The websocket URL of an API path (ws: or wss: to match the page).
 * @param {string} path
 */
export function wsUrl(path) {
  const url = new URL(apiUrl(path));
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

/**
 * URL of a build's stored log file (under Apache's <prefix>/logs/).
 * @param {string} uuid
 */
export function logUrl(uuid, file = 'console.log') {
  return new URL(`logs/${encodeURIComponent(uuid)}/${file}`, pageBase()).toString();
}

/**
 * Encode one path segment of an API URL.
 * @param {any} value
 */
export const seg = (value) => encodeURIComponent(value);

/** An API failure: `unreachable` is true when no working backend answered. */
export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {number} [status]
   * @param {boolean} [unreachable]
   */
  constructor(message, status = 0, unreachable = false) {
    super(message);
    this.status = status;
    this.unreachable = unreachable;
    /** @type {string|undefined} */
    this.service = undefined;
    this.routeMissing = false;
  }

  /** True when the route itself is missing (an older or partial API): "not available". */
  get missing() {
    return this.status === 404 && this.routeMissing || this.status === 405 || this.status === 501;
  }
}

/**
 * Fetch a URL and parse its JSON; throws ApiError with the server's description on failure.
 * A 404 whose body is not a JSON error (the router's own answer) marks the route as missing.
 * @param {string} url
 * @param {{signal?: AbortSignal, timeout?: number, method?: string, body?: any, token?: string|null}} [options]
 * @returns {Promise<any>}
 */
export async function getJSON(url, {signal, timeout = 10000, method = 'GET', body: payload, token} = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout);
  const onAbort = () => controller.abort();
  if (signal) signal.addEventListener('abort', onAbort);
  let response;
  try {
    /** @type {Record<string, string>} */
    const headers = {Accept: 'application/json'};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (payload !== undefined) headers['Content-Type'] = 'application/json';
    response = await fetch(url, {signal: controller.signal, cache: 'no-cache', method, headers,
                                 body: payload === undefined ? undefined : JSON.stringify(payload)});
  } catch (err) {
    if (signal && signal.aborted) throw err;
    throw new ApiError(controller.signal.aborted ? 'request timed out' : 'network error', 0, true);
  } finally {
    clearTimeout(timer);
    if (signal) signal.removeEventListener('abort', onAbort);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const unreachable = [502, 503, 504].includes(response.status);
    const detail = body && (body.description || body.error);
    const error = new ApiError(detail || `HTTP ${response.status} ${response.statusText}`,
                               response.status, unreachable);
    error.routeMissing = !detail || /^Not Found for /.test(detail);
    throw error;
  }
  if (body === null && method !== 'GET') return {};
  if (body === null) throw new ApiError('the answer was not JSON', response.status, false);
  return body;
}

/** @type {Promise<any>|null} */
let infoPromise = null;

/** `GET api/info` once per page load (null when it fails). */
export function apiInfo() {
  if (!infoPromise) {
    infoPromise = getJSON(apiUrl('info')).then((data) => (data && data.info) || {})
      .catch(() => { infoPromise = null; return null; });
  }
  return infoPromise;
}

/**
 * A project name as URL path segments ("org/repo" keeps its slash, each part encoded).
 * @param {string} name
 */
export const pseg = (name) => String(name).split('/').map(encodeURIComponent).join('/');

/**
 * The status answer index.html's inline script started fetching (and parsing) for `url`
 * before the modules loaded, once; null when there is none. A failed or non-JSON prefetch is
 * fetched again the ordinary way.
 * @param {string} url
 * @param {AbortSignal} [signal]
 * @returns {Promise<any>|null}
 */
export function takePrefetch(url, signal) {
  const w = /** @type {any} */ (window);
  const pending = w.zuulPrefetch;
  if (!pending || pending.url !== url) return null;
  w.zuulPrefetch = null;
  return pending.data.then((/** @type {any} */ data) => data ?? getJSON(url, {signal}));
}
