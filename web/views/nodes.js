// Nodes page: live table, filter, register / edit labels / delete.

import { api, ApiError } from '../api.js';
import { h, icon, replace, formatRelative, formatAbsolute } from '../dom.js';
import { openModal, field, toast, errorToast, stateBadge, labelChips, emptyState, button } from '../ui.js';

const ID_RE = /^(?!\.)[A-Za-z0-9._-]{1,64}$/;
const REFRESH_DEBOUNCE_MS = 100;

export function mountNodes(root, ctx) {
  let nodes = null; // null while the first load is in flight
  let loadError = null;
  let filter = '';
  let destroyed = false;
  const seenVersions = new Map(); // id -> version, to highlight changes
  let firstRender = true;

  // ---- layout -------------------------------------------------------------

  const count = h('span', { class: 'count-pill', testid: 'nodes-count' }, '…');
  const filterInput = h('input', {
    type: 'search',
    class: 'input',
    placeholder: 'Filter by id, hostname, address, state or label',
    'aria-label': 'Filter nodes',
    testid: 'nodes-filter',
    autocomplete: 'off',
    spellcheck: 'false',
  });
  filterInput.addEventListener('input', () => {
    filter = filterInput.value.trim().toLowerCase();
    renderBody();
  });

  const registerBtn = ctx.canMutate
    ? button('Register node', { kind: 'primary', iconName: 'plus', testid: 'node-register', onClick: () => openRegister() })
    : null;
  const readOnly = ctx.canMutate
    ? null
    : h(
        'span',
        {
          class: 'readonly-pill',
          testid: 'readonly',
          title: `Your role (${ctx.user.role}) can view nodes but not change them.`,
        },
        'Read-only',
      );

  const body = h('div', { class: 'card table-card', testid: 'nodes-card' });

  const page = h(
    'div',
    { class: 'page', testid: 'nodes-page' },
    h(
      'header',
      { class: 'page-header' },
      h(
        'div',
        { class: 'page-heading' },
        h('h1', null, 'Nodes', ' ', count),
        h('p', { class: 'page-sub' }, 'Zero-OS machines registered with this orchestrator. The list updates live.'),
      ),
      h('div', { class: 'page-actions' }, readOnly, registerBtn),
    ),
    h(
      'div',
      { class: 'toolbar' },
      h('div', { class: 'search' }, icon('search', { size: 16, className: 'icon search-icon' }), filterInput),
    ),
    body,
  );
  root.appendChild(page);
  renderBody();

  // ---- data ---------------------------------------------------------------

  let inFlight = false;
  let again = false;
  let debounceTimer = null;

  async function load() {
    if (destroyed) return;
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    try {
      const list = await api.listNodes();
      if (destroyed) return;
      nodes = Array.isArray(list) ? list : [];
      loadError = null;
    } catch (err) {
      if (destroyed) return;
      if (err.status === 401) return; // global handler signs out
      if (nodes === null) loadError = err;
      else errorToast(err, 'Could not refresh nodes');
    } finally {
      inFlight = false;
    }
    renderBody();
    if (again) {
      again = false;
      load();
    }
  }

  function scheduleRefresh() {
    clearTimeout(debounceTimer);
    debounceTimer = setTimeout(load, REFRESH_DEBOUNCE_MS);
  }

  const unsubscribe = ctx.live.subscribe((msg) => {
    if (msg.type === 'open') scheduleRefresh(); // (re)connected: catch up
    else if (msg.type === 'change' && msg.change.collection === 'nodes') scheduleRefresh();
  });

  // Keep "updated … ago" fresh.
  const ticker = setInterval(() => {
    for (const el of body.querySelectorAll('[data-updated]')) {
      el.textContent = formatRelative(el.dataset.updated);
    }
  }, 30_000);

  load();

  // ---- rendering ----------------------------------------------------------

  function matches(node) {
    if (!filter) return true;
    const labels = node.labels && typeof node.labels === 'object' ? node.labels : {};
    const hay = [
      node.id,
      node.hostname,
      node.address,
      node.ipaddress,
      node.state,
      node.status,
      ...Object.entries(labels).map(([k, v]) => `${k}=${v}`),
    ]
      .filter((x) => x !== null && x !== undefined)
      .join('\n')
      .toLowerCase();
    return filter.split(/\s+/).every((term) => hay.includes(term));
  }

  function renderBody() {
    if (destroyed) return;
    if (nodes === null) {
      count.textContent = '…';
      if (loadError) {
        replace(
          body,
          emptyState({
            iconName: 'alert',
            title: 'Could not load nodes',
            text: loadError.display || loadError.message,
            testid: 'nodes-error',
            action: button('Try again', { iconName: 'refresh', onClick: () => { loadError = null; renderBody(); load(); } }),
          }),
        );
      } else {
        replace(body, skeleton());
      }
      return;
    }

    count.textContent = String(nodes.length);
    const sorted = [...nodes].sort((a, b) => String(a.id).localeCompare(String(b.id)));
    const visible = sorted.filter(matches);

    if (nodes.length === 0) {
      replace(
        body,
        emptyState({
          title: 'No nodes yet',
          text: ctx.canMutate
            ? 'Register a Zero-OS node to start managing it. Nodes that boot from this orchestrator appear here too.'
            : 'No Zero-OS node has been registered yet. Nodes appear here as soon as they are added.',
          testid: 'nodes-empty',
          action: ctx.canMutate
            ? button('Register node', { kind: 'primary', iconName: 'plus', onClick: () => openRegister() })
            : null,
        }),
      );
      firstRender = false;
      return;
    }
    if (visible.length === 0) {
      replace(
        body,
        emptyState({
          iconName: 'search',
          title: 'No matching nodes',
          text: `No node matches “${filterInput.value.trim()}”.`,
          testid: 'nodes-nomatch',
          action: button('Clear filter', {
            onClick: () => {
              filterInput.value = '';
              filter = '';
              renderBody();
              filterInput.focus();
            },
          }),
        }),
      );
      markSeen();
      return;
    }

    const table = h(
      'table',
      { class: 'table', testid: 'nodes-table' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', { scope: 'col' }, 'ID'),
          h('th', { scope: 'col' }, 'Hostname'),
          h('th', { scope: 'col' }, 'Address'),
          h('th', { scope: 'col' }, 'State'),
          h('th', { scope: 'col' }, 'Labels'),
          h('th', { scope: 'col' }, 'Updated'),
          ctx.canMutate ? h('th', { scope: 'col', class: 'col-actions' }, h('span', { class: 'sr-only' }, 'Actions')) : null,
        ),
      ),
      h('tbody', null, visible.map(row)),
    );
    const footer =
      visible.length !== nodes.length
        ? h('div', { class: 'table-foot', testid: 'nodes-filtered' }, `Showing ${visible.length} of ${nodes.length} nodes`)
        : null;
    replace(body, h('div', { class: 'table-scroll' }, table), footer);
    markSeen();
  }

  function markSeen() {
    for (const n of nodes || []) seenVersions.set(n.id, n.version);
    firstRender = false;
  }

  function row(node) {
    const prev = seenVersions.get(node.id);
    const changed = !firstRender && (prev === undefined || prev !== node.version);
    const hostname = node.hostname ? node.hostname : h('span', { class: 'muted' }, '—');
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
          h('span', { class: 'mono', testid: 'node-id' }, node.id),
          node.emulated ? h('span', { class: 'tag', title: 'Emulated node' }, 'emulated') : null,
        ),
      ),
      h('td', { dataset: { label: 'Hostname' }, testid: 'node-hostname' }, hostname),
      h(
        'td',
        { dataset: { label: 'Address' }, testid: 'node-address' },
        address ? h('span', { class: 'mono' }, address) : h('span', { class: 'muted' }, '—'),
      ),
      h('td', { dataset: { label: 'State' } }, stateBadge(node.state, node.status ? `state: ${node.state || 'unknown'} · power status: ${node.status}` : null)),
      h('td', { dataset: { label: 'Labels' }, testid: 'node-labels' }, labelChips(node.labels)),
      h(
        'td',
        { dataset: { label: 'Updated' }, class: 'nowrap' },
        h(
          'time',
          { datetime: node.updatedAt || '', title: formatAbsolute(node.updatedAt), dataset: { updated: node.updatedAt || '' } },
          formatRelative(node.updatedAt),
        ),
      ),
      ctx.canMutate
        ? h(
            'td',
            { class: 'col-actions' },
            h(
              'div',
              { class: 'row-actions' },
              button('Edit labels', {
                small: true,
                kind: 'ghost',
                iconName: 'tag',
                testid: 'node-edit',
                title: `Edit labels of ${node.id}`,
                onClick: () => openEditLabels(node),
              }),
              button('Delete', {
                small: true,
                kind: 'ghost-danger',
                iconName: 'trash',
                testid: 'node-delete',
                title: `Delete ${node.id}`,
                onClick: () => openDelete(node),
              }),
            ),
          )
        : null,
    );
  }

  function skeleton() {
    return h(
      'div',
      { class: 'skeleton', testid: 'nodes-loading', 'aria-busy': 'true', 'aria-label': 'Loading nodes' },
      [0, 1, 2, 3].map(() => h('div', { class: 'skeleton-row' })),
    );
  }

  // ---- local updates after our own mutations ------------------------------

  function upsert(node) {
    if (!node || typeof node !== 'object' || !node.id) return;
    if (nodes === null) nodes = [];
    const i = nodes.findIndex((n) => n.id === node.id);
    if (i >= 0) nodes[i] = node;
    else nodes.push(node);
    renderBody();
  }

  function removeLocal(id) {
    if (nodes === null) return;
    nodes = nodes.filter((n) => n.id !== id);
    renderBody();
  }

  // ---- register -----------------------------------------------------------

  function openRegister() {
    const idInput = h('input', { class: 'input input-mono', testid: 'node-form-id', autocomplete: 'off', spellcheck: 'false', maxlength: 64, placeholder: '0cc47aab6702', required: true });
    const hostInput = h('input', { class: 'input', testid: 'node-form-hostname', autocomplete: 'off', spellcheck: 'false', placeholder: 'node-1' });
    const addrInput = h('input', { class: 'input input-mono', testid: 'node-form-address', autocomplete: 'off', spellcheck: 'false', placeholder: '10.0.0.5 or host:port', required: true });
    const labels = labelEditor({});

    openModal({
      title: 'Register node',
      description: 'Add a Zero-OS node so the orchestrator can manage it.',
      testid: 'register-modal',
      submitLabel: 'Register node',
      body: h(
        'div',
        { class: 'form-grid' },
        field({ label: 'Node ID', name: 'id', control: idInput, hint: 'Letters, digits, “.”, “_” and “-”, up to 64 characters — usually the MAC address without colons.' }),
        field({ label: 'Hostname (optional)', name: 'hostname', control: hostInput }),
        field({ label: 'Address', name: 'address', control: addrInput, hint: 'IP address or host, with an optional :port.' }),
        labels.field,
      ),
      async onSubmit() {
        const id = idInput.value.trim();
        const hostname = hostInput.value.trim();
        const address = addrInput.value.trim();
        if (!id) throw new ApiError(400, 'invalid', 'The node ID is required.', 'id');
        if (!ID_RE.test(id)) {
          throw new ApiError(
            400,
            'invalid',
            'Use only letters, digits, “.”, “_” and “-” (at most 64 characters, not starting with “.”).',
            'id',
          );
        }
        if (!address) throw new ApiError(400, 'invalid', 'The address is required.', 'address');
        const labelMap = labels.read();
        const payload = { id, address, labels: labelMap };
        if (hostname) payload.hostname = hostname;
        const node = await api.createNode(payload);
        upsert(node);
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
        upsert(updated);
        toast(`Labels of ${node.id} updated.`, { type: 'success' });
      },
    });
  }

  // ---- delete -------------------------------------------------------------

  function openDelete(node) {
    openModal({
      title: 'Delete node?',
      testid: 'delete-modal',
      submitLabel: 'Delete node',
      danger: true,
      size: 'sm',
      body: h(
        'div',
        { class: 'confirm' },
        h('div', { class: 'confirm-icon' }, icon('trash', { size: 22 })),
        h(
          'p',
          null,
          'This removes ',
          h('strong', { class: 'mono' }, node.id),
          node.hostname ? ` (${node.hostname})` : '',
          ' from the orchestrator. The machine itself is not touched, and it can be registered again later.',
        ),
      ),
      async onSubmit() {
        try {
          await api.deleteNode(node.id);
        } catch (err) {
          if (err.status === 404) {
            removeLocal(node.id);
            toast(`Node ${node.id} was already deleted.`, { type: 'info' });
            return;
          }
          throw err;
        }
        removeLocal(node.id);
        toast(`Node ${node.id} deleted.`, { type: 'success' });
      },
    });
  }

  return {
    unmount() {
      destroyed = true;
      clearTimeout(debounceTimer);
      clearInterval(ticker);
      unsubscribe();
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
    const key = h('input', { class: 'input input-mono', testid: 'label-key', dataset: { fieldKey: '' }, placeholder: 'key', 'aria-label': 'Label key', autocomplete: 'off', spellcheck: 'false', value: k });
    const val = h('input', { class: 'input input-mono', testid: 'label-value', placeholder: 'value', 'aria-label': 'Label value', autocomplete: 'off', spellcheck: 'false', value: v });
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

  const wrap = h(
    'div',
    { class: 'field', dataset: { field: 'labels', multi: 'true' } },
    h('span', { class: 'field-label' }, 'Labels'),
    empty,
    rows,
    h('p', { class: 'field-message', hidden: true, role: 'alert' }),
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
