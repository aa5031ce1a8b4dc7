// @ts-check
// Buildset page: its refs and result, a timeline of its builds and the builds themselves.
import {failure, load} from './page.js';
import {buildsTable} from './builds.js';
import {seg} from './api.js';
import {details, extLink, formatDuration, h, resultBadge, resultClass, thref, timeEl, toMs} from './util.js';

/**
 * One bar per build, placed on a shared time axis (start to end of the buildset).
 * @param {string} tenant
 * @param {any[]} builds
 */
export function timeline(tenant, builds) {
  const spans = builds.map((b) => ({b, start: toMs(b.start_time), end: toMs(b.end_time) ?? Date.now()}))
    .filter((s) => s.start !== null).sort((a, z) => Number(a.start) - Number(z.start));
  if (!spans.length) return h('p', {class: 'muted'}, 'No build has started.');
  const min = Math.min(...spans.map((s) => Number(s.start)));
  const max = Math.max(...spans.map((s) => s.end), min + 1000);
  const pct = (/** @type {number} */ t) => `${((100 * (t - min)) / (max - min)).toFixed(2)}%`;
  return h('ol', {class: 'timeline', id: 'timeline', 'aria-label': `Timeline over ${formatDuration(max - min)}`},
    spans.map(({b, start, end}) => h('li', {},
      h('a', {href: thref(tenant, b.result ? 'build' : 'stream', b.uuid)}, b.job_name || b.uuid),
      h('span', {class: 'track'}, h('span', {class: `bar ${b.result ? resultClass(b.result) : 'running'}`,
        css: {left: pct(Number(start)), width: `max(2px, calc(${pct(end)} - ${pct(Number(start))}))`},
        title: `${b.result || 'RUNNING'} ${formatDuration(end - Number(start))}`})),
      h('span', {class: 'time'}, formatDuration(end - Number(start))))));
}

/**
 * @param {HTMLElement} root
 * @param {{tenant: string, arg: string}} params
 */
export function mount(root, {tenant, arg: uuid}) {
  const body = h('div', {});
  root.append(h('h1', {}, 'Buildset ', h('span', {class: 'mono muted'}, uuid)), body);
  return load(body, `tenant/${seg(tenant)}/buildset/${seg(uuid)}`, 'The buildset', (bs) => {
    const refs = Array.isArray(bs.refs) ? bs.refs : [bs];
    const builds = Array.isArray(bs.builds) ? bs.builds : [];
    return h('div', {},
      details('buildset-details', [
        ['Result', bs.result ? resultBadge(bs.result) : 'in progress'],
        ['Pipeline', bs.pipeline || ''],
        ['Changes', refs.map((r) => h('div', {}, r.project || '', ' ',
          r.change ? h('a', {href: thref(tenant, 'change', r.change)}, `#${r.change}`) : r.ref || '',
          ' ', extLink(r.ref_url, '(review)')))],
        ['Message', bs.message || ''],
        ['Event', bs.event_id || ''],
        ['First build started', timeEl(bs.first_build_start_time)],
        ['Last build ended', timeEl(bs.last_build_end_time)],
      ]),
      h('h2', {}, 'Timeline'), timeline(tenant, builds),
      h('h2', {}, 'Builds'), buildsTable(tenant, builds));
  }, (err) => (err.missing ? failure(err, 'The buildset page') : null));
}
