// @ts-check
// Console: a running build streams over the console-stream websocket (resuming at the byte
// offset it reached when the connection drops); a finished build shows its stored log. Lines
// are numbered with permalinks, ANSI colours are kept, and the log can be searched.
import {ApiError, apiUrl, getJSON, logUrl, seg, wsUrl} from './api.js';
import {setBanner} from './chrome.js';
import {runningBuilds} from './builds.js';
import {buildFields} from './buildfields.js';
import {formatDuration, h, resultBadge, thref, toMs, input} from './util.js';

const CLOSE_REASONS = {4000: 'bad request', 4011: 'unknown build or log not available'};
const ERROR_LINE = /\b(fatal|failed!|error|traceback)\b/i;
const MAX_RETRIES = 8;

/**
 * Split text with ANSI SGR escapes into spans with colour classes (no inline styles).
 * @param {string} text
 * @param {{fg: string, bold: boolean}} state  carried across lines
 */
export function ansi(text, state) {
  if (!text.includes('\x1b')) return state.fg || state.bold ? [span(text, state)] : [text];
  const out = [];
  const re = /\x1b\[([\d;]*)m/g;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m.index > last) out.push(span(text.slice(last, m.index), state));
    for (const code of (m[1] || '0').split(';').map(Number)) {
      if (code === 0) { state.fg = ''; state.bold = false; }
      else if (code === 1) state.bold = true;
      else if (code === 22) state.bold = false;
      else if (code === 39) state.fg = '';
      else if ((code >= 30 && code <= 37) || (code >= 90 && code <= 97)) state.fg = `c${code}`;
    }
    last = re.lastIndex;
  }
  if (last < text.length) out.push(span(text.slice(last), state));
  return out;
}

/** @param {string} text @param {{fg: string, bold: boolean}} state */
function span(text, state) {
  if (!state.fg && !state.bold) return text;
  return h('span', {class: [state.fg, state.bold && 'b'].filter(Boolean).join(' ')}, text);
}

/**
 * Mount the console for build `arg` of `tenant`; returns the cleanup function.
 * @param {HTMLElement} root
 * @param {{tenant: string, arg: string, query: URLSearchParams}} params
 */
