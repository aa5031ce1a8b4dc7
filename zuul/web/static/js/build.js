// Build page: one build's details and links to its console and logs.
import {apiUrl, getJSON, logUrl, seg} from './api.js';
import {setBanner} from './chrome.js';
import {buildFields} from './buildfields.js';
import {formatDuration, formatTime, h, resultBadge} from './util.js';

function row(label, ...value) {
  return h('tr', {}, h('th', {scope: 'row'}, label), h('td', {}, ...value));
}

/** Mount the page of build `arg`; returns the cleanup function. */
export function mount(root, {tenant, arg: uuid}) {
  const body = h('div', {}, h('p', {class: 'muted'}, 'Loading…'));
  root.append(h('h1', {}, 'Build ', h('span', {class: 'mono muted'}, uuid)), body);
  const controller = new AbortController();
  getJSON(apiUrl(`tenant/${seg(tenant)}/build/${seg(uuid)}`), {signal: controller.signal})
    .then((build) => {
      const b = buildFields(build);
      const builds = (name, value) => h('a', {
        href: `#/t/${seg(tenant)}/builds?${new URLSearchParams({[name]: value})}`}, value);
      const consoleHref = `#/t/${seg(tenant)}/stream/${seg(uuid)}`;
      body.replaceChildren(h('table', {class: 'details', id: 'build-details'},
        row('Job', b.job ? builds('job_name', b.job) : ''),
        row('Result', b.result ? resultBadge(b.result) : h('span', {class: 'result running'}, 'RUNNING')),
        row('Project', b.project ? builds('project', b.project) : ''),
        row('Change', b.refUrl ? h('a', {href: b.refUrl, target: '_blank', rel: 'noopener'},
                                   b.change ? `#${b.change}` : b.refUrl)
          : (b.change ? `#${b.change}` : '')),
        row('Ref', h('span', {class: 'mono'}, b.refName)),
        row('Revision', h('span', {class: 'mono'}, b.newrev || b.patchset)),
        row('Branch', b.branch),
        row('Pipeline', b.pipeline ? builds('pipeline', b.pipeline) : ''),
        row('Voting', b.voting ? 'yes' : 'no'),
        row('Nodes', b.nodes.join(', ')),
        row('Started', formatTime(b.start)),
        row('Ended', formatTime(b.end)),
        row('Duration', formatDuration(b.duration ?? -1)),
        b.error ? row('Error', b.error) : null,
        row('Logs', h('a', {href: consoleHref}, b.result ? 'Console log' : 'Live console'), ' · ',
            h('a', {href: logUrl(uuid), target: '_blank', rel: 'noopener'}, 'raw console.log'),
            b.logUrl ? [' · ', h('a', {href: b.logUrl, target: '_blank', rel: 'noopener'},
                                 'log directory')] : null)));
    })
    .catch((err) => {
      if (controller.signal.aborted) return;
      setBanner(err);
      body.replaceChildren(h('p', {}, err.status === 404 ? 'No such build (yet). ' : '',
        h('a', {href: `#/t/${seg(tenant)}/stream/${seg(uuid)}`}, 'Try its live console'), '.'));
    });
  return () => controller.abort();
}
