// @ts-check
// Build page: details, artifacts, the task summary of job-output.json, a log browser and the
// console. A running build (not in the history yet) is shown from the status, not as an error.
import {apiUrl, getJSON, logUrl, seg} from './api.js';
import {failure} from './page.js';
import {buildFields} from './buildfields.js';
import {runningBuilds} from './builds.js';
import {buildNodes} from './nodes.js';
import {details, extLink, formatDuration, h, listOf, resultBadge, table, thref, timeEl, toMs} from './util.js';

/**
 * Zuul's job-output.json (playbooks -> plays -> tasks -> hosts) as a summary: per playbook its
 * phase, result and counts, and every failed task with its message.
 * @param {any} output
 */
export function taskSummary(output) {
  const playbooks = listOf(output, 'playbooks');
  if (!playbooks.length) return h('p', {class: 'muted'}, 'No playbooks recorded.');
  const failed = [];
  const rows = playbooks.map((pb) => {
    let tasks = 0;
    let bad = 0;
    for (const play of pb.plays || []) {
      for (const task of play.tasks || []) {
        tasks++;
        for (const [host, r] of Object.entries(task.hosts || {})) {
          if (r && (r.failed || r.unreachable) && !r.ignore_errors) {
            bad++;
            failed.push([pb.playbook || '', (task.task && task.task.name) || '', host,
                         String(r.msg || r.stderr || r.rc || '').slice(0, 500)]);
          }
        }
      }
    }
    const stats = Object.values(pb.stats || {});
    const failures = stats.reduce((n, s) => n + (s.failures || 0) + (s.unreachable || 0), 0);
    return [pb.phase || '', h('span', {class: 'mono'}, pb.playbook || ''),
            resultBadge(failures || bad ? 'FAILURE' : 'SUCCESS'), String(tasks)];
  });
  return h('div', {},
    table('playbooks', ['Phase', 'Playbook', 'Result', 'Tasks'], rows),
    failed.length ? [h('h3', {}, 'Failed tasks'),
      table('failed-tasks', ['Playbook', 'Task', 'Host', 'Message'], failed)] : null);
}

/**
 * The files of a build's log directory: zuul-manifest.json when there is one, else the
 * directory index Apache serves (read with the browser's own HTML parser).
 * @param {string} uuid
 * @returns {Promise<string[]>}
 */
async function logFiles(uuid) {
  const manifest = await fetch(logUrl(uuid, 'zuul-manifest.json'), {cache: 'no-cache'}).catch(() => null);
  if (manifest && manifest.ok && /json/.test(manifest.headers.get('content-type') || '')) {
    const out = [];
    const walk = (/** @type {any[]} */ nodes, /** @type {string} */ prefix) => {
      for (const n of nodes || []) {
        if (n.children) walk(n.children, `${prefix}${n.name}/`); else out.push(prefix + n.name);
      }
    };
    walk((await manifest.json()).tree, '');
    return out;
  }
  const index = await fetch(logUrl(uuid, ''), {cache: 'no-cache'}).catch(() => null);
  if (!index || !index.ok || !/html/.test(index.headers.get('content-type') || '')) return [];
  const doc = new DOMParser().parseFromString(await index.text(), 'text/html');
  return [...doc.querySelectorAll('a[href]')].map((a) => a.getAttribute('href') || '')
    .filter((href) => href && !/^[?/]|^\w+:|^\.\./.test(href)).map(decodeURIComponent);
}

/**
 * @param {string} tenant
 * @param {string} uuid
 * @param {any} b  buildFields()
 */
function buildDetails(tenant, uuid, b) {
  const builds = (/** @type {string} */ name, /** @type {string} */ value) => value
    ? h('a', {href: `${thref(tenant, 'builds')}?${new URLSearchParams({[name]: value})}`}, value) : '';
  const running = !b.result;
  return details('build-details', [
    ['Job', b.job ? h('a', {href: thref(tenant, 'job', b.job)}, b.job) : ''],
    ['Result', resultBadge(b.result)],
    ['Project', b.project ? h('a', {href: thref(tenant, 'project', b.project)}, b.project) : ''],
    ['Change', b.change ? [h('a', {href: thref(tenant, 'change', b.change)}, `#${b.change}`), ' ',
                           extLink(b.refUrl, '(review)')] : extLink(b.refUrl)],
    ['Ref', h('span', {class: 'mono'}, b.refName)],
    ['Revision', h('span', {class: 'mono'}, b.newrev || b.patchset)],
    ['Branch', b.branch],
    ['Pipeline', builds('pipeline', b.pipeline)],
    ['Buildset', b.buildset ? h('a', {href: thref(tenant, 'buildset', b.buildset)}, b.buildset) : null],
    ['Voting', b.voting ? 'yes' : 'no'],
    ['Nodes', [b.nodes.join(', '), h('span', {id: 'build-nodes'})]],
    ['Started', timeEl(b.start)],
    ['Ended', running ? 'still running' : timeEl(b.end)],
    ['Duration', formatDuration(b.duration ?? (running && b.start ? Date.now() - b.start : -1))],
    ['Error', b.error || null],
    ['Logs', [h('a', {href: thref(tenant, 'stream', uuid)}, running ? 'Live console' : 'Console'),
              ' · ', h('a', {href: logUrl(uuid), target: '_blank', rel: 'noopener'}, 'raw console.log'),
              b.logUrl ? [' · ', h('a', {href: b.logUrl, target: '_blank', rel: 'noopener'},
                                   'log directory')] : null]],
  ]);
}

