// ZeroTier members on the Nodes page: the pending ones, which an operator
// authorises, and the authorised ones with the node each became (discovery
// reaches a member over 0-core and registers it as a node).

import { api } from '../api.js';
import { h, replace } from '../dom.js';
import { toast, errorToast, nodeStateBadge, nodeHref, emptyState, button, cardHead, dataTable, relativeTime, dash, glyph } from '../ui.js';
import { liveList, asList, upsertItem } from '../resource.js';

const OFF_TITLE = 'ZeroTier discovery is off';
const OFF_TEXT = 'Set ZOS_ZEROTIER_TOKEN and the cluster network in Boot → Settings.';

// Whether the authorised members' list is open; kept while the session lasts.
let membersOpen = false;

/**
 * mountZeroTier(ctx, {nodeById}) → {pending, members, render, unmount}
 * `pending` (the card of members waiting for authorisation) and `members`
 * (the collapsible list of authorised ones) are elements for the page to
 * place; each hides itself while it has nothing to show. nodeById(id) gives
 * the node a member became (for its state); render() redraws after the nodes
 * changed.
 */
export function mountZeroTier(ctx, { nodeById }) {
  let destroyed = false;
  let off = null; // the 409 zerotier_not_configured error, once an authorisation got it
  const inFlight = new Set(); // ids being authorised
  const seenPending = new Set(); // to highlight members that start waiting
  let firstRender = true;

  // ---- layout -------------------------------------------------------------

  const pendingCount = h('span', { class: 'count-pill count-pill-warn', testid: 'zt-pending-count' });
  const pendingBody = h('div');
  const pending = h(
    'section',
    { class: 'card table-card node-table-card zt-pending', testid: 'zt-pending-card', hidden: true, 'aria-live': 'polite' },
    cardHead(
      [glyph('network', { size: 16 }), 'Pending ZeroTier members', pendingCount],
      ctx.canMutate
        ? 'Machines that joined the cluster’s network and wait for authorisation. Once authorised, each becomes a node.'
        : 'Machines that joined the cluster’s network and wait for an operator to authorise them; each then becomes a node.',
    ),
    pendingBody,
  );

  const membersCount = h('span', { class: 'count-pill', testid: 'zt-members-count' });
  const membersSummaryNote = h('span', { class: 'zt-summary-note', testid: 'zt-members-note' });
  const membersBody = h('div');
  const membersEl = h(
    'details',
    { class: 'card table-card zt-members', testid: 'zt-members', hidden: true },
    h(
      'summary',
      { class: 'zt-summary', testid: 'zt-members-toggle' },
      cardHead(
        [glyph('network', { size: 16 }), 'ZeroTier members', membersCount],
        'Authorised members of the cluster’s network, and the node each one became.',
        membersSummaryNote,
        glyph('chevron', { size: 18, className: 'icon zt-chevron' }),
      ),
    ),
    membersBody,
  );
  membersEl.open = membersOpen;
  membersEl.addEventListener('toggle', () => {
    membersOpen = membersEl.open;
  });

  // ---- data ---------------------------------------------------------------

  const members = liveList('zerotier members', api.listZeroTierMembers, {
    key: 'id',
    live: ctx.live,
    collections: ['zerotier_members'],
    onChange: render,
  });
  members.load();

  // ---- rendering ----------------------------------------------------------

  function render() {
    if (destroyed || members.data === null) return; // a failed first load hides both (the nodes are the page's point)
    const list = [...members.data].sort((a, b) => String(a.id).localeCompare(String(b.id)));
    renderPending(list.filter((m) => !m.authorized));
    renderMembers(list.filter((m) => m.authorized));
    firstRender = false;
  }

  function renderPending(list) {
    pending.hidden = list.length === 0 && !off;
    pendingCount.textContent = String(list.length);
    pendingCount.hidden = list.length === 0;
    if (off) {
      replace(
        pendingBody,
        emptyState({
          iconName: 'network',
          title: OFF_TITLE,
          text: [OFF_TEXT, h('br'), h('span', { class: 'small muted', testid: 'zt-off-reason' }, `The server says: ${off.message}.`)],
          testid: 'zt-off',
          action: h('a', { class: 'btn btn-secondary btn-sm', href: '#/boot?tab=settings' }, glyph('sliders', { size: 15 }), 'Open Boot settings'),
        }),
      );
    } else {
      replace(
        pendingBody,
        dataTable({
          testid: 'zt-pending-table',
          columns: ['ZeroTier address', 'IP assignments', 'Physical address', 'Client version', 'Last online'],
          actions: ctx.canMutate,
          rows: list.map(pendingRow),
        }),
      );
    }
    for (const m of list) seenPending.add(m.id);
  }

  function pendingRow(m) {
    const busy = inFlight.has(m.id);
    const authorizeBtn = ctx.canMutate
      ? button(busy ? 'Authorizing…' : 'Authorize', {
          kind: 'primary',
          small: true,
          iconName: 'check',
          spinner: true,
          testid: 'zt-authorize',
          title: `Let ${m.id} into the cluster’s network`,
          disabled: busy,
          onClick: () => authorize(m),
        })
      : null;
    if (authorizeBtn) authorizeBtn.classList.toggle('is-busy', busy);
    return h(
      'tr',
      { class: !firstRender && !seenPending.has(m.id) ? 'row-flash' : null, testid: 'zt-pending-row', dataset: { memberId: m.id } },
      h('td', { dataset: { label: 'Address' } }, memberId(m)),
      h('td', { dataset: { label: 'IPs' }, testid: 'zt-member-ips' }, ips(m)),
      h('td', { dataset: { label: 'Physical' } }, m.physicalAddress ? h('span', { class: 'mono' }, m.physicalAddress) : dash('Not reported yet')),
      h('td', { dataset: { label: 'Version' } }, m.clientVersion ? h('span', { class: 'mono' }, m.clientVersion) : dash('Not reported yet')),
      h('td', { dataset: { label: 'Last online' }, class: 'nowrap' }, lastOnline(m)),
      authorizeBtn ? h('td', { class: 'col-actions' }, authorizeBtn) : null,
    );
  }

  function renderMembers(list) {
    membersEl.hidden = list.length === 0;
    membersCount.textContent = String(list.length);
    const waiting = list.filter((m) => !m.node).length;
    membersSummaryNote.textContent = waiting ? `${waiting} not a node yet` : '';
    replace(
      membersBody,
      dataTable({
        testid: 'zt-members-table',
        compact: true,
        columns: ['ZeroTier address', 'IP assignments', 'Node', 'Last online'],
        rows: list.map(memberRow),
      }),
    );
  }

  function memberRow(m) {
    return h(
      'tr',
      { testid: 'zt-member-row', dataset: { memberId: m.id, node: m.node || '' } },
      h('td', { dataset: { label: 'Address' } }, memberId(m)),
      h('td', { dataset: { label: 'IPs' }, testid: 'zt-member-ips' }, ips(m)),
      h('td', { dataset: { label: 'Node' }, testid: 'zt-member-node' }, nodeCell(m)),
      h('td', { dataset: { label: 'Last online' }, class: 'nowrap' }, lastOnline(m)),
    );
  }

  function nodeCell(m) {
    if (!m.node) {
      const waitingFor = asList(m.ipAssignments).length
        ? `Reaching 0-core at ${m.ipAssignments[0]}…`
        : 'Waiting for an IP assignment…';
      return h('span', { class: 'zt-waiting' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), waitingFor);
    }
    const node = nodeById(m.node);
    return h(
      'div',
      { class: 'zt-node' },
      glyph('server', { size: 15 }),
      h('a', { class: 'mono row-link', href: nodeHref(m.node), testid: 'zt-member-node-link', title: `Open node ${m.node}` }, m.node),
      node && node.hostname ? h('span', { class: 'cell-sub' }, node.hostname) : null,
      node ? nodeStateBadge(node) : null,
    );
  }

  // ---- authorise ------------------------------------------------------------

  async function authorize(m) {
    if (inFlight.has(m.id)) return;
    inFlight.add(m.id);
    render();
    try {
      const member = await api.authorizeZeroTierMember(m.id);
      toast(`${m.id} may now join the cluster network. It becomes a node once it answers over 0-core.`, {
        type: 'success',
        title: 'Member authorised',
      });
      membersOpen = true; // follow it becoming a node
      membersEl.open = true;
      if ('authorized' in member) upsertItem(members, member); // not a 202's pending request
    } catch (err) {
      if (err.status === 401) return; // the global handler signs out
      if (err.code === 'zerotier_not_configured') {
        off = err;
        toast(OFF_TEXT, { type: 'error', title: OFF_TITLE });
      } else if (err.status === 404) {
        toast(`${m.id} is no longer a member of the cluster network.`, { type: 'info' });
        members.load();
      } else {
        errorToast(err, `Could not authorise ${m.id}`);
      }
    } finally {
      inFlight.delete(m.id);
      render();
    }
  }

  return {
    pending,
    members: membersEl,
    render,
    unmount() {
      destroyed = true;
      members.stop();
    },
  };
}

// ---- pieces -----------------------------------------------------------------

/**
 * The member's ZeroTier address, with its name and description below; not
 * once it is a node, as discovery names it after the node then.
 */
function memberId(m) {
  const about = m.node ? '' : [m.name, m.description].filter(Boolean).join(' · ');
  return h(
    'div',
    { class: 'cell-stack' },
    h('span', { class: 'mono strong', testid: 'zt-member-id' }, m.id),
    about ? h('span', { class: 'cell-sub' }, about) : null,
  );
}

function ips(m) {
  const list = asList(m.ipAssignments);
  if (list.length === 0) return dash('No IP assigned yet');
  return h('div', { class: 'chips' }, list.map((ip) => h('span', { class: 'pill-mono' }, ip)));
}

/** "… ago" from the member's lastOnline (epoch ms, 0 when never). */
function lastOnline(m) {
  const ms = Number(m.lastOnline);
  if (!Number.isFinite(ms) || ms <= 0) return dash('Never seen online');
  return relativeTime(new Date(ms).toISOString());
}
