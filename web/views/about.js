// About page: version, health, uptime, store size, identity.

import { api } from '../api.js';
import { h, icon, replace, formatBytes, formatDuration } from '../dom.js';
import { button, viewPage, statCard as stat } from '../ui.js';

const POLL_MS = 10_000;

export function mountAbout(root, ctx) {
  let destroyed = false;
  let health = null;
  let healthError = null;
  let fetchedAt = 0;

  const grid = h('div', { class: 'stats', testid: 'about-stats' });
  const refreshBtn = button('Refresh', { iconName: 'refresh', testid: 'about-refresh', onClick: () => load(true) });

  const user = ctx.user;
  const page = viewPage(
    {
      testid: 'about-page',
      title: 'About',
      sub: 'Server version and health of this zos-orchestrator instance.',
      actions: refreshBtn,
    },
    grid,
    h(
      'div',
      { class: 'about-cols' },
      h(
        'section',
        { class: 'card prose', testid: 'about-description' },
        h('h2', null, 'What is zos-orchestrator?'),
        h(
          'p',
          null,
          'zos-orchestrator is a single binary that bootstraps and runs a Zero-OS cluster. It keeps an inventory of ',
          'your nodes, watches their state, serves the iPXE boot configuration they start from, and exposes everything ',
          'through a token-protected REST API — the same API this interface uses.',
        ),
        h(
          'ul',
          null,
          h('li', null, h('strong', null, 'Nodes'), ' — register machines, label them, and follow their state live.'),
          h('li', null, h('strong', null, 'API'), ' — JSON over HTTP with bearer tokens and viewer / operator / admin roles.'),
          h('li', null, h('strong', null, 'Events'), ' — every change is streamed as server-sent events.'),
        ),
      ),
      h(
        'section',
        { class: 'card', testid: 'about-identity' },
        h('h2', null, 'Signed in as'),
        h(
          'dl',
          { class: 'kv-list' },
          h('dt', null, 'Name'),
          h('dd', null, user.name || '—'),
          h('dt', null, 'Role'),
          h('dd', null, h('span', { class: `role role-${user.role}` }, user.role)),
          h('dt', null, 'Token ID'),
          h('dd', { class: 'mono' }, user.id || '—'),
          h('dt', null, 'Permissions'),
          h(
            'dd',
            null,
            user.role === 'admin'
              ? 'Full access.'
              : user.role === 'operator'
                ? 'Can register, change and delete nodes.'
                : 'Read-only access.',
          ),
        ),
      ),
    ),
  );
  root.appendChild(page);
  render();

  async function load(manual = false) {
    refreshBtn.disabled = true;
    try {
      health = await api.health();
      healthError = null;
      fetchedAt = Date.now();
    } catch (err) {
      healthError = err;
      if (manual) health = null;
    } finally {
      refreshBtn.disabled = false;
    }
    if (!destroyed) render();
  }

  function render() {
    if (!health && !healthError) {
      replace(grid, [0, 1, 2, 3].map(() => h('div', { class: 'stat card skeleton-card' })));
      return;
    }
    if (!health && healthError) {
      replace(
        grid,
        h(
          'div',
          { class: 'card stat-error', testid: 'about-error' },
          icon('alert'),
          h('span', null, `Health check failed: ${healthError.display || healthError.message}`),
        ),
      );
      return;
    }
    const ok = health.status === 'ok';
    const store = health.store && typeof health.store === 'object' ? health.store : {};
    const elapsed = fetchedAt ? (Date.now() - fetchedAt) / 1000 : 0;
    const uptime = typeof health.uptimeSeconds === 'number' ? health.uptimeSeconds + elapsed : null;
    replace(
      grid,
      stat('Version', health.version ? `v${health.version}` : '—', { testid: 'about-version' }),
      stat(
        'Health',
        h(
          'span',
          { class: `badge badge-lg badge-${ok ? 'ok' : 'danger'}` },
          h('span', { class: 'badge-dot', 'aria-hidden': 'true' }),
          ok ? 'Healthy' : String(health.status || 'unknown'),
        ),
        {
          testid: 'about-status',
          sub: healthError ? `Last check failed: ${healthError.message}` : 'GET /health',
        },
      ),
      stat('Uptime', formatDuration(uptime), {
        testid: 'about-uptime',
        sub: uptime !== null ? `since ${new Date(Date.now() - uptime * 1000).toLocaleString()}` : null,
      }),
      stat('Store', formatBytes(store.sizeBytes), {
        testid: 'about-store',
        tone: store.ok === false ? 'danger' : null,
        sub: store.ok === false ? 'Store reports a problem' : store.ok === true ? 'Store OK' : null,
      }),
    );
  }

  load();
  const poll = setInterval(() => load(false), POLL_MS);

  return {
    unmount() {
      destroyed = true;
      clearInterval(poll);
      page.remove();
    },
  };
}
