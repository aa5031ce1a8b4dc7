// @ts-check
// Projects list and project page: its pipelines, their jobs as a dependency graph (jobs in
// columns by depth, each naming what it needs), and an admin's enqueue form.
import {actionForm} from './admin.js';
import {pseg, seg} from './api.js';
import {load} from './page.js';
import {h, listOf, table, thref} from './util.js';

/**
 * @param {HTMLElement} root
 * @param {{tenant: string}} params
 */
export function mountList(root, {tenant}) {
  const body = h('div', {});
  root.append(h('h1', {}, 'Projects'), body);
  return load(body, `tenant/${seg(tenant)}/projects`, 'The project list', (data) => {
    const rows = listOf(data, 'projects');
    return table('projects', ['Project', 'Connection', 'Type'], rows.map((p) => [
      h('a', {href: thref(tenant, 'project', p.name)}, p.name), p.connection_name || '', p.type || '']),
    (i) => ({name: rows[i].name}), 'No projects.');
  });
}

/**
 * The dependency names of a job variant: strings or {name, soft}.
 * @param {any} job
 * @returns {{name: string, soft: boolean}[]}
 */
export function dependencies(job) {
  const deps = job && Array.isArray(job.dependencies) ? job.dependencies : [];
  return deps.map((d) => (typeof d === 'string' ? {name: d, soft: false}
    : {name: String(d.name), soft: Boolean(d.soft)}));
}

/**
 * Jobs laid out by depth: a job sits one column right of the deepest job it needs.
 * @param {string} tenant
 * @param {any[]} jobs  job variants (name, dependencies)
 * @param {string} id
 */
export function jobGraph(tenant, jobs, id) {
  const byName = new Map(jobs.map((j) => [String(j.name), j]));
  /** @type {Map<string, number>} */
  const depth = new Map();
  const visit = (/** @type {string} */ name, /** @type {Set<string>} */ path) => {
    if (depth.has(name)) return /** @type {number} */ (depth.get(name));
    if (path.has(name)) return 0;  // a cycle: the config is wrong, show it flat
    path.add(name);
    const deps = dependencies(byName.get(name)).filter((d) => byName.has(d.name));
    const d = deps.length ? 1 + Math.max(...deps.map((x) => visit(x.name, path))) : 0;
    path.delete(name);
    depth.set(name, d);
    return d;
  };
  for (const name of byName.keys()) visit(name, new Set());
  /** @type {string[][]} */
  const columns = [];
  for (const [name, d] of depth) (columns[d] = columns[d] || []).push(name);
  /** Reverse edges: job -> the jobs that need it. @type {Map<string, string[]>} */
  const neededBy = new Map();
  for (const name of byName.keys()) {
    for (const d of dependencies(byName.get(name))) neededBy.set(d.name, [...(neededBy.get(d.name) || []), name]);
  }
  const jobLink = (/** @type {string} */ name) => h('a', {href: thref(tenant, 'job', name)}, name);
  return h('div', {class: 'graph', id, role: 'list', 'aria-label': 'Job graph'},
    columns.map((names, level) => h('div', {class: 'level', role: 'listitem'},
      h('div', {class: 'level-name'}, level ? `stage ${level + 1}` : 'first'),
      names.map((name) => {
        const deps = dependencies(byName.get(name));
        const after = neededBy.get(name) || [];
        // Each edge is named on both of its ends: "needs" (with soft marked) and "then".
        return h('div', {class: 'node', dataset: {job: name, needs: deps.map((d) => d.name).join(' ')}},
          jobLink(name),
          deps.length ? h('div', {class: 'needs'}, '← needs ',
            deps.map((d, i) => [i ? ', ' : '', jobLink(d.name), d.soft ? ' (soft)' : ''])) : null,
          after.length ? h('div', {class: 'needs then'}, '→ then ',
            after.map((n, i) => [i ? ', ' : '', jobLink(n)])) : null);
      }))));
}

/**
 * @param {HTMLElement} root
 * @param {{tenant: string, arg: string}} params
 */
export function mount(root, {tenant, arg: name}) {
  const body = h('div', {});
  root.append(h('h1', {}, 'Project ', h('span', {class: 'mono'}, name)), body);
  return load(body, `tenant/${seg(tenant)}/project/${pseg(name)}`,
    'The project page', (project) => {
      const configs = Array.isArray(project.configs) ? project.configs : [];
      const pipelines = configs.flatMap((c) => c.pipelines || []);
      return h('div', {},
        h('p', {}, h('a', {href: `${thref(tenant, 'builds')}?project=${encodeURIComponent(name)}`},
          'Builds of this project'), ' · ',
          h('a', {href: `${thref(tenant, 'buildsets')}?project=${encodeURIComponent(name)}`}, 'Buildsets')),
        configs.length ? h('p', {class: 'muted'}, `Merge mode: ${configs[0].merge_mode || '?'} · `,
          `default branch: ${configs[0].default_branch || '?'}`,
          configs[0].queue_name ? ` · queue: ${configs[0].queue_name}` : '') : null,
        pipelines.length ? pipelines.map((p) => h('section', {class: 'panel', dataset: {pipeline: p.name}},
          h('h2', {}, `${p.name}${p.queue_name ? ` (queue ${p.queue_name})` : ''}`),
          jobGraph(tenant, (p.jobs || []).map((variants) => [variants].flat()[0]).filter(Boolean),
                   `graph-${p.name}`)))
          : h('p', {class: 'muted'}, 'This project runs no jobs.'),
        actionForm(tenant, 'enqueue', [['pipeline', 'Pipeline', pipelines[0] ? pipelines[0].name : ''],
          ['change', 'Change (N or N,sha)'], ['ref', 'or ref'], ['newrev', 'new revision']],
        'Enqueue', (v) => [`Enqueue ${v.change ? 'change ' + v.change : v.ref} of ${name} into ${v.pipeline}?`,
          `tenant/${seg(tenant)}/project/${pseg(name)}/enqueue`, v]));
    });
}
