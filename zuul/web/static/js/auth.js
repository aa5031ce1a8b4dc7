// @ts-check
// Signing in for admin actions: a pasted bearer token, or OpenID Connect (authorization code
// with PKCE) when /api/info's auth realm names a provider. The token lives in sessionStorage.
import {apiInfo, apiUrl, getJSON, pageBase, seg} from './api.js';
import {confirmDialog, notify} from './chrome.js';
import {h} from './util.js';

const TOKEN = 'zuul.token';
const PENDING = 'zuul.oidc';

/** The current token, or null. */
export function token() {
  try { return sessionStorage.getItem(TOKEN); } catch { return null; }
}

/** @param {string|null} value */
function store(value) {
  try {
    if (value) sessionStorage.setItem(TOKEN, value); else sessionStorage.removeItem(TOKEN);
  } catch { /* storage disabled: signed in for this page only */ }
  cache.clear();
  window.dispatchEvent(new Event('zuul-auth'));
}

/**
 * The claims of a JWT (not verified: only to decide what to show; the API verifies).
 * @param {string|null} jwt
 * @returns {any}
 */
export function claims(jwt) {
  try {
    const part = String(jwt).split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0))));
  } catch {
    return null;
  }
}

/** @type {Map<string, Promise<boolean>>} */
const cache = new Map();

/**
 * Whether the signed-in user may administer `tenant`: the API's authorizations route when it
 * exists, else the token's (unverified) admin claim.
 * @param {string} tenant
 * @returns {Promise<boolean>}
 */
export function isAdmin(tenant) {
  const jwt = token();
  if (!jwt) return Promise.resolve(false);
  const c = claims(jwt);
  if (!c || (typeof c.exp === 'number' && c.exp * 1000 < Date.now())) return Promise.resolve(false);
  if (!cache.has(tenant)) {
    cache.set(tenant, getJSON(apiUrl(`tenant/${seg(tenant)}/authorizations`), {token: jwt})
      .then((data) => Boolean(data && data.zuul && data.zuul.admin))
      .catch((err) => {
        if (!err.missing) return false;
        const admin = c.zuul && c.zuul.admin;
        const scopes = Array.isArray(admin) ? admin : [admin];
        return scopes.includes(tenant) || scopes.includes('*');
      }));
  }
  return /** @type {Promise<boolean>} */ (cache.get(tenant));
}

/** The OIDC realm of /api/info, if one is configured. */
async function oidcRealm() {
  const info = await apiInfo();
  const auth = info && info.capabilities && info.capabilities.auth;
  const realm = auth && auth.realms && auth.realms[auth.default_realm];
  return realm && realm.authority && /openid/i.test(String(realm.driver || realm.type))
    ? realm : null;
}

/** @param {Uint8Array} bytes */
const b64url = (bytes) => btoa(String.fromCharCode(...bytes))
  .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

/** @param {string} authority */
async function discover(authority) {
  return getJSON(authority.replace(/\/$/, '') + '/.well-known/openid-configuration');
}

/** Start the authorization-code + PKCE flow: redirect to the provider. */
async function oidcSignIn(/** @type {any} */ realm) {
  const config = await discover(realm.authority);
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256',
                                                           new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PENDING, JSON.stringify({verifier, state, hash: location.hash}));
  const url = new URL(config.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code', client_id: realm.client_id, redirect_uri: pageBase().href,
    scope: realm.scope || 'openid profile', state, code_challenge: b64url(digest),
    code_challenge_method: 'S256'}).toString();
  location.assign(url.href);
}

/** Finish the OIDC flow when the provider sent us back with ?code=&state=. */
export async function completeSignIn() {
  const params = new URLSearchParams(location.search);
  const pending = sessionStorage.getItem(PENDING);
  if (!params.get('code') || !pending) return;
  sessionStorage.removeItem(PENDING);
  const {verifier, state, hash} = JSON.parse(pending);
  history.replaceState(null, '', pageBase().href + (hash || '#/'));
  if (params.get('state') !== state) { notify('Sign-in failed: state mismatch.', 'error'); return; }
  try {
    const realm = await oidcRealm();
    const config = await discover(realm.authority);
    const response = await fetch(config.token_endpoint, {method: 'POST', body: new URLSearchParams({
      grant_type: 'authorization_code', code: String(params.get('code')),
      redirect_uri: pageBase().href, client_id: realm.client_id, code_verifier: verifier})});
    const body = await response.json();
    if (!response.ok) throw new Error(body.error_description || body.error || response.status);
    const access = String(body.access_token || '');
    store(access.split('.').length === 3 ? access : body.id_token);
    notify('Signed in.');
  } catch (err) {
    notify(`Sign-in failed: ${err instanceof Error ? err.message : err}`, 'error');
  }
}

/** The header's sign-in control: a token form, or the provider's sign-in, or sign out. */
export async function signInClicked() {
  if (token()) {
    if (await confirmDialog('Sign out? The token is forgotten in this tab.', 'Sign out')) {
      store(null);
      notify('Signed out.');
    }
    return;
  }
  const realm = await oidcRealm().catch(() => null);
  const dialog = /** @type {HTMLDialogElement} */ (document.getElementById('confirm'));
  const input = h('textarea', {id: 'token-input', rows: 4, 'aria-label': 'Bearer token'});
  dialog.replaceChildren(h('form', {method: 'dialog'},
    h('h2', {id: 'signin-title'}, 'Sign in'),
    realm ? h('p', {}, h('button', {type: 'button', class: 'primary', id: 'oidc-signin',
      onclick: () => oidcSignIn(realm).catch((e) => notify(`Sign-in failed: ${e.message}`, 'error'))},
      `Sign in with ${realm.authority}`)) : null,
    h('label', {for: 'token-input'}, 'Paste an admin token (JWT)'), input,
    h('div', {class: 'toolbar'}, h('button', {value: 'yes', class: 'primary'}, 'Use token'),
      h('button', {value: 'no'}, 'Cancel'))));
  dialog.setAttribute('aria-labelledby', 'signin-title');
  dialog.returnValue = '';
  dialog.addEventListener('close', () => {
    const value = /** @type {HTMLTextAreaElement} */ (input).value.trim();
    if (dialog.returnValue !== 'yes' || !value) return;
    if (!claims(value)) { notify('That is not a JWT.', 'error'); return; }
    store(value);
    notify('Token stored for this tab.');
  }, {once: true});
  dialog.showModal();
}

/** Keep the header button's text in step with the sign-in state. */
export function initAuth() {
  const button = /** @type {HTMLElement} */ (document.getElementById('signin'));
  const label = () => {
    const c = claims(token());
    button.textContent = c ? `Sign out ${c.name || c.preferred_username || c.sub || ''}`.trim()
      : 'Sign in';
  };
  label();
  button.addEventListener('click', () => { signInClicked(); });
  window.addEventListener('zuul-auth', label);
  completeSignIn();
}
