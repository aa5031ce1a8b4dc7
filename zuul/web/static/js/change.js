// @ts-check
// Change page: the change's live items (jobs, progress, console links) while it runs, and its
// finished builds from the history; refreshed like the status page.
import {apiUrl, getJSON, seg} from './api.js';
import {isAdmin} from './auth.js';
import {poll, intervalFrom} from './poll.js';
import {renderItem} from './status.js';
import {buildsTable} from './builds.js';
import {h, listOf, pick} from './util.js';

/**
 * @param {HTMLElement} root
 * @param {{tenant: string, arg: string, query: URLSearchParams}} params
 */
export function mount(root, {tenant, arg: change, query}) {
  const live = h('div', {id: 'change-live'}, h('p', {class: 'muted'}, 'Loading…'));
  const history = h('div', {id: 'change-builds'});
  root.append(h('h1', {}, `Change ${change}`), h('h2', {}, 'In the queues now'), live,
              h('h2', {}, 'Builds'), history);
  let admin = false;
  isAdmin(tenant).then((ok) => { admin = ok; });
  const ctx = {tenant, pipeline: '', admin, collapsed: new Set(), watched: new Set(),
               onToggle: () => {}, onWatch: () => {}};
  const number = change.split(',')[0];
  return poll(async (signal) => {
    const [items, builds] = await Promise.all([
      getJSON(apiUrl(`tenant/${seg(tenant)}/status/change/${seg(change)}`), {signal}),
      /^\d+$/.test(number)
        ? getJSON(apiUrl(`tenant/${seg(tenant)}/builds?change=${number}&limit=100`), {signal})
          .catch((err) => (err.missing ? [] : Promise.reject(err)))
        : [],
    ]);
    const list = listOf(items, 'items');
    const now = Date.now();
    live.replaceChildren(...(list.length ? list.map((item) => {
      ctx.pipeline = pick(item, 'pipeline', 'jobs.0.pipeline') || '';
      ctx.admin = admin;
      return h('div', {}, h('div', {class: 'queue-name'}, `Pipeline: ${ctx.pipeline}`),
               renderItem(ctx, item, null, now));
    }) : [h('p', {class: 'muted', id: 'change-idle'}, 'Not in any pipeline now.')]));
    history.replaceChildren(buildsTable(tenant, listOf(builds, 'builds')));
  }, intervalFrom(query, 5000));
}
