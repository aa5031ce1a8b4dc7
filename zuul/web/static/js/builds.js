// @ts-check
// Builds and buildsets pages: the history with every filter of the API and paging. The first
// page of builds also lists the running builds from the status (the history has only ended ones).
import {apiUrl, getJSON, seg} from './api.js';
import {setBanner} from './chrome.js';
import {buildFields} from './buildfields.js';
import {failure} from './page.js';
import {extLink, firstChange, formatDuration, h, listOf, pick, resultBadge, table, thref, timeEl, toMs} from './util.js';

const BUILD_FILTERS = [['project', 'Project'], ['pipeline', 'Pipeline'], ['job_name', 'Job'],
  ['change', 'Change'], ['branch', 'Branch'], ['ref', 'Ref'], ['patchset', 'Patchset'],
  ['newrev', 'Revision'], ['uuid', 'Build'], ['nodeset', 'Nodeset'], ['voting', 'Voting'],
  ['result', 'Result']];
const BUILDSET_FILTERS = [['project', 'Project'], ['pipeline', 'Pipeline'], ['change', 'Change'],
  ['branch', 'Branch'], ['ref', 'Ref'], ['newrev', 'Revision'], ['uuid', 'Buildset'],
  ['result', 'Result']];
const RESULTS = ['', 'SUCCESS', 'FAILURE', 'POST_FAILURE', 'TIMED_OUT', 'NODE_FAILURE',
                 'RETRY_LIMIT', 'ERROR', 'ABORTED', 'CANCELED', 'SKIPPED', 'MERGE_CONFLICT'];
const PAGE_SIZE = 50;

/**
 * The filter form; submitting puts the filters in the URL.
 * @param {string} tenant
 * @param {string} page
 * @param {string[][]} filters
 * @param {URLSearchParams} query
 */
function filterForm(tenant, page, filters, query) {
  const fields = filters.map(([name, label]) => {
    const value = query.get(name) || '';
    const id = `filter-${name}`;
    const control = name === 'result'
      ? h('select', {name, id}, RESULTS.map((r) => h('option', {value: r, selected: r === value}, r || 'any')))
      : name === 'voting'
        ? h('select', {name, id}, [['', 'any'], ['1', 'voting'], ['0', 'non-voting']]
          .map(([v, t]) => h('option', {value: v, selected: v === value}, t)))
        : h('input', {type: 'text', name, id, value, size: 12});
    return h('label', {for: id}, label, control);
  });
  const form = h('form', {class: 'toolbar filters', role: 'search', 'aria-label': 'Filters'}, fields,
                 h('button', {type: 'submit', class: 'primary'}, 'Filter'),
                 h('button', {type: 'reset'}, 'Clear'));
  const go = (/** @type {URLSearchParams} */ params) => {
    location.hash = `${thref(tenant, page)}${params.toString() ? '?' + params : ''}`;
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [name] of filters) {
      const el = /** @type {HTMLInputElement} */ (form.querySelector(`[name="${name}"]`));
      if (el.value.trim()) params.set(name, el.value.trim());
    }
    go(params);
  });
  form.addEventListener('reset', (event) => { event.preventDefault(); go(new URLSearchParams()); });
  // On a phone the dozen fields fold away unless a filter is set.
  const active = filters.some(([name]) => query.get(name));
  return h('details', {class: 'filter-box', open: active || matchMedia('(min-width: 641px)').matches},
    h('summary', {}, active ? `Filters (${filters.filter(([n]) => query.get(n)).length} set)` : 'Filters'),
    form);
}

/**
 * The builds as a table (cards on phones).
 * @param {string} tenant
 * @param {any[]} builds
 */
