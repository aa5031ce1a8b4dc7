// @ts-check
// Jobs list and job page: variants (branches, parent, nodeset, dependencies), recent results
// with the failure rate, and an admin's autohold form.
import {actionForm} from './admin.js';
import {apiUrl, getJSON, pseg, seg} from './api.js';
import {failure, load} from './page.js';
import {dependencies} from './projects.js';
import {buildsTable} from './builds.js';
import {debounce, details, h, listOf, table, thref} from './util.js';

/**
 * @param {HTMLElement} root
 * @param {{tenant: string, query: URLSearchParams}} params
 */
export function mountList(root, {tenant, query}) {
  const body = h('div', {});
  const input = h('input', {type: 'search', id: 'jobs-filter', value: query.get('q') || ''});
  root.append(h('h1', {}, 'Jobs'),
    h('div', {class: 'toolbar'}, h('label', {for: 'jobs-filter'}, 'Filter by name', input)), body);
  /** @type {any[]} */
  let jobs = [];
  const render = () => {
    const q = /** @type {HTMLInputElement} */ (input).value.trim().toLowerCase();
    const rows = jobs.filter((j) => String(j.name).toLowerCase().includes(q));
    body.replaceChildren(table('jobs', ['Job', 'Description', 'Variants'], rows.map((j) => [
      h('a', {href: thref(tenant, 'job', j.name)}, j.name), j.description || '',
      String(Array.isArray(j.variants) ? j.variants.length || 1 : 1)]),
    (i) => ({name: rows[i].name}), 'No jobs match.'));
  };
  input.addEventListener('input', debounce(render, 120));
  return load(body, `tenant/${seg(tenant)}/jobs`, 'The job list', (data) => {
    jobs = listOf(data, 'jobs');
    render();
    return body.firstChild;
  });
}

/**
 * One variant of a job as a definition table.
 * @param {string} tenant
 * @param {any} v
 * @param {number} i
 */
function variant(tenant, v, i) {
  const ctx = v.source_context || {};
  const deps = dependencies(v);
  const nodeset = v.nodeset && typeof v.nodeset === 'object'
    ? (v.nodeset.nodes || []).map((/** @type {any} */ n) => `${n.name}: ${n.label}`).join(', ')
    : String(v.nodeset || '');
  return h('section', {class: 'panel variant'}, h('h2', {}, `Variant ${i + 1}`),
    details(`variant-${i}`, [
      ['Description', v.description || ''],
      ['Branches', (v.branches || []).join(', ') || 'all'],
      ['Parent', v.parent ? h('a', {href: thref(tenant, 'job', v.parent)}, v.parent) : 'base'],
      ['Depends on', deps.length ? deps.map((d, j) => [j ? ', ' : '',
        h('a', {href: thref(tenant, 'job', d.name)}, d.name), d.soft ? ' (soft)' : '']) : 'nothing'],
      ['Nodeset', nodeset],
      ['Voting', v.voting === false ? 'no' : 'yes'],
      ['Timeout', v.timeout ? `${v.timeout}s` : ''],
      ['Run', [v.run || []].flat().map((r) => (typeof r === 'string' ? r : r.path)).join(', ')],
      ['Defined in', [ctx.project, ctx.branch, ctx.path].filter(Boolean).join(' · ')],
    ]));
}

/**
 * @param {HTMLElement} root
 * @param {{tenant: string, arg: string}} params
 */
export function mount(root, {tenant, arg: name}) {
  const body = h('div', {});
  const recent = h('div', {id: 'job-builds'}, h('p', {class: 'muted'}, 'Loading…'));
  const rate = h('p', {id: 'failure-rate'});
  root.append(h('h1', {}, 'Job ', h('span', {class: 'mono'}, name)), body,
    h('h2', {}, 'Recent results'), rate, recent,
    actionForm(tenant, 'autohold', [['project', 'Project'], ['change', 'Change'], ['ref', 'Ref'],
      ['reason', 'Reason'], ['count', 'Count', '1']], 'Autohold',
    (v) => [`Hold the nodes of the next ${v.count || 1} failed ${name} build(s) of ${v.project}?`,
      `tenant/${seg(tenant)}/project/${pseg(v.project || '')}/autohold`,
      {job: name, change: v.change, ref: v.ref, reason: v.reason || 'held from the dashboard',
       count: Number(v.count || 1)}]));
  const stop = load(body, `tenant/${seg(tenant)}/job/${seg(name)}`, 'The job', (data) => {
    const variants = listOf(data, 'variants');
    return h('div', {id: 'variants'}, variants.map((v, i) => variant(tenant, v, i)));
  });
  const controller = new AbortController();
  getJSON(apiUrl(`tenant/${seg(tenant)}/builds?job_name=${encodeURIComponent(name)}&limit=50`),
          {signal: controller.signal}).then((data) => {
    const builds = listOf(data, 'builds');
    const done = builds.filter((b) => b.result && !['SKIPPED', 'ABORTED', 'CANCELED'].includes(b.result));
    const failed = done.filter((b) => b.result !== 'SUCCESS').length;
    rate.textContent = done.length
      ? `Failure rate: ${Math.round((100 * failed) / done.length)}% (${failed} of the last ${done.length} finished builds)`
      : 'No finished builds yet.';
    recent.replaceChildren(buildsTable(tenant, builds.slice(0, 20)));
  }).catch((err) => { if (!controller.signal.aborted) recent.replaceChildren(failure(err, 'The build history')); });
  return () => { stop(); controller.abort(); };
}
