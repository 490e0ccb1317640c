// Nodes page: live table, filter, register / edit labels / delete; ZeroTier
// members waiting for authorisation above the table, authorised ones below.
//
// Built for 10,000 nodes: the list is fetched as the summary view (no
// inventory: ~150 bytes a node), filtered and sorted here so the filter and the
// count cover every node, but only one page of rows is drawn, so a live update
// redraws 100 rows, not 10,000. A heartbeat round changes many nodes in a burst:
// the list is then fetched at most once per refresh period, which grows with it.

import { api, ApiError } from '../api.js';
import { h, icon, replace } from '../dom.js';
import { openModal, field, fieldMessage, groupField, checkName, toast, nodeStateBadge, emulatedTag, nodeHref, labelChips, emptyState, button, createButton, viewPage, readOnlyPill, filterBox, rowActions, deleteAction, relativeTime, relativeTimeTicker, textInput } from '../ui.js';
import { liveList, asList, upsertItem, showLoadState, confirmDeleteItem } from '../resource.js';
import { mountZeroTier } from './zerotier.js';

/** Rows drawn at a time. */
const NODES_PAGE_SIZE = 100;
/** What the table, the filter and the ZeroTier members read of a node. */
const SUMMARY_FIELDS = 'id,hostname,ipaddress,status,address,state,labels,emulated,reason,lastSeen,version,updatedAt';
const byId = new Intl.Collator();