export function buildsTable(tenant, builds) {
  const fields = builds.map(buildFields);
  return table('builds', ['Job', 'Project', 'Change', 'Branch', 'Pipeline', 'Result', 'Start',
                          'Duration'],
    fields.map((b) => {
      const change = b.change ? `#${b.change}` : b.refName.replace(/^refs\/(heads|tags)\//, '');
      const page = b.result ? 'build' : 'stream';
      return [
        [b.uuid ? h('a', {href: thref(tenant, page, b.uuid)}, b.job || '(unnamed)') : b.job,
         b.voting ? null : h('span', {class: 'muted'}, ' (nv)')],
        b.project, b.refUrl ? extLink(b.refUrl, change) : change, b.branch, b.pipeline,
        resultBadge(b.result), timeEl(b.start),
        formatDuration(b.duration ?? (b.start !== null && !b.result ? Date.now() - b.start : -1))];
    }), (i) => ({uuid: fields[i].uuid}), 'No builds match.');
}

/**
 * Running builds from status.json as build records, filtered like the history.
 * @param {any} status
 * @param {URLSearchParams} query
 */
export function runningBuilds(status, query) {
  const out = [];
  for (const p of listOf(status, 'pipelines')) {
    for (const q of p.change_queues || []) {
      for (const item of (q.heads || []).flat()) {
        const change = firstChange(item);
        const [number, sha] = String(change.id || '').split(',');
        for (const job of item.jobs || []) {
          if (!job.uuid || job.result || toMs(job.start_time) === null) continue;
          const b = {uuid: job.uuid, job_name: job.name, result: null, voting: job.voting,
                     project: change.project, pipeline: p.name, branch: change.branch,
                     change: sha ? number : undefined, newrev: sha, ref: change.ref,
                     ref_url: change.url, start_time: job.start_time};
          const ok = BUILD_FILTERS.every(([k]) => {
            const want = query.get(k);
            if (!want || k === 'skip') return true;
            if (k === 'result') return false;
            if (k === 'voting') return (want === '1') === (job.voting !== false);
            const have = /** @type {any} */ (b)[k];
            return have !== undefined && String(have) === want;
          });
          if (ok) out.push(b);
        }
      }
    }
  }
  return out;
}

/**
 * Pager links for a list page.
 * @param {string} tenant
 * @param {string} page
 * @param {URLSearchParams} query
 * @param {number} skip
 * @param {number} count
 */
function pager(tenant, page, query, skip, count) {
  const to = (/** @type {number} */ offset) => {
    const next = new URLSearchParams(query);
    next.set('skip', String(offset));
    return `${thref(tenant, page)}?${next}`;
  };
  return h('div', {class: 'pager'},
    skip > 0 ? h('a', {class: 'button', href: to(Math.max(0, skip - PAGE_SIZE))}, '← Newer')
      : h('button', {disabled: true}, '← Newer'),
    h('span', {class: 'muted'}, count ? `${skip + 1}–${skip + count}` : ''),
    count >= PAGE_SIZE ? h('a', {class: 'button', href: to(skip + PAGE_SIZE)}, 'Older →')
      : h('button', {disabled: true}, 'Older →'));
}

/**
 * A list page: form, table, pager.
 * @param {HTMLElement} root
 * @param {string} tenant
 * @param {URLSearchParams} query
 * @param {{page: string, title: string, filters: string[][], route: string, what: string,
 *          render: (rows: any[], extra: any[]) => HTMLElement, extra?: () => Promise<any[]>}} spec
 */
function listPage(root, tenant, query, spec) {
  const skip = Math.max(0, parseInt(query.get('skip') || '0', 10) || 0);
  const body = h('div', {}, h('p', {class: 'muted'}, 'Loading…'));
  root.append(h('h1', {}, spec.title), filterForm(tenant, spec.page, spec.filters, query), body);
  const params = new URLSearchParams();
  for (const [name] of spec.filters) if (query.get(name)) params.set(name, String(query.get(name)));
  params.set('limit', String(PAGE_SIZE));
  params.set('skip', String(skip));
  const controller = new AbortController();
  Promise.all([getJSON(apiUrl(`tenant/${seg(tenant)}/${spec.route}?${params}`), {signal: controller.signal}),
               skip === 0 && spec.extra ? spec.extra().catch(() => []) : []])
    .then(([data, extra]) => {
      const rows = listOf(data, spec.route);
      body.replaceChildren(spec.render(rows, extra), pager(tenant, spec.page, query, skip, rows.length));
    }).catch((err) => {
      if (controller.signal.aborted) return;
      if (err.unreachable) setBanner(err);
      body.replaceChildren(failure(err, spec.what));
    });
  return () => controller.abort();
}

/**
 * Mount the builds page; returns the cleanup function.
 * @param {HTMLElement} root
 * @param {{tenant: string, query: URLSearchParams}} params
 */
export function mount(root, {tenant, query}) {
  return listPage(root, tenant, query, {
    page: 'builds', title: 'Builds', filters: BUILD_FILTERS, route: 'builds', what: 'The build history',
    extra: () => getJSON(apiUrl(`tenant/${seg(tenant)}/status`)).then((s) => runningBuilds(s, query)),
    render: (rows, running) => buildsTable(tenant, [...running, ...rows]),
  });
}

/**
 * The buildsets page.
 * @param {HTMLElement} root
 * @param {{tenant: string, query: URLSearchParams}} params
 */
export function mountBuildsets(root, {tenant, query}) {
  return listPage(root, tenant, query, {
    page: 'buildsets', title: 'Buildsets', filters: BUILDSET_FILTERS, route: 'buildsets',
    what: 'The buildset history',
    render: (rows) => table('buildsets', ['Project', 'Change', 'Branch', 'Pipeline', 'Result',
                                          'Start', 'Duration'],
      rows.map((bs) => {
        const ref = (Array.isArray(bs.refs) && bs.refs[0]) || bs;
        const start = toMs(bs.first_build_start_time);
        const end = toMs(bs.last_build_end_time);
        const change = ref.change ? `#${ref.change}` : String(ref.ref || '').replace(/^refs\/(heads|tags)\//, '');
        return [h('a', {href: thref(tenant, 'buildset', bs.uuid)}, ref.project || bs.uuid),
                extLink(ref.ref_url, change), ref.branch || '', bs.pipeline || '',
                bs.result ? resultBadge(bs.result) : h('span', {class: 'result queued'}, 'IN PROGRESS'),
                timeEl(start), start !== null && end !== null ? formatDuration(end - start) : ''];
      }), (i) => ({uuid: String(pick(rows[i], 'uuid') || '')}), 'No buildsets match.'),
  });
}
