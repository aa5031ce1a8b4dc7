// @ts-check
// Labels, nodes (with the node requests jobs wait on) and one node: Zuul's tenant routes when
// the API has them, else Nodepool's own API at <nodepool_url>api/ (from /api/info).
import {apiInfo, apiUrl, getJSON, pageBase, seg} from './api.js';
import {failure} from './page.js';
import {poll, intervalFrom} from './poll.js';
import {details, formatDuration, h, listOf, pick, table, thref, timeEl, toMs} from './util.js';

/**
 * GET a Nodepool API path (relative to nodepool_url); errors name Nodepool.
 * @param {string} path
 * @param {AbortSignal} [signal]
 */
async function nodepool(path, signal) {
  const info = await apiInfo();
  const base = new URL((info && info.nodepool_url) || '/nodepool/', pageBase());
  return getJSON(new URL(path, base).toString(), {signal}).catch((err) => {
    err.service = 'Nodepool';
    throw err;
  });
}

/**
 * The tenant route if the API serves it, else Nodepool's.
 * @param {string} tenant
 * @param {string} zuulPath
 * @param {string} nodepoolPath
 * @param {AbortSignal} [signal]
 */
function either(tenant, zuulPath, nodepoolPath, signal) {
  return getJSON(apiUrl(`tenant/${seg(tenant)}/${zuulPath}`), {signal})
    .catch((err) => (err.missing || err.status === 404 ? nodepool(nodepoolPath, signal) : Promise.reject(err)));
}

/**
 * The build a node serves, served or was held for: the uuid Zuul records in the node's
 * ``user_data`` when it takes the node (``build_uuid`` on Zuul's tenant route). Nodepool
 * clears it when the node is freed, so any node still naming one names its build: in use,
 * held, used, and while it is being deleted; a ready or building node names none.
 * @param {any} node
 * @returns {string|null}
 */
export function nodeBuild(node) {
  if (['ready', 'building', 'init'].includes(String(node.state))) return null;
  const uuid = node.build_uuid || (node.user_data && node.user_data.build_uuid);
  return uuid ? String(uuid) : null;
}

/**
 * The nodes a build holds now (released nodes are deleted or ready again, so a finished
 * build has none unless they were held).
 * @param {string} tenant
 * @param {string} uuid
 * @param {AbortSignal} [signal]
 * @returns {Promise<any[]>}
 */
export async function buildNodes(tenant, uuid, signal) {
  const nodes = listOf(await either(tenant, 'nodes', 'api/nodes', signal), 'nodes');
  return nodes.filter((n) => nodeBuild(n) === uuid);
}

/** @param {any} label @param {...string} names */
function count(label, ...names) {
  const value = pick(label, ...names);
  return typeof value === 'number' ? value : Number(value) || 0;
}

/** @param {any} label */
function labelCard(label) {
  const name = pick(label, 'name', 'label') || '(unnamed)';
  const cell = (/** @type {number} */ n, /** @type {string} */ text) =>
    h('div', {}, h('b', {}, String(n)), h('span', {class: 'muted'}, text));
  return h('div', {class: 'card', dataset: {label: name}},
    h('h2', {}, name),
    h('div', {class: 'counts'},
      cell(count(label, 'ready'), 'ready'),
      cell(count(label, 'in-use', 'in_use', 'inUse', 'used'), 'in use'),
      cell(count(label, 'total', 'count'), 'total')),
    pick(label, 'min-ready', 'min_ready') !== undefined
      ? h('div', {class: 'muted'}, `min-ready ${pick(label, 'min-ready', 'min_ready')}`) : null);
}

/** @param {any} node @param {number} now */
function nodeAge(node, now) {
  const age = pick(node, 'age');
  if (typeof age === 'number') return formatDuration(age * 1000);
  if (typeof age === 'string' && age) return age;
  const since = toMs(pick(node, 'state_time', 'created_time'));
  return since !== null ? formatDuration(now - since) : '';
}

/** @param {any} node */
const nodeLabel = (node) => [pick(node, 'label', 'type') || ''].flat().join(', ');

/**
 * @param {HTMLElement} root
 * @param {{tenant: string, query: URLSearchParams}} params
 */
export function mountLabels(root, {tenant, query}) {
  const cards = h('div', {class: 'cards', id: 'labels'}, h('p', {class: 'muted'}, 'Loading…'));
  root.append(h('h1', {}, 'Labels'), cards);
  return poll(async (signal) => {
    const [mine, pool] = await Promise.all([
      getJSON(apiUrl(`tenant/${seg(tenant)}/labels`), {signal}).catch(() => []),
      nodepool('api/labels', signal).catch(() => [])]);
    const counts = new Map(listOf(pool, 'labels').map((l) => [pick(l, 'name', 'label'), l]));
    const names = new Set([...listOf(mine, 'labels').map((l) => l.name || l), ...counts.keys()]);
    cards.replaceChildren(...(names.size ? [...names].map((n) => labelCard(counts.get(n) || {name: n}))
      : [h('p', {class: 'muted'}, 'No labels configured.')]));
  }, intervalFrom(query, 10000));
}

/**
 * @param {HTMLElement} root
 * @param {{tenant: string, query: URLSearchParams}} params
 */
