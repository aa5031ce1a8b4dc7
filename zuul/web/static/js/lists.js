// @ts-check
// Small list pages: autoholds (with an admin's create and delete), semaphores, components and
// configuration errors.
import {act, actionForm, adminOnly} from './admin.js';
import {pseg, seg} from './api.js';
import {load} from './page.js';
import {h, listOf, pick, table, thref} from './util.js';

/**
 * @param {HTMLElement} root
 * @param {{tenant: string}} params
 */
export function mountAutoholds(root, {tenant}) {
  const body = h('div', {});
  let stop = () => {};
  const refresh = () => {
    stop();
    stop = load(body, `tenant/${seg(tenant)}/autohold`, 'The autohold list', (data) => {
      const rows = listOf(data, 'autoholds');
      return table('autoholds', ['ID', 'Project', 'Job', 'Ref filter', 'Count', 'Reason', 'Hold for', 'Actions'],
        rows.map((a) => [a.id, a.project || '', a.job ? h('a', {href: thref(tenant, 'job', a.job)}, a.job) : '',
          h('span', {class: 'mono'}, a.ref_filter || ''), `${a.current_count ?? 0} of ${a.max_count ?? '?'}`,
          a.reason || '', a.node_expiration ? `${a.node_expiration}s` : 'until deleted',
          adminOnly(tenant, h('button', {type: 'button', class: 'small', 'data-action': 'delete',
            onclick: () => act(`Delete autohold ${a.id}?`, `tenant/${seg(tenant)}/autohold/${seg(a.id)}`,
                               undefined, 'DELETE').then((ok) => ok && refresh())}, 'Delete'))]),
        (i) => ({id: String(rows[i].id)}), 'No autohold requests.');
    });
  };
  root.append(h('h1', {}, 'Autoholds'), body,
    actionForm(tenant, 'autohold', [['project', 'Project'], ['job', 'Job'], ['change', 'Change'],
      ['ref', 'Ref'], ['reason', 'Reason'], ['count', 'Count', '1'], ['node_hold_expiration', 'Hold (s)']],
    'Create autohold', (v) => [`Hold the nodes of the next ${v.count || 1} failed ${v.job} build(s) of ${v.project}?`,
      `tenant/${seg(tenant)}/project/${pseg(v.project || '')}/autohold`,
      {...v, count: Number(v.count || 1), node_hold_expiration: Number(v.node_hold_expiration || 0)}],
    refresh));
  refresh();
  return () => stop();
}

/**
 * @param {HTMLElement} root
 * @param {{tenant: string}} params
 */
export function mountSemaphores(root, {tenant}) {
  const body = h('div', {});
  root.append(h('h1', {}, 'Semaphores'), body);
  return load(body, `tenant/${seg(tenant)}/semaphores`, 'The semaphore list', (data) => {
    const rows = listOf(data, 'semaphores');
    return table('semaphores', ['Name', 'Held', 'Max', 'Holders', 'Global'], rows.map((s) => {
      const holders = pick(s, 'holders.this_tenant') || [];
      return [s.name, String(pick(s, 'holders.count') ?? holders.length), String(s.max ?? ''),
        holders.map((/** @type {any} */ x, /** @type {number} */ i) => [i ? ', ' : '',
          x.buildset_uuid ? h('a', {href: thref(tenant, 'buildset', x.buildset_uuid)}, x.job_name || x.buildset_uuid)
            : x.job_name || String(x)]),
        s.global ? 'yes' : 'no'];
    }), (i) => ({name: rows[i].name}), 'No semaphores.');
  });
}

/**
 * @param {HTMLElement} root
 * @param {{tenant: string}} _params
 */
export function mountComponents(root, _params) {
  const body = h('div', {});
  root.append(h('h1', {}, 'Components'), body);
  return load(body, 'components', 'The component registry', (data) => {
    const rows = Object.entries(data || {}).flatMap(([kind, list]) =>
      (Array.isArray(list) ? list : []).map((c) => [kind, c.hostname || '', h('span', {class: `state ${c.state}`}, c.state || ''),
                                                    c.version || '']));
    return table('components', ['Kind', 'Host', 'State', 'Version'], rows, undefined, 'No components registered.');
  });
}

/**
 * @param {HTMLElement} root
 * @param {{tenant: string}} params
 */
export function mountErrors(root, {tenant}) {
  const body = h('div', {});
  root.append(h('h1', {}, 'Configuration errors'), body);
  return load(body, `tenant/${seg(tenant)}/config-errors`, 'The configuration error list', (data) => {
    const rows = listOf(data, 'errors');
    if (!rows.length) return h('p', {id: 'config-errors-none'}, 'No configuration errors.');
    return h('ol', {class: 'errors', id: 'config-error-list'}, rows.map((e) => {
      const ctx = e.source_context || {};
      return h('li', {class: 'panel'},
        h('h2', {}, [ctx.project, ctx.branch, ctx.path].filter(Boolean).join(' · ') || 'configuration',
          e.severity ? h('span', {class: `state ${e.severity}`}, ` ${e.severity}`) : null),
        e.short_error ? h('p', {}, e.short_error) : null,
        h('pre', {class: 'error-text'}, e.error || ''));
    }));
  });
}
