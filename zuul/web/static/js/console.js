// Live console: streams a running build's log over the console-stream websocket; a finished
// build shows its stored log. Auto-scroll follows the end until the user scrolls up.
import {ApiError, apiUrl, getJSON, logUrl, seg, wsUrl} from './api.js';
import {setBanner} from './chrome.js';
import {formatDuration, h, pick, resultBadge} from './util.js';

const CLOSE_REASONS = {4000: 'bad request', 4011: 'unknown build or log not available'};

/** Mount the console for build `arg` of `tenant`; returns the cleanup function. */
export function mount(root, {tenant, arg: uuid}) {
  const state = h('span', {class: 'console-state', id: 'console-state', 'aria-live': 'polite'},
                  'connecting…');
  const result = h('span', {id: 'console-result'});
  const title = h('h1', {}, 'Console ', h('span', {class: 'mono muted'}, uuid));
  const pre = h('pre', {class: 'console', id: 'console', tabindex: 0, 'aria-label': 'Build log'});
  const follow = h('button', {class: 'follow primary', hidden: true, type: 'button'},
                   '↓ Follow the log');
  root.append(title, h('div', {class: 'console-head'}, state, result,
    h('a', {href: `#/t/${seg(tenant)}/build/${seg(uuid)}`}, 'Build details'),
    h('a', {href: logUrl(uuid), target: '_blank', rel: 'noopener'}, 'Raw log')), pre, follow);

  let closed = false;
  let socket = null;
  let pending = '';
  let frame = 0;
  let following = true;
  let resultTimer = null;

  const atBottom = () => innerHeight + scrollY >= document.documentElement.scrollHeight - 40;
  const scrollToEnd = () => scrollTo(0, document.documentElement.scrollHeight);
  function onScroll() {
    following = atBottom();
    follow.hidden = following;
  }
  follow.addEventListener('click', () => { following = true; follow.hidden = true; scrollToEnd(); });
  addEventListener('scroll', onScroll, {passive: true});

  function flush() {
    frame = 0;
    if (!pending) return;
    pre.append(pending);
    pending = '';
    if (following) scrollToEnd();
  }
  function write(text) {
    pending += text;
    if (!frame) frame = requestAnimationFrame(flush);
  }
  function setState(text, kind) {
    state.textContent = text;
    pre.dataset.state = kind;
  }

  function showResult(build) {
    const duration = pick(build, 'duration');
    result.replaceChildren(resultBadge(build.result), ' ',
      typeof duration === 'number' ? `in ${formatDuration(duration * 1000)}` : '');
    if (build.job_name) title.firstChild.textContent = `Console: ${build.job_name} `;
  }

  async function fetchBuild() {
    return getJSON(apiUrl(`tenant/${seg(tenant)}/build/${seg(uuid)}`));
  }

  // After the stream ends, the result reaches the build history shortly after: poll briefly.
  function awaitResult(tries = 30) {
    if (closed || tries <= 0) return;
    fetchBuild().then((build) => {
      if (build && build.result) showResult(build);
      else resultTimer = setTimeout(() => awaitResult(tries - 1), 1000);
    }).catch(() => { resultTimer = setTimeout(() => awaitResult(tries - 1), 1000); });
  }

  async function showStored(build) {
    setState('loading the stored log…', 'loading');
    const response = await fetch(logUrl(uuid), {cache: 'no-cache'}).catch(() => null);
    if (closed) return;
    if (!response || !response.ok) {
      setState(`No stored log for this build${response ? ` (HTTP ${response.status})` : ''}.`, 'missing');
      return;
    }
    pre.textContent = await response.text();
    setState('Build finished: stored log', 'stored');
    if (build) showResult(build);
  }

  function stream() {
    setState('connecting…', 'connecting');
    socket = new WebSocket(wsUrl(`tenant/${seg(tenant)}/console-stream`));
    socket.addEventListener('open', () => {
      setState('● streaming live', 'streaming');
      socket.send(JSON.stringify({uuid, logfile: 'console.log'}));
    });
    socket.addEventListener('message', (event) => {
      if (typeof event.data === 'string') write(event.data);
    });
    socket.addEventListener('close', (event) => {
      if (closed) return;
      flush();
      if (event.code === 1000) {
        setState(`Build ended at ${new Date().toLocaleTimeString()}`, 'ended');
        awaitResult();
      } else if (event.code === 4011 && !pre.textContent) {
        showStored(null);
      } else {
        const why = event.reason || CLOSE_REASONS[event.code] || 'connection lost';
        setState(`Stream closed: ${why} (code ${event.code})`, 'error');
        if (event.code === 1006) setBanner(new ApiError('log streamer unreachable', 0, true));
      }
    });
  }

  fetchBuild().then((build) => {
    if (closed) return;
    if (build && build.result) {
      showStored(build);
    } else {
      stream();
    }
  }).catch(() => { if (!closed) stream(); });

  return () => {
    closed = true;
    removeEventListener('scroll', onScroll);
    if (frame) cancelAnimationFrame(frame);
    clearTimeout(resultTimer);
    if (socket) socket.close(1000);
    follow.remove();
  };
}