/**
 * Link the nodes the build holds now in its details (Nodes row).
 * @param {string} tenant
 * @param {string} uuid
 * @param {AbortSignal} signal
 */
function linkNodes(tenant, uuid, signal) {
  buildNodes(tenant, uuid, signal).then((nodes) => {
    const el = document.getElementById('build-nodes');
    if (!el || !nodes.length) return;
    el.replaceChildren(' (', ...nodes.flatMap((n, i) => [i ? ', ' : '',
      h('a', {href: thref(tenant, 'node', String(n.id))}, `node ${n.id}`)]), ')');
  }).catch(() => { /* nodes are extra: the build page stands without them */ });
}

/**
 * Mount the page of build `arg`; returns the cleanup function.
 * @param {HTMLElement} root
 * @param {{tenant: string, arg: string}} params
 */
export function mount(root, {tenant, arg: uuid}) {
  const body = h('div', {}, h('p', {class: 'muted'}, 'Loading…'));
  const title = h('h1', {}, 'Build ', h('span', {class: 'mono muted'}, uuid));
  root.append(title, body);
  const controller = new AbortController();
  const signal = controller.signal;
  getJSON(apiUrl(`tenant/${seg(tenant)}/build/${seg(uuid)}`), {signal}).then((build) => {
    const b = buildFields(build);
    title.replaceChildren(`Build: ${b.job} `, h('span', {class: 'mono muted'}, uuid));
    const tasks = h('div', {id: 'task-summary'}, h('p', {class: 'muted'}, 'Loading…'));
    const files = h('ul', {id: 'log-files', class: 'files'}, h('li', {class: 'muted'}, 'Loading…'));
    const artifacts = Array.isArray(build.artifacts) ? build.artifacts : [];
    body.replaceChildren(buildDetails(tenant, uuid, b),
      h('h2', {}, 'Artifacts'), artifacts.length
        ? h('ul', {id: 'artifacts'}, artifacts.map((a) => h('li', {}, extLink(
          new URL(String(a.url || ''), logUrl(uuid, '')).href, a.name || a.url))))
        : h('p', {class: 'muted', id: 'artifacts'}, 'No artifacts.'),
      h('h2', {}, 'Task summary'), tasks, h('h2', {}, 'Log files'), files);
    linkNodes(tenant, uuid, signal);
    getJSON(logUrl(uuid, 'job-output.json'), {signal}).then((out) => tasks.replaceChildren(taskSummary(out)))
      .catch(() => tasks.replaceChildren(h('p', {class: 'muted'},
        'No task summary: this build has no job-output.json.')));
    logFiles(uuid).catch(() => []).then((names) => files.replaceChildren(...(names.length ? names.map((n) =>
      h('li', {}, h('a', {href: logUrl(uuid, n.split('/').map(encodeURIComponent).join('/')),
                          target: '_blank', rel: 'noopener'}, n)))
      : [h('li', {}, h('a', {href: logUrl(uuid), target: '_blank', rel: 'noopener'}, 'console.log'))])));
  }).catch(async (err) => {
    if (signal.aborted) return;
    if (err.status !== 404) { body.replaceChildren(failure(err, 'The build')); return; }
    // Not in the history: a running build is in the status.
    const status = await getJSON(apiUrl(`tenant/${seg(tenant)}/status`), {signal}).catch(() => null);
    const running = status ? runningBuilds(status, new URLSearchParams({uuid}))[0] : null;
    if (running) {
      const b = buildFields(running);
      title.replaceChildren(`Build: ${b.job} `, h('span', {class: 'mono muted'}, uuid));
      body.replaceChildren(h('p', {class: 'notice', id: 'build-running'},
        `This build is running (started ${formatDuration(Date.now() - (toMs(running.start_time) || Date.now()))} ago); `,
        'its full record appears when it ends.'), buildDetails(tenant, uuid, b));
      linkNodes(tenant, uuid, signal);
    } else {
      body.replaceChildren(h('p', {class: 'notice', id: 'build-missing'},
        'This build is not in the history (yet): it may be queued or still starting. ',
        h('a', {href: thref(tenant, 'stream', uuid)}, 'Try its live console'), '.'));
    }
  });
  return () => controller.abort();
}
