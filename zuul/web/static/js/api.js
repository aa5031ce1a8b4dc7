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

/** Absolute URL of a scheduler API path ("tenants", "tenant/x/status"). */
export function apiUrl(path) {
  return new URL('api/' + path, pageBase()).toString();
}

/** The websocket URL of an API path (ws: or wss: to match the page). */
export function wsUrl(path) {
  const url = new URL(apiUrl(path));
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

/** URL of a finished build's stored log file. */
export function logUrl(uuid, file = 'console.log') {
  return new URL(`logs/${encodeURIComponent(uuid)}/${file}`, pageBase()).toString();
}

/** Encode one path segment of an API URL. */
export const seg = (value) => encodeURIComponent(value);

/** An API failure: `unreachable` is true when no working backend answered. */
export class ApiError extends Error {
  constructor(message, status = 0, unreachable = false) {
    super(message);
    this.status = status;
    this.unreachable = unreachable;
  }
}

/** GET a URL and parse its JSON; throws ApiError with the server's description on failure. */
export async function getJSON(url, {signal, timeout = 10000} = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout);
  const onAbort = () => controller.abort();
  if (signal) signal.addEventListener('abort', onAbort);
  let response;
  try {
    response = await fetch(url, {signal: controller.signal, cache: 'no-cache',
                                 headers: {Accept: 'application/json'}});
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
    throw new ApiError(detail || `HTTP ${response.status} ${response.statusText}`,
                       response.status, unreachable);
  }
  if (body === null) throw new ApiError('the answer was not JSON', response.status, false);
  return body;
}

let infoPromise = null;

/** `GET api/info` once per page load (null when it fails). */
export function apiInfo() {
  if (!infoPromise) {
    infoPromise = getJSON(apiUrl('info')).then((data) => (data && data.info) || {})
      .catch(() => { infoPromise = null; return null; });
  }
  return infoPromise;
}
