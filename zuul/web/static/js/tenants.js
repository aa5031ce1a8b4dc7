// @ts-check
// Tenant list; with a single tenant, go straight to its status page.
import {apiUrl, getJSON, seg} from './api.js';
import {setBanner} from './chrome.js';
import {h, listOf} from './util.js';

/** Mount the tenant list; returns the cleanup function. */
export function mount(root, {query}) {
  const list = h('ul', {class: 'tenants', id: 'tenants'}, h('li', {class: 'muted'}, 'Loading…'));
  root.append(h('h1', {}, 'Tenants'), list);
  const controller = new AbortController();
  getJSON(apiUrl('tenants'), {signal: controller.signal}).then((data) => {
    const tenants = listOf(data, 'tenants').map((t) => (typeof t === 'string' ? {name: t} : t));
    if (tenants.length === 1 && !query.has('all') && location.hash !== '#/tenants') {
      location.replace(`#/t/${seg(tenants[0].name)}/status`);
      return;
    }
    list.replaceChildren(...(tenants.length ? tenants.map((t) => h('li', {class: 'card'},
      h('h2', {}, h('a', {href: `#/t/${seg(t.name)}/status`}, t.name)),
      h('div', {class: 'muted'},
        typeof t.projects === 'number' ? `${t.projects} projects` : '',
        typeof t.queue === 'number' ? ` · ${t.queue} items queued` : ''),
      h('div', {}, h('a', {href: `#/t/${seg(t.name)}/builds`}, 'builds'), ' · ',
        h('a', {href: `#/t/${seg(t.name)}/nodes`}, 'nodes'))))
      : [h('li', {class: 'muted'}, 'No tenants configured.')]));
  }).catch((err) => {
    if (controller.signal.aborted) return;
    setBanner(err);
    list.replaceChildren(h('li', {class: 'muted'}, 'Could not load the tenant list.'));
  });
  return () => controller.abort();
}
