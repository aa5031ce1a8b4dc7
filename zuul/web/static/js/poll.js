// @ts-check
// Periodic refresh that never overlaps itself and pauses while the tab is hidden.
import {setBanner, setUpdated} from './chrome.js';
import {formatTime} from './util.js';

/**
 * Call `load(signal)` now and then every `interval` ms after it finishes, while the page is
 * visible. Failures show the banner; the next success hides it. Returns a stop function.
 */
export function poll(load, interval) {
  let timer = null;
  let controller = null;
  let stopped = false;
  let running = false;

  async function tick() {
    timer = null;
    if (stopped || running) return;
    if (document.hidden) {
      setUpdated('paused while hidden');
      return;
    }
    running = true;
    controller = new AbortController();
    try {
      await load(controller.signal);
      setBanner(null);
      // The tab may have been hidden while this request was in flight.
      setUpdated(document.hidden ? 'paused while hidden'
        : `updated ${formatTime(Date.now()).slice(11)}`);
    } catch (err) {
      if (stopped || (controller && controller.signal.aborted)) return;
      setBanner(err);
    } finally {
      running = false;
      controller = null;
      if (!stopped && !document.hidden) timer = setTimeout(tick, interval);
    }
  }

  function onVisibility() {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
      setUpdated('paused while hidden');
    } else if (!timer && !running) {
      tick();
    }
  }

  document.addEventListener('visibilitychange', onVisibility);
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (controller) controller.abort();
    document.removeEventListener('visibilitychange', onVisibility);
  };
}

/** The refresh interval in ms: `?refresh=<seconds>` in the hash (min 1 s), else `fallback`. */
export function intervalFrom(query, fallback) {
  const seconds = Number(query && query.get('refresh'));
  return seconds >= 1 ? seconds * 1000 : fallback;
}
