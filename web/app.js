// zos-orchestrator web UI — application shell, session and hash router.

import { api, getToken, setToken, clearToken, onUnauthorized, canMutate } from './api.js';
import { LiveEvents } from './events.js';
import { h, icon, replace } from './dom.js';
import { toast, glyph } from './ui.js';
import { mountSignIn } from './views/signin.js';
import { mountNodes } from './views/nodes.js';
import { mountNode } from './views/node.js';
import { mountBoot } from './views/boot/page.js';
import { mountJobs } from './views/jobs.js';
import { mountAudit } from './views/audit.js';
import { mountWebhooks } from './views/webhooks.js';
import { mountStorageClusters } from './views/storage-clusters.js';
import { mountAbout } from './views/about.js';

const root = document.getElementById('app');

const ROUTES = {
  '/nodes': { title: 'Nodes', mount: mountNodes, nav: 'nodes' },
  '/jobs': { title: 'Jobs', mount: mountJobs, nav: 'jobs' },
  '/storageclusters': { title: 'Storage clusters', mount: mountStorageClusters, nav: 'storageclusters' },
  '/boot': { title: 'Boot', mount: mountBoot, nav: 'boot' },
  '/webhooks': { title: 'Webhooks', mount: mountWebhooks, nav: 'webhooks' },
  '/audit': { title: 'Audit', mount: mountAudit, nav: 'audit', admin: true },
  '/about': { title: 'About', mount: mountAbout, nav: 'about' },
};
// Pages of one item, '#/nodes/<id>': the view gets the decoded id as ctx.params.id.
const ITEM_ROUTES = [{ pattern: /^\/nodes\/([^/]+)$/, title: (id) => `Node ${id}`, mount: mountNode, nav: 'nodes' }];
const DEFAULT_ROUTE = '/nodes';

/** The route of a path: {title, mount, nav, params}, or null when there is none. */
function findRoute(path) {
  if (Object.prototype.hasOwnProperty.call(ROUTES, path)) return { ...ROUTES[path], params: {} };
  for (const r of ITEM_ROUTES) {
    const m = r.pattern.exec(path);
    if (!m) continue;
    let id;
    try {
      id = decodeURIComponent(m[1]);
    } catch {
      return null; // a malformed %-escape
    }
    return { ...r, title: r.title(id), params: { id } };
  }
  return null;
}

const session = {
  user: null, // {id, name, role}
  live: null, // LiveEvents
  shell: null, // {main, setActive, setLive}
  view: null, // {unmount}
  listeners: new Set(),
};

// ---- live events fan-out --------------------------------------------------

const liveBus = {
  state: 'stopped',
  subscribe(fn) {
    session.listeners.add(fn);
    return () => session.listeners.delete(fn);
  },
};

function emit(msg) {
  for (const fn of [...session.listeners]) {
    try {
      fn(msg);
    } catch (err) {
      console.error('live listener failed', err);
    }
  }
}

function startLive() {
  stopLive();
  session.live = new LiveEvents({
    onChange: (change) => emit({ type: 'change', change }),
    onOpen: () => emit({ type: 'open' }),
    onStatus: (state) => {
      liveBus.state = state;
      if (session.shell) session.shell.setLive(state);
    },
    onUnauthorized: () => signOut('Your session has ended: the token is no longer valid.'),
  });
  session.live.start();
}

function stopLive() {
  if (session.live) session.live.stop();
  session.live = null;
}

// ---- session --------------------------------------------------------------

function unmountView() {
  if (session.view && session.view.unmount) {
    try {
      session.view.unmount();
    } catch (err) {
      console.error('unmount failed', err);
    }
  }
  session.view = null;
}

function signOut(message = null) {
  clearToken();
  stopLive();
  unmountView();
  session.user = null;
  session.shell = null;
  session.listeners.clear();
  for (const d of document.querySelectorAll('dialog')) {
    if (d.open) d.close();
    d.remove();
  }
  showSignIn(message);
}

onUnauthorized(() => {
  if (session.user) signOut('Your session has ended: the token is no longer valid.');
});

function showSignIn(message = null) {
  document.title = 'Sign in · zos-orchestrator';
  replace(root);
  session.view = mountSignIn(root, {
    message,
    onSignedIn: (token, user) => {
      setToken(token);
      enter(user);
    },
  });
}

function enter(user) {
  unmountView();
  session.user = user;
  session.shell = renderShell(user);
  startLive();
  route();
}

// ---- shell ----------------------------------------------------------------

const LIVE_TEXT = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  stopped: 'Offline',
};

