// @ts-check
// Admin actions (enqueue, dequeue, promote, re-enqueue, autohold): shown only to an admin of
// the tenant, each confirmed first, each answer shown in the status region.
import {apiUrl, getJSON, pseg, seg} from './api.js';
import {token, isAdmin} from './auth.js';
import {confirmDialog, notify} from './chrome.js';
import {h} from './util.js';

/**
 * Reveal `el` (created hidden) once the user is known to administer `tenant`.
 * @param {string} tenant
 * @param {HTMLElement} el
 */
export function adminOnly(tenant, el) {
  el.hidden = true;
  el.classList.add('admin');
  isAdmin(tenant).then((ok) => { el.hidden = !ok; });
  return el;
}

/**
 * Confirm, then call an admin route; the answer (or error) is announced.
 * @param {string} question
 * @param {string} path  API path under api/
 * @param {any} body
 * @param {string} [method]
 * @returns {Promise<boolean>} whether it was done
 */
export async function act(question, path, body, method = 'POST') {
  if (!await confirmDialog(question)) return false;
  try {
    const answer = await getJSON(apiUrl(path), {method, body, token: token()});
    notify(`Done: ${question.replace(/\?$/, '')}.${answer && answer.id ? ` (id ${answer.id})` : ''}`);
    return true;
  } catch (err) {
    notify(`Failed: ${err instanceof Error ? err.message : err}`, 'error');
    return false;
  }
}

/**
 * The admin buttons of a status item: dequeue, re-enqueue, promote (dependent pipelines).
 * @param {string} tenant
 * @param {string} pipeline
 * @param {any} item
 * @param {any} change
 */
export function itemActions(tenant, pipeline, item, change) {
  const project = String(change.project || '');
  const number = change.number ?? change.change;
  const spec = number !== undefined && number !== null
    ? `${number}${change.newrev || change.patchset ? ',' + (change.newrev || change.patchset) : ''}`
    : null;
  const what = spec ? `change ${spec.split(',')[0]} of ${project}` : `${change.ref} of ${project}`;
  const target = spec ? {change: spec} : {ref: change.ref, newrev: change.newrev, oldrev: change.oldrev};
  const base = `tenant/${seg(tenant)}/project/${pseg(project)}`;
  const button = (/** @type {string} */ label, /** @type {() => void} */ fn) =>
    h('button', {type: 'button', class: 'small', onclick: fn, 'data-action': label}, label);
  return adminOnly(tenant, h('div', {class: 'actions'},
    button('Dequeue', () => act(`Dequeue ${what} from ${pipeline}?`, `${base}/dequeue`,
                                {pipeline, ...target})),
    button('Re-enqueue', () => act(`Re-enqueue ${what} into ${pipeline}?`, `${base}/enqueue`,
                                   {pipeline, ...target})),
    spec ? button('Promote', () => act(`Promote ${what} to the head of ${pipeline}?`,
                                       `tenant/${seg(tenant)}/promote`,
                                       {pipeline, changes: [spec]})) : null));
}

/**
 * A form that posts its fields (empty ones left out) after confirmation.
 * @param {string} tenant
 * @param {string} id
 * @param {[string, string, string?][]} fields  name, label, default
 * @param {string} submit
 * @param {(values: Record<string, any>) => [string, string, any]} request  question, path, body
 * @param {() => void} [done]
 */
export function actionForm(tenant, id, fields, submit, request, done) {
  const form = h('form', {class: 'toolbar', id},
    fields.map(([name, label, value]) => h('label', {for: `${id}-${name}`}, label,
      h('input', {type: 'text', name, id: `${id}-${name}`, value: value || ''}))),
    h('button', {type: 'submit', class: 'primary'}, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    /** @type {Record<string, any>} */
    const values = {};
    for (const [name] of fields) {
      const v = /** @type {HTMLInputElement} */ (form.querySelector(`[name="${name}"]`)).value.trim();
      if (v) values[name] = v;
    }
    const [question, path, body] = request(values);
    if (await act(question, path, body) && done) done();
  });
  return adminOnly(tenant, h('section', {class: 'panel'}, h('h2', {}, submit), form));
}