export function mountNodes(root, ctx) {
  let destroyed = false;
  const seenVersions = new Map(); // id -> version, to highlight changes
  let firstRender = true;
  let pageIndex = 0; // the page of the filtered list shown

  const nodeList = liveList('nodes', () => api.listNodes(SUMMARY_FIELDS), {
    key: 'id',
    live: ctx.live,
    // A node's registration lives in `nodes`; what the heartbeat observed about it, in `node_status`.
    collections: ['nodes', 'node_status'],
    onChange: renderBody,
    // At most one fetch per period while changes keep coming: 0.1 s for a small cluster, 2 s for 10,000 nodes.
    debounce: false,
    refreshMs: () => Math.min(2000, Math.max(100, asList(nodeList.data).length / 5)),
  });

  // ---- layout -------------------------------------------------------------

  const count = h('span', { class: 'count-pill', testid: 'nodes-count' }, '…');
  const filter = filterBox({
    name: 'nodes',
    placeholder: 'Filter by id, hostname, address, state or label',
    label: 'Filter nodes',
    onChange: () => {
      pageIndex = 0;
      renderBody();
    },
  });

  const registerBtn = createButton(ctx, 'Register node', { testid: 'node-register', onClick: () => openRegister() });

  const zerotier = mountZeroTier(ctx, { nodeById: (id) => asList(nodeList.data).find((n) => n.id === id) || null });

  const page = viewPage(
    {
      testid: 'nodes-page',
      title: ['Nodes', ' ', count],
      sub: 'Zero-OS machines registered with this orchestrator. The list updates live.',
      actions: [readOnlyPill(ctx, 'view nodes but not change them'), registerBtn],
    },
    zerotier.pending,
    h('div', { class: 'toolbar' }, filter.el),
    filter.body,
    zerotier.members,
  );
  root.appendChild(page);
  renderBody();

  // ---- data ---------------------------------------------------------------

  // Keep "updated … ago" (and the members' "last online") fresh.
  const stopTicker = relativeTimeTicker(page, 30_000);

  nodeList.load();

  // ---- rendering ----------------------------------------------------------

  function matches(node) {
    const labels = node.labels && typeof node.labels === 'object' ? node.labels : {};
    return filter.matches([
      node.id,
      node.hostname,
      node.address,
      node.ipaddress,
      node.state,
      node.status,
      ...Object.entries(labels).map(([k, v]) => `${k}=${v}`),
    ]);
  }

  function renderBody() {
    if (destroyed) return;
    zerotier.render(); // the members show their nodes' states
    const nodes = nodeList.data;
    if (showLoadState(nodeList, filter.body, 'nodes', { rows: 4 })) {
      count.textContent = '…';
      return;
    }

    count.textContent = String(nodes.length);
    const sorted = [...nodes].sort((a, b) => byId.compare(String(a.id), String(b.id)));
    const visible = sorted.filter(matches);
    const pages = Math.max(1, Math.ceil(visible.length / NODES_PAGE_SIZE));
    pageIndex = Math.min(pageIndex, pages - 1);
    const first = pageIndex * NODES_PAGE_SIZE;
    const shown = visible.slice(first, first + NODES_PAGE_SIZE);

    if (nodes.length === 0) {
      replace(
        filter.body,
        emptyState({
          title: 'No nodes yet',
          text: ctx.canMutate
            ? 'Register a Zero-OS node to start managing it. Nodes that boot from this orchestrator appear here too.'
            : 'No Zero-OS node has been registered yet. Nodes appear here as soon as they are added.',
          testid: 'nodes-empty',
          action: createButton(ctx, 'Register node', { onClick: () => openRegister() }),
        }),
      );
      firstRender = false;
      return;
    }
    if (visible.length === 0) {
      replace(
        filter.body,
        filter.noMatch('No matching nodes', (q) => `No node matches “${q}”.`),
      );
      markSeen();
      return;
    }

    filter.show(
      { testid: 'nodes-table', columns: ['ID', 'Hostname', 'Address', 'State', 'Labels', 'Updated'], actions: ctx.canMutate, rows: shown.map(row) },
      { total: nodes.length, noun: 'nodes', shown: visible.length, more: pages > 1 ? pager(first, shown.length, visible.length, pages) : null },
    );
    markSeen();
  }

  /** "101–200 of 10,000" with the buttons to the previous and next pages. */
  function pager(first, count, total, pages) {
    const go = (index) => {
      pageIndex = index;
      renderBody();
    };
    const range = `${(first + 1).toLocaleString()}–${(first + count).toLocaleString()} of ${total.toLocaleString()}`;
    return h(
      'div',
      { class: 'table-pager', testid: 'nodes-pager' },
      h('span', { testid: 'nodes-page-range' }, range),
      button('Previous', { small: true, testid: 'nodes-page-prev', disabled: pageIndex === 0, onClick: () => go(pageIndex - 1) }),
      button('Next', { small: true, testid: 'nodes-page-next', disabled: pageIndex >= pages - 1, onClick: () => go(pageIndex + 1) }),
    );
  }

  /** Turns to the page that shows node `id` (just registered here), if the filter lets it show. */
  function showNode(id) {
    const ids = asList(nodeList.data).filter(matches).map((n) => String(n.id)).sort(byId.compare);
    const index = ids.indexOf(id);
    if (index >= 0) pageIndex = Math.floor(index / NODES_PAGE_SIZE);
    renderBody();
  }

  function markSeen() {
    for (const n of asList(nodeList.data)) seenVersions.set(n.id, n.version);
    firstRender = false;
  }

  function row(node) {
    const prev = seenVersions.get(node.id);
    const changed = !firstRender && (prev === undefined || prev !== node.version);
    const hostname = node.hostname ? h('a', { class: 'row-link', href: nodeHref(node.id), tabindex: '-1' }, node.hostname) : h('span', { class: 'muted' }, '—');
    const address = node.address || node.ipaddress;
    return h(
      'tr',
      { class: changed ? 'row-flash' : null, testid: 'node-row', dataset: { nodeId: node.id } },
      h(
        'td',
        { dataset: { label: 'ID' } },
        h(
          'div',
          { class: 'cell-id' },
          h('a', { class: 'mono row-link', href: nodeHref(node.id), testid: 'node-id', title: `Open node ${node.id}` }, node.id),
          emulatedTag(node),
        ),
      ),
      h('td', { dataset: { label: 'Hostname' }, testid: 'node-hostname' }, hostname),
      h(
        'td',
        { dataset: { label: 'Address' }, testid: 'node-address' },
        address ? h('span', { class: 'mono' }, address) : h('span', { class: 'muted' }, '—'),
      ),
      h('td', { dataset: { label: 'State' } }, nodeStateBadge(node)),
      h('td', { dataset: { label: 'Labels' }, testid: 'node-labels' }, labelChips(node.labels)),
      h('td', { dataset: { label: 'Updated' }, class: 'nowrap' }, relativeTime(node.updatedAt)),
      ctx.canMutate
        ? rowActions(
            {
              label: 'Edit labels',
              iconName: 'tag',
              testid: 'node-edit',
              title: `Edit labels of ${node.id}`,
              onClick: () => openEditLabels(node),
            },
            deleteAction(node.id, 'node-delete', () => openDelete(node)),
          )
        : null,
    );
  }

  // ---- register -----------------------------------------------------------

  function openRegister() {
    const idInput = textInput('node-form-id', { maxlength: 64, placeholder: '0cc47aab6702', required: true });
    const hostInput = textInput('node-form-hostname', { mono: false, placeholder: 'node-1' });
    const addrInput = textInput('node-form-address', { placeholder: '10.0.0.5 or host:port', required: true });
    const labels = labelEditor({});

    openModal({
      title: 'Register node',
      description: 'Add a Zero-OS node so the orchestrator can manage it.',
      testid: 'register-modal',
      submitLabel: 'Register node',
      fields: [
        field({ label: 'Node ID', name: 'id', control: idInput, hint: 'Letters, digits, “.”, “_” and “-”, up to 64 characters — usually the MAC address without colons.' }),
        field({ label: 'Hostname (optional)', name: 'hostname', control: hostInput }),
        field({ label: 'Address', name: 'address', control: addrInput, hint: 'IP address or host, with an optional :port.' }),
        labels.field,
      ],
      async onSubmit() {
        const id = idInput.value.trim();
        const hostname = hostInput.value.trim();
        const address = addrInput.value.trim();
        checkName(id, { field: 'id', what: 'node ID' });
        if (!address) throw new ApiError(400, 'invalid', 'The address is required.', 'address');
        const labelMap = labels.read();
        const payload = { id, address, labels: labelMap };
        if (hostname) payload.hostname = hostname;
        const node = await api.createNode(payload);
        upsertItem(nodeList, node);
        showNode(node.id);
        toast(`Node ${id} registered.`, { type: 'success' });
      },
    });
  }

  // ---- edit labels --------------------------------------------------------

  function openEditLabels(node) {
    const original = node.labels && typeof node.labels === 'object' ? { ...node.labels } : {};
    const labels = labelEditor(original, { autoAdd: Object.keys(original).length === 0 });
    openModal({
      title: 'Edit labels',
      description: h('span', null, 'Node ', h('span', { class: 'mono' }, node.id), node.hostname ? ` · ${node.hostname}` : ''),
      testid: 'edit-labels-modal',
      submitLabel: 'Save labels',
      body: labels.field,
      async onSubmit() {
        const next = labels.read();
        const patch = {};
        for (const k of Object.keys(original)) if (!(k in next)) patch[k] = null;
        for (const [k, v] of Object.entries(next)) if (original[k] !== v) patch[k] = v;
        if (Object.keys(patch).length === 0) {
          toast('No changes to save.', { type: 'info' });
          return;
        }
        const updated = await api.patchNode(node.id, { labels: patch });
        upsertItem(nodeList, updated);
        toast(`Labels of ${node.id} updated.`, { type: 'success' });
      },
    });
  }

  // ---- delete -------------------------------------------------------------

  function openDelete(node) {
    confirmDeleteItem(nodeList, node.id, {
      title: 'Delete node?',
      text: [
        'This removes ',
        h('strong', { class: 'mono' }, node.id),
        node.hostname ? ` (${node.hostname})` : '',
        ' from the orchestrator. The machine itself is not touched, and it can be registered again later.',
      ],
      what: 'Node',
      call: () => api.deleteNode(node.id),
    });
  }

  return {
    unmount() {
      destroyed = true;
      nodeList.stop();
      zerotier.unmount();
      stopTicker();
      page.remove();
    },
  };
}

