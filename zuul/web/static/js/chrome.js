// The page frame around every view: navigation, the "API unreachable" banner, "updated at".
import {h} from './util.js';

const NAV = [['status', 'Status'], ['builds', 'Builds'], ['nodes', 'Nodes']];

/** Show the header for `tenant` with `page` marked as current. */
export function setNav(tenant, page) {
  const nav = document.getElementById('nav');
  const links = tenant ? NAV.map(([name, label]) => h('a', {
    href: `#/t/${encodeURIComponent(tenant)}/${name}`,
    'aria-current': name === page ? 'page' : null,
  }, label)) : [];
  links.push(h('a', {href: '#/tenants', 'aria-current': page === 'tenants' ? 'page' : null},
               'Tenants'));
  nav.replaceChildren(...links);
  document.getElementById('tenant-name').textContent = tenant || '';
  document.title = tenant ? `Zuul · ${tenant} · ${page}` : 'Zuul';
}

/** Show (or with null, hide) the error banner. An unreachable API keeps stale data dimmed. */
export function setBanner(error) {
  const banner = document.getElementById('banner');
  if (!error) {
    banner.hidden = true;
    banner.classList.remove('stale');
    banner.textContent = '';
    return;
  }
  const text = error.unreachable
    ? `${error.service || 'Zuul'} API unreachable (${error.message}). Retrying; the data below may be stale.`
    : `Error: ${error.message}`;
  banner.textContent = text;
  banner.dataset.kind = error.unreachable ? 'unreachable' : 'error';
  banner.classList.toggle('stale', Boolean(error.unreachable));
  banner.hidden = false;
}

/** Note in the header when the data was last refreshed (or paused). */
export function setUpdated(text) {
  document.getElementById('updated').textContent = text || '';
}
