// Status page: every pipeline of a tenant with its change queues, items and job progress.
import {apiUrl, seg, getJSON} from './api.js';
import {poll, intervalFrom} from './poll.js';
import {debounce, formatDuration, h, pick, resultBadge, resultClass, toMs} from './util.js';

/** The label of an item's change: "#12" for a pull request, else a short ref or sha. */
function changeLabel(item) {
  const change = (Array.isArray(item.changes) && item.changes[0]) || item;
  const id = String(pick(change, 'id') || '');
  const number = pick(change, 'number', 'change') ?? (id.includes(',') ? id.split(',')[0] : null);
  if (number !== null && number !== undefined && number !== '') return `#${number}`;
  const ref = String(pick(change, 'ref') || id || '?');
  return /^[0-9a-f]{40}$/.test(ref) ? ref.slice(0, 8) : ref.replace(/^refs\/(heads|tags)\//, '');
}

/** The text a filter matches against: project, change number, id, ref and job names. */
function searchText(item) {
  const change = (Array.isArray(item.changes) && item.changes[0]) || item;
  return [pick(change, 'project', 'project_canonical'), changeLabel(item), item.id,
          pick(change, 'ref'), pick(change, 'url')].filter(Boolean).join(' ').toLowerCase();
}

/** True when `item` matches the filter: "#12" is an exact change, anything else a substring. */
function matches(item, filter) {
  if (!filter) return true;
  if (/^#\d+$/.test(filter)) return changeLabel(item) === filter;
  return searchText(item).includes(filter);
}

function jobLink(tenant, job) {
  const name = job.name || '(unnamed job)';
  if (!job.uuid) return h('span', {class: 'name muted', title: name}, name);
  const started = toMs(job.start_time) !== null || typeof job.elapsed_time === 'number';
  const page = job.result ? 'build' : started ? 'stream' : null;
  if (!page) return h('span', {class: 'name', title: name}, name);
  return h('a', {class: 'name', title: `${name} — ${job.result ? 'build' : 'live log'}`,
                 href: `#/t/${seg(tenant)}/${page}/${seg(job.uuid)}`}, name);
}

function jobProgress(job, now) {
  const start = toMs(job.start_time);
  const elapsed = typeof job.elapsed_time === 'number' ? job.elapsed_time
    : start !== null ? Math.max(0, now - start) : null;
  if (job.result) {
    return [resultBadge(job.result), h('span', {class: 'time'}, formatDuration(elapsed ?? -1))];
  }
  if (elapsed === null) {
    return [h('span', {class: 'result queued'}, 'queued'), h('span', {class: 'time'})];
  }
  const total = typeof job.remaining_time === 'number' ? elapsed + job.remaining_time
    : typeof job.estimated_time === 'number' && job.estimated_time > 0 ? job.estimated_time : null;
  const pct = total ? Math.min(100, Math.round((100 * elapsed) / total)) : null;
  const bar = h('span', {style: `width: ${pct ?? 100}%`});
  const remaining = total ? Math.max(0, total - elapsed) : null;
  return [
    h('div', {class: pct === null ? 'progress indeterminate' : 'progress', role: 'progressbar',
              'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': pct,
              'aria-label': `${job.name} progress`}, bar),
    h('span', {class: 'time', title: `elapsed ${formatDuration(elapsed)}`},
      remaining !== null ? `${formatDuration(remaining)} left` : formatDuration(elapsed)),
  ];
}

function renderItem(tenant, item, ahead, now) {
  const change = (Array.isArray(item.changes) && item.changes[0]) || item;
  const jobs = Array.isArray(item.jobs) ? item.jobs : [];
  const failing = Array.isArray(item.failing_reasons) && item.failing_reasons.length > 0;
  const done = jobs.length > 0 && jobs.every((j) => j.result);
  const dot = failing ? 'failing' : done ? 'ok' : item.active === false ? 'idle' : '';
  const enqueued = toMs(item.enqueue_time);
  const url = pick(change, 'url');
  const project = pick(change, 'project', 'project_canonical') || '';
  const label = changeLabel(item);
  return h('article', {class: ['item', failing && 'failing', item.live === false && 'nonlive']
                         .filter(Boolean).join(' '), dataset: {id: item.id || ''}},
    ahead ? h('div', {class: 'behind'}, '↳ tested on top of ', ahead) : null,
    h('div', {class: 'top'},
      h('span', {class: `dot ${dot}`, title: failing ? item.failing_reasons.join('; ') : ''}),
      url ? h('a', {class: 'change', href: url, target: '_blank', rel: 'noopener'}, label)
        : h('span', {class: 'change'}, label),
      h('span', {class: 'project'}, project),
      h('span', {class: 'meta'},
        enqueued !== null ? `in queue ${formatDuration(now - enqueued)}` : '',
        typeof item.remaining_time === 'number' && item.remaining_time > 0
          ? ` · ETA ${formatDuration(item.remaining_time)}` : '')),
    item.live === false ? h('div', {class: 'behind muted'}, 'not live: included for the items behind') : null,
    jobs.length ? h('ul', {class: 'jobs'}, jobs.map((job) => h('li', {
      class: job.result ? resultClass(job.result) : '', dataset: {job: job.name || ''}},
      h('span', {}, jobLink(tenant, job),
        job.voting === false ? h('span', {class: 'nonvoting'}, '(non-voting)') : null),
      ...jobProgress(job, now))))
      : h('div', {class: 'muted'}, 'waiting for jobs'));
}

function renderPipeline(tenant, pipeline, filter, now) {
  const queues = Array.isArray(pipeline.change_queues) ? pipeline.change_queues : [];
  let total = 0;
  let shown = 0;
  const body = [];
  for (const queue of queues) {
    const heads = Array.isArray(queue.heads) ? queue.heads : [];
    const headEls = [];
    for (const head of heads) {
      const items = Array.isArray(head) ? head : [];
      total += items.length;
      const visible = items.filter((item) => matches(item, filter));
      shown += visible.length;
      if (!visible.length) continue;
      const byId = new Map(items.map((item) => [item.id, item]));
      headEls.push(h('div', {class: 'head'}, visible.map((item) => {
        const ahead = item.item_ahead ? byId.get(item.item_ahead) || {id: item.item_ahead} : null;
        return renderItem(tenant, item, ahead ? changeLabel(ahead) : null, now);
      })));
    }
    if (!headEls.length) continue;
    const named = pipeline.manager === 'dependent' || heads.some((head) => head.length > 1);
    body.push(h('div', {class: 'queue'},
      named && queue.name ? h('div', {class: 'queue-name'}, `Queue: ${queue.name}`) : null,
      headEls));
  }
  const count = filter ? `${shown} of ${total}` : String(total);
  return {total, shown, el: h('section', {class: 'pipeline', 'aria-label': `${pipeline.name} pipeline`,
                                          dataset: {pipeline: pipeline.name || ''}},
    h('header', {}, h('h2', {}, pipeline.name || '(unnamed)'),
      h('span', {class: 'count', title: 'items'}, count)),
    pipeline.description ? h('div', {class: 'desc'}, pipeline.description) : null,
    body.length ? body : h('div', {class: 'empty'}, total ? 'no matching items' : 'empty'))};
}

/** Mount the status page for `tenant` into `root`; returns the cleanup function. */
export function mount(root, {tenant, query}) {
  const initial = query.get('q') || '';
  const input = h('input', {type: 'search', id: 'status-filter', value: initial,
                            placeholder: 'project or change (e.g. org/repo, #12)',
                            'aria-label': 'Filter by project or change'});
  const summary = h('span', {class: 'summary', id: 'status-summary'});
  let board = h('div', {class: 'pipelines', id: 'pipelines'}, h('p', {class: 'muted'}, 'Loading…'));
  root.append(h('div', {class: 'toolbar'}, h('label', {for: 'status-filter'}, 'Filter', input),
                summary), board);
  let data = null;

  function render() {
    if (!data) return;
    const started = performance.now();
    const filter = input.value.trim().toLowerCase();
    const now = Date.now();
    const pipelines = Array.isArray(data.pipelines) ? data.pipelines : [];
    const rendered = pipelines.map((p) => renderPipeline(tenant, p, filter, now));
    const next = h('div', {class: 'pipelines', id: 'pipelines'},
      rendered.length ? rendered.map((r) => r.el) : h('p', {class: 'muted'}, 'No pipelines.'));
    board.replaceWith(next);  // one swap: no flicker, no half-drawn page
    board = next;
    const total = rendered.reduce((n, r) => n + r.total, 0);
    const shown = rendered.reduce((n, r) => n + r.shown, 0);
    summary.textContent = filter ? `${shown} of ${total} items match`
      : `${total} ${total === 1 ? 'item' : 'items'} in queue`;
    board.dataset.renderMs = (performance.now() - started).toFixed(1);
  }

  const onFilter = debounce(() => {
    const value = input.value.trim();
    const params = new URLSearchParams(query);
    if (value) params.set('q', value); else params.delete('q');
    const qs = params.toString();
    history.replaceState(null, '', `#/t/${seg(tenant)}/status${qs ? '?' + qs : ''}`);
    render();
  }, 120);
  input.addEventListener('input', onFilter);

  return poll(async (signal) => {
    data = await getJSON(apiUrl(`tenant/${seg(tenant)}/status`), {signal});
    render();
  }, intervalFrom(query, 5000));
}
