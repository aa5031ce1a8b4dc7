// @ts-check
// Status page: pipelines, change queues, items and job progress. A refresh reconciles the DOM
// by key (pipeline name, queue name, item id): unchanged items keep their nodes, so focus,
// scroll and screen reader position survive, and 1,000 items refresh in a few ms.
import {apiUrl, seg, getJSON, takePrefetch} from './api.js';
import {isAdmin} from './auth.js';
import {notify} from './chrome.js';
import {reconcile} from './page.js';
import {poll, intervalFrom} from './poll.js';
import {debounce, firstChange, formatDuration, h, pick, resultBadge, resultClass, thref, toMs, input as inputEl} from './util.js';


/**
 * The change number of an item ("12" from id "12,abc..."), or null for a ref.
 * @param {any} item
 */
export function changeNumber(item) {
  const change = firstChange(item);
  const id = String(pick(change, 'id') || '');
  const number = pick(change, 'number', 'change') ?? (id.includes(',') ? id.split(',')[0] : null);
  return number === null || number === undefined || number === '' ? null : String(number);
}

/**
 * The label of an item's change: "#12" for a pull request, else a short ref or sha.
 * @param {any} item
 */
export function changeLabel(item) {
  const number = changeNumber(item);
  if (number !== null) return `#${number}`;
  const change = firstChange(item);
  const ref = String(pick(change, 'ref') || pick(change, 'id') || '?');
  return /^[0-9a-f]{40}$/.test(ref) ? ref.slice(0, 8) : ref.replace(/^refs\/(heads|tags)\//, '');
}

/**
 * Parse the filter: "project:x pipeline:y queue:z job:j change:12" plus free words.
 * @param {string} text
 */
export function parseFilter(text) {
  /** @type {Record<string, string[]>} */
  const terms = {any: [], project: [], pipeline: [], queue: [], job: [], change: []};
  for (const word of text.toLowerCase().split(/\s+/).filter(Boolean)) {
    const m = /^(project|pipeline|queue|job|change):(.*)$/.exec(word);
    if (m && m[2]) terms[m[1]].push(m[1] === 'change' ? m[2].replace(/^#/, '') : m[2]);
    else if (/^#\d+$/.test(word)) terms.change.push(word.slice(1));
    else terms.any.push(word);
  }
  return terms;
}

/**
 * True when `item` (in `pipeline`/`queue`) matches every term of the filter.
 * @param {any} item
 * @param {string} pipeline
 * @param {string} queue
 * @param {Record<string, string[]>} f
 */
export function matches(item, pipeline, queue, f) {
  if (!f.any.length && !f.project.length && !f.pipeline.length && !f.queue.length
      && !f.job.length && !f.change.length) return true;
  const change = firstChange(item);
  const project = String(pick(change, 'project', 'project_canonical') || '').toLowerCase();
  const jobs = (Array.isArray(item.jobs) ? item.jobs : []).map((j) => String(j.name).toLowerCase());
  const number = changeNumber(item);
  const text = [project, changeLabel(item), pick(change, 'id'), pick(change, 'ref'), pipeline, queue,
                ...jobs].join(' ').toLowerCase();
  return f.project.every((t) => project.includes(t))
    && f.pipeline.every((t) => pipeline.toLowerCase().includes(t))
    && f.queue.every((t) => queue.toLowerCase().includes(t))
    && f.job.every((t) => jobs.some((j) => j.includes(t)))
    && f.change.every((t) => number === t)
    && f.any.every((t) => text.includes(t));
}

/**
 * @param {string} tenant
 * @param {any} job
 * @param {string} fk
 */
function jobLink(tenant, job, fk) {
  const name = job.name || '(unnamed job)';
  if (!job.uuid) return h('span', {class: 'name', title: name}, name);
  const started = toMs(job.start_time) !== null || typeof job.elapsed_time === 'number';
  const page = job.result ? 'build' : started ? 'stream' : null;
  if (!page) return h('span', {class: 'name', title: name}, name);
  return h('a', {class: 'name', title: `${name}: ${job.result ? 'build' : 'live log'}`,
                 href: thref(tenant, page, job.uuid), dataset: {fk}}, name);
}

/**
 * The progress bar and time of a job; past its estimate a running job is "overdue".
 * @param {any} job
 * @param {number} now
 */
export function jobProgress(job, now) {
  const start = toMs(job.start_time);
  const elapsed = typeof job.elapsed_time === 'number' ? job.elapsed_time
    : start !== null ? Math.max(0, now - start) : null;
  if (job.result) {
    return [resultBadge(job.result), h('span', {class: 'time'}, formatDuration(elapsed ?? -1))];
  }
  if (elapsed === null) {
    const why = job.waiting_status || (job.node_labels ? `nodes: ${[job.node_labels].flat().join(', ')}` : '');
    return [h('span', {class: 'result queued', title: why ? `waiting for ${why}` : null}, 'queued'),
            h('span', {class: 'time waiting'}, why ? `waiting: ${why}` : '')];
  }
  // Zuul clamps remaining_time at 0 past the estimate: then the estimate tells by how much.
  const estimate = typeof job.estimated_time === 'number' && job.estimated_time > 0 ? job.estimated_time : null;
  const total = typeof job.remaining_time === 'number' && job.remaining_time > 0
    ? elapsed + job.remaining_time : estimate ?? (typeof job.remaining_time === 'number' ? elapsed : null);
  const pct = total ? Math.min(100, Math.round((100 * elapsed) / total)) : null;
  const remaining = total ? total - elapsed : null;
  const overdue = remaining !== null && remaining <= 0;
  return [
    h('div', {class: `progress${pct === null ? ' indeterminate' : ''}${overdue ? ' overdue' : ''}`,
              role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100,
              'aria-valuenow': pct, 'aria-label': `${job.name} progress`},
      h('span', {css: {width: `${pct ?? 100}%`}})),
    h('span', {class: 'time', title: `elapsed ${formatDuration(elapsed)}`},
      overdue ? `overdue ${formatDuration(-(remaining ?? 0))}`
        : remaining !== null ? `${formatDuration(remaining)} left` : formatDuration(elapsed)),
  ];
}

/**
 * @typedef {{tenant: string, pipeline: string, admin: boolean, collapsed: Set<string>,
 *            watched: Set<string>, onToggle: (id: string) => void, onWatch: (id: string) => void,
 *            actions?: typeof import('./admin.js').itemActions}} Ctx
 */

/**
 * One item card.
 * @param {Ctx} ctx
 * @param {any} item
 * @param {string|null} ahead
 * @param {number} now
 */
export function renderItem(ctx, item, ahead, now) {
  const {tenant} = ctx;
  const id = String(item.id || '');
  const change = firstChange(item);
  const jobs = Array.isArray(item.jobs) ? item.jobs : [];
  const failing = Array.isArray(item.failing_reasons) && item.failing_reasons.length > 0;
  const done = jobs.length > 0 && jobs.every((j) => j.result);
  const dot = failing ? 'failing' : done ? 'ok' : item.active === false ? 'idle' : '';
  const project = pick(change, 'project', 'project_canonical') || '';
  const label = changeLabel(item);
  const number = changeNumber(item);
  const collapsed = ctx.collapsed.has(id);
  const watched = ctx.watched.has(id);
  const enq = toMs(item.enqueue_time);
  const jobsId = `jobs-${id.replace(/[^\w-]/g, '_')}`;
  return h('article', {class: ['item', failing && 'failing', item.live === false && 'nonlive',
                               collapsed && 'collapsed'].filter(Boolean).join(' '),
                       dataset: {id, change: String(pick(change, 'id') || '')}},
    ahead ? h('div', {class: 'behind'}, '↳ tested on top of ', ahead) : null,
    h('div', {class: 'top'},
      h('button', {type: 'button', class: 'toggle', 'aria-expanded': String(!collapsed),
                   'aria-controls': jobsId, 'aria-label': `Jobs of ${label}`,
                   dataset: {fk: `${id}:toggle`}, onclick: () => ctx.onToggle(id)},
        collapsed ? '▸' : '▾'),
      h('span', {class: `dot ${dot}`, title: failing ? item.failing_reasons.join('; ') : null}),
      typeof pick(change, 'url') === 'string' && /^https?:/.test(pick(change, 'url'))
        ? h('a', {class: 'change', href: pick(change, 'url'), target: '_blank',
                  rel: 'noopener noreferrer', dataset: {fk: `${id}:change`}}, label)
        : h('span', {class: 'change'}, label),
      h('span', {class: 'project'}, project),
      h('span', {class: 'meta'}, h('span', {class: 'age'}, ageText(enq, now)),
        typeof item.remaining_time === 'number' && item.remaining_time > 0
          ? ` · ETA ${formatDuration(item.remaining_time)}` : '')),
    item.live === false ? h('div', {class: 'behind muted'}, 'not live: included for the items behind') : null,
    h('div', {class: 'links'},
      number !== null ? h('a', {href: thref(tenant, 'change', number), dataset: {fk: `${id}:page`}},
                          'change page') : null,
      h('button', {type: 'button', class: 'watch small', 'aria-pressed': String(watched),
                   dataset: {fk: `${id}:watch`}, onclick: () => ctx.onWatch(id)},
        watched ? 'Watching' : 'Watch'),
      ctx.admin && ctx.actions ? ctx.actions(tenant, ctx.pipeline, item, {
        project, number, newrev: String(pick(change, 'id') || '').split(',')[1], ref: pick(change, 'ref')}) : null),
    h('ul', {class: 'jobs', id: jobsId, hidden: collapsed},
      jobs.length ? jobs.map((job) => h('li', {
        class: job.result ? resultClass(job.result) : '', dataset: {job: job.name || ''}},
        h('span', {}, jobLink(tenant, job, `${id}:${job.name}`),
          job.voting === false ? h('span', {class: 'nonvoting'}, '(non-voting)') : null),
        ...jobProgress(job, now)))
        : h('li', {class: 'muted'}, 'waiting for jobs')));
}

/**
 * @param {number|null} enq
 * @param {number} now
 */
const ageText = (enq, now) => {
  if (enq === null || enq === undefined) return '';
  const ms = now - enq;  // to the minute past one minute: the text changes rarely
  return `in queue ${formatDuration(ms < 60000 ? ms : Math.floor(ms / 60000) * 60000)}`;
};

/**
 * What an item that left the board ended as, for the "recently finished" trail.
 * @param {any} item
 */
function outcome(item) {
  const jobs = Array.isArray(item.jobs) ? item.jobs : [];
  if (Array.isArray(item.failing_reasons) && item.failing_reasons.length) return 'FAILURE';
  if (jobs.length && jobs.every((j) => j.result)) {
    return jobs.every((j) => j.result === 'SUCCESS' || j.voting === false) ? 'SUCCESS' : 'FAILURE';
  }
  return 'DEQUEUED';
}

const WATCH_KEY = 'zuul.watched';

/**
 * Mount the status page for `tenant` into `root`; returns the cleanup function.
 * @param {HTMLElement} root
 * @param {{tenant: string, query: URLSearchParams}} params
 */
export function mount(root, {tenant, query}) {
  const input = inputEl({type: 'search', id: 'status-filter', value: query.get('q') || '',
    placeholder: 'e.g. org/repo  #12  pipeline:gate  job:tox  queue:integrated',
    'aria-describedby': 'filter-help'});
  const empty = inputEl({type: 'checkbox', id: 'show-empty', checked: query.get('empty') === '1'});
  const summary = h('span', {class: 'summary', id: 'status-summary'});
  const recent = h('ol', {class: 'recent', id: 'recent'});
  const board = h('div', {class: 'pipelines', id: 'pipelines'}, h('p', {class: 'muted'}, 'Loading…'));
  /** @type {Set<string>} */
  const collapsed = new Set();
  /** @type {Set<string>} */
  const watched = new Set(JSON.parse(localStorage.getItem(WATCH_KEY) || '[]'));
  /** @type {Map<string, {pipeline: string, item: any, label?: string, project?: string}>} */
  let seen = new Map();
  /** @type {{label: string, project: string, pipeline: string, result: string, at: number}[]} */
  const finished = [];
  let admin = false;
  /** @type {any} */
  let data = null;

  const setAll = (/** @type {boolean} */ collapse) => {
    collapsed.clear();
    if (collapse) for (const id of seen.keys()) collapsed.add(id);
    render();
  };
  root.append(h('h1', {class: 'sr-only'}, `Status of ${tenant}`),
    h('div', {class: 'toolbar'},
      h('label', {for: 'status-filter'}, 'Filter', input),
      h('label', {for: 'show-empty', class: 'check'}, empty, 'Show empty pipelines'),
      h('button', {type: 'button', onclick: () => setAll(false)}, 'Expand all'),
      h('button', {type: 'button', onclick: () => setAll(true)}, 'Collapse all'),
      summary),
    h('p', {id: 'filter-help', class: 'help'},
      'Words match project, change, ref, pipeline, queue or job; narrow with project:, change:, ',
      'pipeline:, queue:, job:.'),
    board,
    h('section', {class: 'panel', 'aria-labelledby': 'recent-title'},
      h('h2', {id: 'recent-title'}, 'Recently finished'), recent));

  /** @type {Ctx} */
  const ctx = {
    tenant, pipeline: '', admin, collapsed, watched,
    onToggle: (id) => { if (!collapsed.delete(id)) collapsed.add(id); render(); },
    onWatch: (id) => {
      if (!watched.delete(id)) {
        watched.add(id);
        if ('Notification' in window && Notification.permission === 'default') {
          Notification.requestPermission();
        }
      }
      localStorage.setItem(WATCH_KEY, JSON.stringify([...watched]));
      render();
    },
  };

  /** Items gone since the last refresh go to the trail; watched ones notify. */
  function trail(/** @type {Map<string, any>} */ now) {
    for (const [id, old] of seen) {
      if (now.has(id)) continue;
      const result = outcome(old.item);
      // label and project computed only for items that left (not for every item each refresh)
      Object.assign(old, {label: changeLabel(old.item), project: pick(firstChange(old.item), 'project') || ''});
      finished.unshift({label: old.label, project: old.project, pipeline: old.pipeline, result,
                        at: Date.now()});
      if (watched.delete(id)) {
        localStorage.setItem(WATCH_KEY, JSON.stringify([...watched]));
        const text = `${old.project} ${old.label} finished in ${old.pipeline}: ${result}`;
        notify(text);
        if ('Notification' in window && Notification.permission === 'granted') {
          new Notification('Zuul', {body: text});
        }
      }
    }
    finished.length = Math.min(finished.length, 10);
    recent.replaceChildren(...(finished.length ? finished.map((f) => h('li', {},
      resultBadge(f.result), ' ', h('b', {}, f.label), ` ${f.project} in ${f.pipeline} `,
      h('span', {class: 'muted'}, new Date(f.at).toISOString().slice(11, 19) + ' UTC')))
      : [h('li', {class: 'muted'}, 'Nothing has finished since this page was opened.')]));
  }

  /** A render pass that creates the cards not drawn yet (progressive first render). */
  let more = 0;
  /** Cards a pass may create: the first screenful at once, then bigger slices. */
  const FIRST_SLICE = 24;  // cards are at least ~120 px: a 2,160 px tall window shows 18
  const SLICE = 250;

  function render() {
    if (!data) return;
    clearTimeout(more);
    const started = performance.now();
    const budget = {left: seen.size || board.querySelector('.item') ? SLICE : FIRST_SLICE, skipped: 0};
    const filter = parseFilter(input.value.trim());
    const now = Date.now();
    const pipelines = Array.isArray(data.pipelines) ? data.pipelines : [];
    let total = 0;
    let shown = 0;
    /** @type {Map<string, any>} */
    const present = new Map();
    const layout = pipelines.map((p) => {
      const name = String(p.name || '');
      const queues = (Array.isArray(p.change_queues) ? p.change_queues : []).map((q, qi) => {
        const heads = Array.isArray(q.heads) ? q.heads : [];
        const all = heads.flat();
        const byId = new Map(all.map((item) => [item.id, item]));
        /** @type {any[]} */
        const items = [];
        for (const head of heads) {
          (Array.isArray(head) ? head : []).forEach((item, i) => {
            total++;
            present.set(String(item.id), {item, pipeline: name});
            if (!matches(item, name, String(q.name || ''), filter)) return;
            shown++;
            const ahead = item.item_ahead ? byId.get(item.item_ahead) || {id: item.item_ahead} : null;
            items.push({item, ahead: ahead ? changeLabel(ahead) : null, headStart: i === 0});
          });
        }
        return {key: `${qi}:${q.name || ''}`, name: q.name, items,
                named: p.manager === 'dependent' || heads.some((hd) => hd.length > 1)};
      });
      const count = queues.reduce((n, q) => n + q.items.length, 0);
      const all = (Array.isArray(p.change_queues) ? p.change_queues : [])
        .reduce((n, q) => n + (q.heads || []).flat().length, 0);
      return {name, p, queues, count, all};
    });
    const filtering = Object.values(filter).some((t) => t.length);
    /** @type {any[]} */
    const itemEls = [];
    const visible = layout.filter((l) => l.count > 0 || (!filtering && empty.checked));
    if (!visible.length) {
      board.replaceChildren(h('p', {class: 'muted', id: 'no-items'},
        filtering ? 'No items match the filter.'
          : `No items in any pipeline (${layout.length} empty; tick "Show empty pipelines").`));
      /** @type {any} */ (board)._keyed = null;
    } else {
      reconcile(board, visible.map((l) => [l.name, String(l.p.description || ''), () =>
        h('section', {class: 'pipeline', 'aria-label': `${l.name} pipeline`,
                      dataset: {pipeline: l.name}},
          h('header', {}, h('h2', {}, l.name || '(unnamed)'), h('span', {class: 'count'})),
          l.p.description ? h('div', {class: 'desc'}, l.p.description) : null,
          h('div', {class: 'queues'}), h('div', {class: 'empty'}, 'empty'))]));
      for (const l of visible) {
        const section = /** @type {any} */ (board)._keyed.get(l.name).el;
        const countText = filtering ? `${l.count} of ${l.all}` : String(l.all);
        const countEl = section.querySelector('.count');
        if (countEl.textContent !== countText) countEl.textContent = countText;
        section.querySelector('.empty').hidden = l.count > 0;
        ctx.pipeline = l.name;
        ctx.admin = admin;
        const queues = l.queues.filter((q) => q.items.length);
        const queuesEl = section._queues || (section._queues = section.querySelector('.queues'));
        reconcile(queuesEl, queues.map((q) => [q.key,
          q.named && q.name ? String(q.name) : '', () => h('div', {class: 'queue'},
            q.named && q.name ? h('div', {class: 'queue-name'}, `Queue: ${q.name}`) : null,
            h('div', {class: 'head'}))]), {left: budget.left, skipped: 0});
        for (const q of queues) {
          const queueEntry = queuesEl._keyed.get(q.key);
          if (!queueEntry) { budget.skipped += q.items.length; continue; }
          const queueEl = queueEntry.el;
          const list = queueEl._head || (queueEl._head = queueEl.querySelector('.head'));
          reconcile(list, q.items.map(({item, ahead, headStart}) => [String(item.id),
            [item, ahead, headStart, admin, collapsed.has(item.id), watched.has(item.id)],
            () => {
              const el = /** @type {any} */ (renderItem(ctx, item, ahead, now));
              if (headStart) el.classList.add('head-start');
              el._enq = toMs(item.enqueue_time);
              el._age = el.querySelector('.age');
              return el;
            }]), budget);
          for (const entry of list._keyed.values()) itemEls.push(entry.el);
        }
      }
    }
    for (const el of itemEls) {
      const text = ageText(el._enq, now);
      if (el._age.textContent !== text) el._age.textContent = text;
    }
    if (seen.size || present.size) trail(present);
    seen = present;
    const text = filtering ? `${shown} of ${total} items match`
      : `${total} ${total === 1 ? 'item' : 'items'} in queue`;
    if (summary.textContent !== text) summary.textContent = text;
    board.dataset.renderMs = (performance.now() - started).toFixed(1);
    if (!performance.getEntriesByName('zuul-first-status').length) performance.mark('zuul-first-status');
    // Cards left for later passes: drawn in slices between frames, so the first screen shows
    // at once and the page stays responsive while a long queue fills in.
    if (budget.skipped) more = setTimeout(render, 0);
    else if (!performance.getEntriesByName('zuul-status-complete').length) {
      performance.mark('zuul-status-complete');
    }
    board.dataset.complete = String(!budget.skipped);
  }

  const onFilter = debounce(() => {
    const params = new URLSearchParams(query);
    const value = input.value.trim();
    if (value) params.set('q', value); else params.delete('q');
    if (empty.checked) params.set('empty', '1'); else params.delete('empty');
    const qs = params.toString();
    history.replaceState(null, '', `${thref(tenant, 'status')}${qs ? '?' + qs : ''}`);
    render();
  }, 120);
  input.addEventListener('input', onFilter);
  empty.addEventListener('change', onFilter);
  // The admin buttons' module is loaded only for an admin: not on the first status's path.
  isAdmin(tenant).then((ok) => (ok ? import('./admin.js') : null)).then((m) => {
    if (!m) return;
    ctx.actions = m.itemActions;
    admin = true;
    render();
  });

  const stop = poll(async (signal) => {
    const url = apiUrl(`tenant/${seg(tenant)}/status`);
    data = await (takePrefetch(url, signal) || getJSON(url, {signal}));
    render();
  }, intervalFrom(query, 5000));
  return () => { clearTimeout(more); stop(); };
}