export function mount(root, {tenant, arg: uuid, query}) {
  const state = h('span', {class: 'console-state', id: 'console-state', role: 'status'}, 'connecting…');
  const result = h('span', {id: 'console-result'});
  const elapsed = h('span', {id: 'console-elapsed', class: 'muted'});
  const title = h('h1', {id: 'console-title'}, 'Console ', h('span', {class: 'mono muted'}, uuid));
  const pre = h('div', {class: 'console', id: 'console', tabindex: 0, role: 'log',
                        'aria-label': 'Build log', 'aria-live': 'off'});
  const search = input({type: 'search', id: 'console-search', 'aria-label': 'Search the log'});
  const regex = input({type: 'checkbox', id: 'console-regex'});
  const cased = input({type: 'checkbox', id: 'console-case'});
  const hits = h('span', {id: 'console-hits', class: 'muted'});
  const follow = h('button', {class: 'follow primary', hidden: true, type: 'button'}, '↓ Follow the log');
  root.append(title, h('div', {class: 'console-head'}, state, result, elapsed,
    h('a', {href: thref(tenant, 'build', uuid)}, 'Build details'),
    h('a', {href: logUrl(uuid), target: '_blank', rel: 'noopener'}, 'Raw log')),
  h('form', {class: 'toolbar', role: 'search', id: 'console-tools', onsubmit: (/** @type {Event} */ e) => {
    e.preventDefault(); jump(1);
  }},
  h('label', {for: 'console-search'}, 'Search', search),
  h('label', {for: 'console-regex', class: 'check'}, regex, 'Regex'),
  h('label', {for: 'console-case', class: 'check'}, cased, 'Match case'),
  h('button', {type: 'button', onclick: () => jump(-1)}, 'Previous'),
  h('button', {type: 'submit'}, 'Next'),
  h('button', {type: 'button', id: 'first-error', onclick: firstError}, 'First error'), hits),
  pre, follow);

  let closed = false;
  /** @type {WebSocket|null} */
  let socket = null;
  let pending = '';
  let partial = '';
  let lineNo = 0;
  let frame = 0;
  let following = !query.get('line');
  let bytes = 0;
  let retries = 0;
  let ended = false;
  /** @type {any} */
  let retryTimer = null;
  /** @type {any} */
  let resultTimer = null;
  /** @type {any} */
  let clock = null;
  let hitIndex = -1;
  const colour = {fg: '', bold: false};
  const tail = h('div', {class: 'ln tail'});
  pre.append(tail);

  const atBottom = () => innerHeight + scrollY >= document.documentElement.scrollHeight - 40;
  const scrollToEnd = () => scrollTo(0, document.documentElement.scrollHeight);
  function onScroll() {
    following = atBottom();
    follow.hidden = following;
  }
  follow.addEventListener('click', () => { following = true; follow.hidden = true; scrollToEnd(); });
  addEventListener('scroll', onScroll, {passive: true});

  /** @param {string} text */
  function line(text) {
    lineNo++;
    const href = `${thref(tenant, 'stream', uuid)}?line=${lineNo}`;
    return h('div', {class: 'ln', id: `L${lineNo}`, dataset: {n: lineNo}},
      h('a', {class: 'n', href, tabindex: -1, 'aria-label': `line ${lineNo}`, dataset: {n: lineNo}}),
      h('span', {class: 't'}, ansi(text, colour)));
  }

  function flush() {
    frame = 0;
    if (!pending) return;
    const parts = (partial + pending).split('\n');
    pending = '';
    partial = /** @type {string} */ (parts.pop());
    const fragment = document.createDocumentFragment();
    for (const text of parts) fragment.append(line(text));
    tail.before(fragment);
    tail.textContent = partial;
    if (parts.length && search.value) highlight();
    if (!linked) permalink();
    if (following) scrollToEnd();
  }
  /** @param {string} text */
  function write(text) {
    pending += text;
    if (!frame) frame = requestAnimationFrame(flush);
  }
  /** @param {string} text @param {string} kind */
  function setState(text, kind) {
    state.textContent = text;
    pre.dataset.state = kind;
  }

  /** The matcher of the search box, or null. */
  function matcher() {
    const text = search.value;
    if (!text) return null;
    try {
      const flags = cased.checked ? '' : 'i';
      const re = regex.checked ? new RegExp(text, flags)
        : new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), flags);
      search.removeAttribute('aria-invalid');
      return re;
    } catch {
      search.setAttribute('aria-invalid', 'true');
      hits.textContent = 'invalid regular expression';
      return null;
    }
  }
  function highlight() {
    const re = matcher();
    const lines = pre.querySelectorAll('.ln[data-n]');
    let n = 0;
    for (const el of lines) {
      const hit = re !== null && re.test(el.lastChild ? String(el.lastChild.textContent) : '');
      el.classList.toggle('hit', hit);
      if (hit) n++;
    }
    if (re) hits.textContent = `${n} matching line${n === 1 ? '' : 's'}`;
    else if (!search.value) hits.textContent = '';
  }
  /** @param {HTMLElement} el */
  function show(el) {
    following = false;
    for (const old of pre.querySelectorAll('.current')) old.classList.remove('current');
    el.classList.add('current');
    el.scrollIntoView({block: 'center'});
  }
  /** @param {number} step */
  function jump(step) {
    highlight();
    const found = [...pre.querySelectorAll('.ln.hit')];
    if (!found.length) return;
    hitIndex = (hitIndex + step + found.length) % found.length;
    show(/** @type {HTMLElement} */ (found[hitIndex]));
    hits.textContent = `${hitIndex + 1} of ${found.length} matching lines`;
  }
  function firstError() {
    const el = [...pre.querySelectorAll('.ln[data-n]')].find((l) => ERROR_LINE.test(String(l.textContent)));
    if (el) { show(/** @type {HTMLElement} */ (el)); hits.textContent = `first error on line ${/** @type {HTMLElement} */ (el).dataset.n}`; }
    else hits.textContent = 'no error line found';
  }
  search.addEventListener('input', () => { hitIndex = -1; highlight(); });
  regex.addEventListener('change', highlight);
  cased.addEventListener('change', highlight);
  let linked = !query.get('line');
  /** Show the line of a ?line=N permalink once it has arrived. */
  function permalink() {
    const el = linked ? null : document.getElementById(`L${query.get('line')}`);
    if (el) { linked = true; show(el); }
  }

  /** The heading: job, change and project, from the build record or the status. */
  /** @param {any} record */
  function heading(record) {
    const b = buildFields(record);
    title.replaceChildren(`${b.job || 'Console'} `,
      h('span', {class: 'muted'}, [b.project, b.change ? `#${b.change}` : b.refName].filter(Boolean).join(' ')),
      ' ', h('span', {class: 'mono muted small'}, uuid));
    document.title = `Zuul · ${b.job} · console`;
    const start = toMs(record.start_time);
    clearInterval(clock);
    if (start !== null && !record.result) {
      const tick = () => { elapsed.textContent = `running ${formatDuration(Date.now() - start)}`; };
      tick();
      clock = setInterval(tick, 1000);
    } else if (record.result && typeof record.duration === 'number') {
      elapsed.textContent = `took ${formatDuration(record.duration * 1000)}`;
    }
  }

  /** @param {any} build */
  function showResult(build) {
    heading(build);
    result.replaceChildren(resultBadge(build.result));
  }

  const fetchBuild = () => getJSON(apiUrl(`tenant/${seg(tenant)}/build/${seg(uuid)}`));

  // After the stream ends, the result reaches the build history shortly after: poll briefly.
  function awaitResult(tries = 30) {
    if (closed || tries <= 0) return;
    fetchBuild().then((build) => {
      if (build && build.result) showResult(build);
      else resultTimer = setTimeout(() => awaitResult(tries - 1), 1000);
    }).catch(() => { resultTimer = setTimeout(() => awaitResult(tries - 1), 1000); });
  }

  /** @param {any} build */
  async function showStored(build) {
    setState('loading the stored log…', 'loading');
    const response = await fetch(logUrl(uuid), {cache: 'no-cache'}).catch(() => null);
    if (closed) return;
    if (!response || !response.ok) {
      setState(`No stored log for this build${response ? ` (HTTP ${response.status})` : ''}.`, 'missing');
      return;
    }
    const text = await response.text();
    write(text.endsWith('\n') || !text ? text : text + '\n');
    flush();
    tail.remove();
    setState('Build finished: stored log', 'stored');
    if (build) showResult(build);
    permalink();
  }

  function stream() {
    setState(retries ? `reconnecting (try ${retries} of ${MAX_RETRIES})…` : 'connecting…', 'connecting');
    const ws = new WebSocket(wsUrl(`tenant/${seg(tenant)}/console-stream`));
    socket = ws;
    ws.addEventListener('open', () => {
      setState(retries ? '● streaming live (resumed)' : '● streaming live', 'streaming');
      ws.send(JSON.stringify(bytes ? {uuid, logfile: 'console.log', offset: bytes}
        : {uuid, logfile: 'console.log'}));
    });
    const encoder = new TextEncoder();
    ws.addEventListener('message', (event) => {
      if (typeof event.data !== 'string') return;
      retries = 0;
      bytes += encoder.encode(event.data).length;
      write(event.data);
    });
    ws.addEventListener('close', (event) => {
      if (closed || ws !== socket) return;
      flush();
      if (event.code === 1000) {
        ended = true;
        clearInterval(clock);
        setState('Build ended', 'ended');
        awaitResult();
      } else if (event.code === 4011 && !bytes) {
        showStored(null);
      } else if (event.code === 4000 || event.code === 4011 || retries >= MAX_RETRIES) {
        const why = event.reason || CLOSE_REASONS[/** @type {4000} */ (event.code)] || 'connection lost';
        setState(`Stream closed: ${why} (code ${event.code})`, 'error');
        if (event.code === 1006) setBanner(new ApiError('log streamer unreachable', 0, true));
      } else {
        retries++;
        const delay = Math.min(250 * 2 ** retries, 10000);
        setState(`connection lost; reconnecting in ${(delay / 1000).toFixed(1)}s…`, 'reconnecting');
        retryTimer = setTimeout(stream, delay);
      }
    });
  }

  fetchBuild().then((build) => {
    if (closed) return;
    if (build && build.result) showStored(build);
    else { heading(build); stream(); }
  }).catch(() => {
    if (closed) return;
    stream();
    getJSON(apiUrl(`tenant/${seg(tenant)}/status`)).then((s) => {
      const running = runningBuilds(s, new URLSearchParams({uuid}))[0];
      if (running && !closed && !ended) heading(running);
    }).catch(() => {});
  });

  return () => {
    closed = true;
    removeEventListener('scroll', onScroll);
    if (frame) cancelAnimationFrame(frame);
    clearTimeout(resultTimer);
    clearTimeout(retryTimer);
    clearInterval(clock);
    if (socket) socket.close(1000);
    follow.remove();
  };
}