/**
 * Key/value label editor. read() returns {key: value} or throws an ApiError
 * with field "labels" that the modal shows inline.
 */
function labelEditor(initial, { autoAdd = false } = {}) {
  const rows = h('div', { class: 'kv-rows', testid: 'label-rows' });
  const empty = h('p', { class: 'kv-empty muted', testid: 'label-empty' }, 'No labels.');

  function sync() {
    empty.hidden = rows.children.length > 0;
    rows.hidden = rows.children.length === 0;
  }

  function addRow(k = '', v = '', focus = false) {
    const key = textInput('label-key', { dataset: { fieldKey: '' }, placeholder: 'key', 'aria-label': 'Label key', value: k });
    const val = textInput('label-value', { placeholder: 'value', 'aria-label': 'Label value', value: v });
    const r = h(
      'div',
      { class: 'kv-row', testid: 'label-row' },
      key,
      h('span', { class: 'kv-eq', 'aria-hidden': 'true' }, '='),
      val,
      h(
        'button',
        {
          type: 'button',
          class: 'icon-btn',
          testid: 'label-remove',
          'aria-label': 'Remove label',
          title: 'Remove label',
          onclick: () => {
            r.remove();
            sync();
          },
        },
        icon('x', { size: 16 }),
      ),
    );
    rows.appendChild(r);
    sync();
    if (focus) key.focus();
    return r;
  }

  for (const [k, v] of Object.entries(initial).sort(([a], [b]) => a.localeCompare(b))) {
    addRow(k, v === null || v === undefined ? '' : String(v));
  }
  if (autoAdd) addRow();
  sync();

  const addBtn = h(
    'button',
    { type: 'button', class: 'btn btn-ghost btn-sm kv-add', testid: 'label-add', onclick: () => addRow('', '', true) },
    icon('plus', { size: 15 }),
    h('span', { class: 'btn-label' }, 'Add label'),
  );

  const wrap = groupField(
    { name: 'labels', label: 'Labels' },
    empty,
    rows,
    fieldMessage(),
    addBtn,
    h('p', { class: 'field-hint' }, 'Key/value pairs used to group and select nodes, e.g. rack = r1.'),
  );

  return {
    field: wrap,
    read() {
      const out = {};
      for (const r of rows.querySelectorAll('.kv-row')) {
        const [keyEl, valEl] = r.querySelectorAll('input');
        const k = keyEl.value.trim();
        const v = valEl.value.trim();
        if (!k && !v) continue;
        if (!k) {
          keyEl.setAttribute('aria-invalid', 'true');
          throw new ApiError(400, 'invalid', `The label with value “${v}” needs a key.`, 'labels');
        }
        if (Object.prototype.hasOwnProperty.call(out, k)) {
          keyEl.setAttribute('aria-invalid', 'true');
          throw new ApiError(400, 'invalid', `The label key “${k}” is used twice.`, 'labels');
        }
        out[k] = v;
      }
      return out;
    },
  };
}
