// @ts-check
// Reading a build record of /api/tenant/{t}/builds defensively: flat (older Zuul) or nested
// under `ref`/`buildset` (newer Zuul), with missing fields left empty.
import {pick, toMs} from './util.js';

/** Node labels from a nodeset given as "a,b", a list, or {nodes: [{label}]}. */
function nodeLabels(nodeset) {
  if (typeof nodeset === 'string') return nodeset.split(',').filter(Boolean);
  const nodes = Array.isArray(nodeset) ? nodeset : pick(nodeset, 'nodes') || [];
  return nodes.map((n) => (typeof n === 'string' ? n : pick(n, 'label') || '')).filter(Boolean);
}

/** The fields the dashboard shows for one build. */
export function buildFields(build) {
  const ref = build.ref && typeof build.ref === 'object' ? build.ref : {};
  const start = toMs(pick(build, 'start_time'));
  const end = toMs(pick(build, 'end_time'));
  let duration = pick(build, 'duration');
  duration = typeof duration === 'number' ? duration * 1000
    : start !== null && end !== null ? end - start : null;
  const change = pick(build, 'change', 'ref.change');
  return {
    uuid: build.uuid || '',
    job: pick(build, 'job_name', 'job') || '',
    result: build.result || null,
    project: pick(build, 'project', 'ref.project') || '',
    branch: pick(build, 'branch', 'ref.branch') || '',
    change: change !== undefined ? String(change) : '',
    patchset: pick(build, 'patchset', 'ref.patchset') || '',
    refName: typeof build.ref === 'string' ? build.ref : pick(ref, 'ref') || '',
    newrev: pick(build, 'newrev', 'ref.newrev') || '',
    refUrl: pick(build, 'ref_url', 'ref.ref_url') || '',
    pipeline: pick(build, 'pipeline', 'buildset.pipeline') || '',
    buildset: pick(build, 'buildset.uuid', 'buildset_uuid') || '',
    start, end, duration,
    voting: build.voting !== false,
    logUrl: pick(build, 'log_url') || '',
    error: pick(build, 'error_detail', 'error') || '',
    nodes: nodeLabels(build.nodeset),
  };
}