function renderShell(user) {
  const navLink = (key, href, label, iconName) =>
    h(
      'a',
      { href, class: 'nav-link', testid: `nav-${key}`, dataset: { nav: key }, title: label, 'aria-label': label },
      glyph(iconName),
      h('span', null, label),
    );
  const nav = h(
    'nav',
    { class: 'nav', 'aria-label': 'Main' },
    navLink('nodes', '#/nodes', 'Nodes', 'server'),
    navLink('jobs', '#/jobs', 'Jobs', 'list'),
    navLink('storageclusters', '#/storageclusters', 'Storage', 'disk'),
    navLink('boot', '#/boot', 'Boot', 'power'),
    navLink('webhooks', '#/webhooks', 'Webhooks', 'target'),
    // Only an admin may read the audit log; the page is not offered to others.
    user.role === 'admin' ? navLink('audit', '#/audit', 'Audit', 'activity') : null,
    navLink('about', '#/about', 'About', 'info'),
  );

  const liveDot = h('span', { class: 'live-dot', 'aria-hidden': 'true' });
  const liveText = h('span', { class: 'live-text' }, LIVE_TEXT.connecting);
  const live = h(
    'div',
    {
      class: 'live',
      testid: 'live-indicator',
      role: 'status',
      title: 'Live updates from /events',
      dataset: { state: 'connecting' },
    },
    liveDot,
    liveText,
  );

  const initial = (user.name || user.id || '?').trim().charAt(0).toUpperCase() || '?';
  const signOutLabel = `Sign out ${user.name || user.id} (${user.role})`;
  const userBox = h(
    'div',
    { class: 'user', testid: 'user' },
    h(
      'div',
      { class: 'user-row' },
      h('span', { class: 'avatar', 'aria-hidden': 'true' }, initial),
      h(
        'div',
        { class: 'user-meta' },
        h('span', { class: 'user-name', testid: 'user-name', title: user.name || user.id }, user.name || user.id),
        h('span', { class: `role role-${user.role}`, testid: 'user-role' }, user.role),
      ),
    ),
    h(
      'button',
      {
        type: 'button',
        class: 'signout',
        testid: 'signout',
        title: signOutLabel,
        'aria-label': signOutLabel,
        onclick: () => {
          signOut(null);
          toast('You have been signed out.', { type: 'info' });
        },
      },
      icon('logout', { size: 16 }),
      h('span', { class: 'signout-label' }, 'Sign out'),
    ),
  );

  const brand = h(
    'a',
    { class: 'brand', href: '#/nodes', 'aria-label': 'zos-orchestrator home' },
    h('img', { src: '/ui/logo.svg', alt: '', width: 28, height: 28 }),
    h('span', { class: 'brand-name' }, 'zos-orchestrator'),
  );

  const sidebar = h(
    'aside',
    { class: 'sidebar' },
    h('div', { class: 'sidebar-top' }, brand, nav),
    h('div', { class: 'sidebar-bottom' }, live, userBox),
  );
  const main = h('main', { class: 'main', id: 'main', tabindex: '-1' });
  const shell = h(
    'div',
    { class: 'shell', testid: 'app-shell', dataset: { role: user.role, canMutate: canMutate(user.role) ? 'true' : 'false' } },
    sidebar,
    main,
  );
  replace(root, shell);

  return {
    main,
    setActive(key) {
      for (const a of nav.querySelectorAll('.nav-link')) {
        const on = a.dataset.nav === key;
        a.classList.toggle('active', on);
        if (on) a.setAttribute('aria-current', 'page');
        else a.removeAttribute('aria-current');
      }
    },
    setLive(state) {
      live.dataset.state = state;
      liveText.textContent = LIVE_TEXT[state] || state;
    },
  };
}

// ---- router ---------------------------------------------------------------

function currentPath() {
  const raw = location.hash.replace(/^#/, '');
  const path = raw.split('?')[0];
  return path || '';
}

function route() {
  if (!session.user || !session.shell) return;
  let path = currentPath();
  if (!path || path === '/') {
    history.replaceState(null, '', `#${DEFAULT_ROUTE}`);
    path = DEFAULT_ROUTE;
  }
  const found = findRoute(path);
  const r = found && found.admin && session.user.role !== 'admin' ? null : found;
  unmountView();
  const main = session.shell.main;
  replace(main);
  main.scrollTop = 0;
  window.scrollTo(0, 0);
  const ctx = {
    user: session.user,
    canMutate: canMutate(session.user.role),
    live: liveBus,
    params: r ? r.params : {},
  };
  if (!r) {
    document.title = 'Not found · zos-orchestrator';
    session.shell.setActive(null);
    main.appendChild(
      h(
        'div',
        { class: 'page', testid: 'notfound-page' },
        h(
          'div',
          { class: 'empty empty-page' },
          h('div', { class: 'empty-icon' }, icon('alert', { size: 28 })),
          h('h3', null, 'Page not found'),
          h('p', null, 'There is nothing at ', h('code', null, `#${path}`), '.'),
          h('a', { class: 'btn btn-primary', href: '#/nodes' }, 'Go to nodes'),
        ),
      ),
    );
    return;
  }
  document.title = `${r.title} · zos-orchestrator`;
  session.shell.setActive(r.nav);
  session.view = r.mount(main, ctx);
}

window.addEventListener('hashchange', route);

// ---- boot -----------------------------------------------------------------

function splash(text, retry = null) {
  replace(
    root,
    h(
      'div',
      { class: 'splash', testid: 'splash' },
      h('img', { src: '/ui/logo.svg', alt: '', width: 48, height: 48 }),
      h('p', null, text),
      retry
        ? h(
            'div',
            { class: 'splash-actions' },
            h('button', { type: 'button', class: 'btn btn-primary', onclick: retry }, 'Retry'),
            h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => signOut(null) }, 'Use another token'),
          )
        : h('span', { class: 'spinner spinner-lg', 'aria-hidden': 'true' }),
    ),
  );
}

async function boot() {
  const token = getToken();
  if (!token) {
    showSignIn();
    return;
  }
  splash('Loading…');
  try {
    const user = await api.whoami(token);
    enter(user);
  } catch (err) {
    if (err.status === 401) {
      signOut('Your session has ended: the token is no longer valid.');
    } else if (err.status === 0) {
      splash('Cannot reach the zos-orchestrator server.', boot);
    } else {
      splash(err.message || 'Something went wrong.', boot);
    }
  }
}

boot();
