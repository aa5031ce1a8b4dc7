// Nodes page: Nodepool's labels (ready / in-use counts) and nodes, from <nodepool_url>api/.
import {apiInfo, getJSON, pageBase} from './api.js';
import {poll, intervalFrom} from './poll.js';
import {formatDuration, h, listOf, pick, toMs} from './util.js';

function count(label, ...names) {
  const value = pick(label, ...names);
  return typeof value === 'number' ? value : Number(value) || 0;
}

function labelCard(label) {
  const name = pick(label, 'name', 'label') || '(unnamed)';
  const cell = (n, text) => h('div', {}, h('b', {}, String(n)), h('span', {class: 'muted'}, text));
  return h('div', {class: 'card', dataset: {label: name}},
    h('h2', {}, name),
    h('div', {class: 'counts'},
      cell(count(label, 'ready'), 'ready'),
      cell(count(label, 'in-use', 'in_use', 'inUse', 'used'), 'in use'),
      cell(count(label, 'total', 'count'), 'total')),
    pick(label, 'min-ready', 'min_ready') !== undefined
      ? h('div', {class: 'muted'}, `min-ready ${pick(label, 'min-ready', 'min_ready')}`) : null);
}

function nodeAge(node, now) {
  const age = pick(node, 'age');
  if (typeof age === 'number') return formatDuration(age * 1000);
  if (typeof age === 'string' && age) return age;
  const since = toMs(pick(node, 'state_time', 'created_time'));
  return since !== null ? formatDuration(now - since) : '';
}

function nodeRow(node, now) {
  const label = pick(node, 'label', 'type');
  const state = String(pick(node, 'state') || 'unknown');
  return h('tr', {dataset: {id: String(pick(node, 'id') ?? '')}},
    h('td', {class: 'mono'}, String(pick(node, 'id') ?? '')),
    h('td', {}, Array.isArray(label) ? label.join(', ') : label || ''),
    h('td', {}, h('span', {class: `state ${state}`}, state)),
    h('td', {class: 'num'}, nodeAge(node, now)),
    h('td', {}, pick(node, 'provider') || ''),
    h('td', {class: 'mono'}, pick(node, 'hostname', 'interface_ip', 'host', 'public_ipv4',
                                  'private_ipv4') || ''),
    h('td', {}, pick(node, 'allocated_to', 'build') || ''),
    h('td', {}, pick(node, 'locked') === true || pick(node, 'locked') === 'locked' ? 'locked' : ''));
}

/** Mount the nodes page; returns the cleanup function. */
export function mount(root, {query}) {
  const cards = h('div', {class: 'cards', id: 'labels'}, h('p', {class: 'muted'}, 'Loading…'));
  const tbody = h('tbody', {});
  const source = h('p', {class: 'muted'});
  root.append(h('h1', {}, 'Nodes'), h('h2', {class: 'sr-title'}, 'Labels'), cards,
    h('h2', {}, 'Nodes'), h('table', {class: 'grid', id: 'nodes'},
      h('thead', {}, h('tr', {}, ['ID', 'Label', 'State', 'Age', 'Provider', 'Host',
                                  'Allocated to', 'Lock'].map((c) => h('th', {scope: 'col'}, c)))),
      tbody), source);

  return poll(async (signal) => {
    const info = await apiInfo();
    const base = new URL((info && info.nodepool_url) || '/nodepool/', pageBase());
    const get = (path) => getJSON(new URL(path, base).toString(), {signal}).catch((err) => {
      err.service = 'Nodepool';
      throw err;
    });
    const [labels, nodes] = await Promise.all([get('api/labels'), get('api/nodes')]);
    const labelList = listOf(labels, 'labels');
    cards.replaceChildren(...(labelList.length ? labelList.map(labelCard)
      : [h('p', {class: 'muted'}, 'No labels configured.')]));
    const now = Date.now();
    const nodeList = listOf(nodes, 'nodes');
    tbody.replaceChildren(...(nodeList.length ? nodeList.map((n) => nodeRow(n, now))
      : [h('tr', {}, h('td', {colspan: 8, class: 'muted'}, 'No nodes.'))]));
    source.textContent = `From ${base.href}api/`;
  }, intervalFrom(query, 5000));
}
