// Builds page: the build history with the API's filters and paging.
import {apiUrl, getJSON, seg} from './api.js';
import {setBanner, setUpdated} from './chrome.js';
import {buildFields} from './buildfields.js';
import {formatDuration, formatTime, h, listOf, resultBadge} from './util.js';

const FILTERS = [['project', 'Project'], ['pipeline', 'Pipeline'], ['job_name', 'Job'],
                 ['result', 'Result']];
const RESULTS = ['', 'SUCCESS', 'FAILURE', 'POST_FAILURE', 'TIMED_OUT', 'NODE_FAILURE',
                 'RETRY_LIMIT', 'ERROR', 'ABORTED', 'CANCELED', 'SKIPPED'];
const PAGE_SIZE = 50;

function filterForm(tenant, query) {
  const fields = FILTERS.map(([name, label]) => {
    const value = query.get(name) || '';
    const control = name === 'result'
      ? h('select', {name, id: `filter-${name}`},
          RESULTS.map((r) => h('option', {value: r, selected: r === value}, r || 'any')))
      : h('input', {type: 'text', name, id: `filter-${name}`, value});
    return h('label', {for: `filter-${name}`}, label, control);
  });
  const form = h('form', {class: 'toolbar', role: 'search'}, fields,
                 h('button', {type: 'submit', class: 'primary'}, 'Filter'),
                 h('button', {type: 'reset'}, 'Clear'));
  const go = (params) => {
    location.hash = `#/t/${seg(tenant)}/builds${params.toString() ? '?' + params : ''}`;
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [name] of FILTERS) {
      const value = form.elements[name].value.trim();
      if (value) params.set(name, value);
    }
    go(params);
  });
  form.addEventListener('reset', (event) => { event.preventDefault(); go(new URLSearchParams()); });
  return form;
}

function buildRow(tenant, build) {
  const b = buildFields(build);
  const link = (text) => b.uuid ? h('a', {href: `#/t/${seg(tenant)}/build/${seg(b.uuid)}`}, text)
    : text;
  const change = b.change ? `#${b.change}` : b.refName.replace(/^refs\/(heads|tags)\//, '');
  return h('tr', {dataset: {uuid: b.uuid}},
    h('td', {}, link(b.job || '(unnamed)'), b.voting ? null : h('span', {class: 'muted'}, ' (nv)')),
    h('td', {}, b.project),
    h('td', {}, b.refUrl ? h('a', {href: b.refUrl, target: '_blank', rel: 'noopener'}, change)
      : change),
    h('td', {}, b.branch),
    h('td', {}, b.pipeline),
    h('td', {}, b.result ? resultBadge(b.result) : h('span', {class: 'result running'}, 'RUNNING')),
    h('td', {}, formatTime(b.start)),
    h('td', {class: 'num'}, formatDuration(b.duration ?? -1)));
}

/** Mount the builds page; returns the cleanup function. */
export function mount(root, {tenant, query}) {
  const skip = Math.max(0, parseInt(query.get('skip') || '0', 10) || 0);
  const table = h('tbody', {}, h('tr', {}, h('td', {colspan: 8, class: 'muted'}, 'Loading…')));
  const pager = h('div', {class: 'pager'});
  root.append(h('h1', {}, 'Builds'), filterForm(tenant, query),
    h('table', {class: 'grid', id: 'builds'},
      h('thead', {}, h('tr', {}, ['Job', 'Project', 'Change', 'Branch', 'Pipeline', 'Result',
                                  'Start', 'Duration'].map((c) => h('th', {scope: 'col'}, c)))),
      table), pager);

  const params = new URLSearchParams();
  for (const [name] of FILTERS) if (query.get(name)) params.set(name, query.get(name));
  params.set('limit', String(PAGE_SIZE));
  params.set('skip', String(skip));
  const controller = new AbortController();
  getJSON(apiUrl(`tenant/${seg(tenant)}/builds?${params}`), {signal: controller.signal})
    .then((data) => {
      const builds = listOf(data, 'builds');
      table.replaceChildren(...(builds.length ? builds.map((b) => buildRow(tenant, b))
        : [h('tr', {}, h('td', {colspan: 8, class: 'muted'}, 'No builds match.'))]));
      const page = (offset) => {
        const next = new URLSearchParams(query);
        next.set('skip', String(offset));
        return `#/t/${seg(tenant)}/builds?${next}`;
      };
      pager.replaceChildren(
        skip > 0 ? h('a', {class: 'button', href: page(Math.max(0, skip - PAGE_SIZE))}, '← Newer')
          : h('button', {disabled: true}, '← Newer'),
        h('span', {class: 'muted'}, builds.length
          ? `builds ${skip + 1}–${skip + builds.length}` : ''),
        builds.length >= PAGE_SIZE ? h('a', {class: 'button', href: page(skip + PAGE_SIZE)}, 'Older →')
          : h('button', {disabled: true}, 'Older →'));
      setUpdated(`loaded ${new Date().toLocaleTimeString()}`);
    })
    .catch((err) => {
      if (controller.signal.aborted) return;
      setBanner(err);
      table.replaceChildren(h('tr', {}, h('td', {colspan: 8, class: 'muted'}, 'Could not load builds.')));
    });
  return () => controller.abort();
}