export function mount(root, {tenant, query}) {
  const cards = h('div', {class: 'cards', id: 'labels'}, h('p', {class: 'muted'}, 'Loading…'));
  const nodes = h('div', {});
  const requests = h('div', {});
  const source = h('p', {class: 'muted'});
  root.append(h('h1', {}, 'Nodes'), h('h2', {}, 'Labels'), cards, h('h2', {}, 'Nodes'), nodes,
    h('h2', {}, 'Node requests (what jobs wait for)'), requests, source);
  return poll(async (signal) => {
    const [labels, list, reqs] = await Promise.all([nodepool('api/labels', signal),
      // Nodepool's list has every node (ready ones too); the tenant's is the fallback.
      nodepool('api/nodes', signal).catch(() => getJSON(apiUrl(`tenant/${seg(tenant)}/nodes`), {signal})),
      nodepool('api/requests', signal).catch((err) => (err.missing ? null : Promise.reject(err)))]);
    const labelList = listOf(labels, 'labels');
    cards.replaceChildren(...(labelList.length ? labelList.map(labelCard)
      : [h('p', {class: 'muted'}, 'No labels configured.')]));
    const now = Date.now();
    const rows = listOf(list, 'nodes');
    nodes.replaceChildren(table('nodes', ['ID', 'Label', 'State', 'Age', 'Provider', 'Host',
                                          'Allocated to', 'Lock'], rows.map((n) => {
      const state = String(pick(n, 'state') || 'unknown');
      const locked = pick(n, 'locked');
      return [h('a', {href: thref(tenant, 'node', String(pick(n, 'id') ?? ''))}, String(pick(n, 'id') ?? '')),
        nodeLabel(n), h('span', {class: `state ${state}`}, state), nodeAge(n, now),
        pick(n, 'provider') || '',
        h('span', {class: 'mono'}, pick(n, 'hostname', 'interface_ip', 'public_ipv4', 'private_ipv4') || ''),
        pick(n, 'allocated_to') || '', locked === true || locked === 'locked' ? 'locked' : ''];
    }), (i) => ({id: String(pick(rows[i], 'id') ?? '')}), 'No nodes.'));
    const reqRows = listOf(reqs, 'requests');
    requests.replaceChildren(reqs === null ? h('p', {class: 'muted'}, 'Not available.')
      : table('requests', ['Request', 'State', 'Labels', 'Requestor', 'Nodes', 'Declined by'],
        reqRows.map((r) => [r.id, r.state, [r.node_types || []].flat().join(', '), r.requestor || '',
                            [r.nodes || []].flat().join(', '), [r.declined_by || []].flat().join(', ')]),
        undefined, 'No pending node requests: no job is waiting for nodes.'));
    source.textContent = 'Counts and requests from Nodepool.';
  }, intervalFrom(query, 5000));
}

/**
 * One node.
 * @param {HTMLElement} root
 * @param {{tenant: string, arg: string}} params
 */
export function mountNode(root, {tenant, arg: id}) {
  const body = h('div', {}, h('p', {class: 'muted'}, 'Loading…'));
  root.append(h('h1', {}, 'Node ', h('span', {class: 'mono'}, id)), body);
  const controller = new AbortController();
  // The tenant's node list first (it names the build using the node), then Nodepool's.
  getJSON(apiUrl(`tenant/${seg(tenant)}/nodes`), {signal: controller.signal})
    .then((all) => listOf(all, 'nodes').find((n) => String(n.id) === id) || Promise.reject(new Error('not here')))
    .catch(() => either(tenant, `nodes/${seg(id)}`, `api/node/${seg(id)}`, controller.signal))
    .catch(() => nodepool('api/nodes', controller.signal)
      .then((all) => listOf(all, 'nodes').find((n) => String(n.id) === id) || Promise.reject(
        Object.assign(new Error(`Node ${id} does not exist.`), {status: 404}))))
    .then((n) => {
      const uuid = nodeBuild(n);
      body.replaceChildren(details('node-details', [
        ['Label', nodeLabel(n)], ['State', h('span', {class: `state ${n.state}`}, n.state || '')],
        ['Since', timeEl(pick(n, 'state_time')) || nodeAge(n, Date.now())],
        ['Provider', [pick(n, 'provider'), pick(n, 'pool')].filter(Boolean).join(' / ')],
        ['Host', h('span', {class: 'mono'}, pick(n, 'hostname', 'interface_ip', 'public_ipv4') || '')],
        ['Allocated to request', pick(n, 'allocated_to') || 'none'],
        ['Build', uuid ? h('a', {id: 'node-build', href: thref(tenant, 'build', uuid)}, uuid) : null],
        ['Held for job', n.hold_job ? h('a', {href: thref(tenant, 'job', n.hold_job)}, n.hold_job) : null],
        ['Builds', h('a', {href: `${thref(tenant, 'builds')}?nodeset=${encodeURIComponent(nodeLabel(n))}`},
          `builds on ${nodeLabel(n)} nodes`)],
        ['Comment', n.comment || null],
      ]));
    }).catch((err) => {
      if (controller.signal.aborted) return;
      // Nodepool forgets a deleted node and build history records labels, not node ids: a
      // gone node's build cannot be named, only searched for.
      body.replaceChildren(failure(err, 'The node'), err.status === 404 ? h('p', {id: 'node-gone'},
        'A deleted node is no longer known to Nodepool; the builds that ran on it are in the ',
        h('a', {href: thref(tenant, 'builds')}, 'build history'), '.') : '');
    });
  return () => controller.abort();
}
