// The one component behind every list of a node's workloads (containers, VMs,
// storage pools, filesystems, snapshots, bridges, ZeroTier networks), so that
// a new kind is a declaration: its columns, how a row reads, its forms.
// workloadList() is the live list: read from the API, read again on each
// live change under its prefix or of its items' jobs, drawn as a table whose
// rows are updated in place (an opened row's details keep their state and
// focus), with the progress of busy items, and the flows each such list has
// (a create form with its wait, a row action, a delete). workloadTab() puts
// one in a node-page tab: heading, create button, card, empty state.

import { h, replace } from '../dom.js';
import { openModal, errorToast, emptyState, createButton, confirmAction, dataTable, panelHead, rowActions, deleteAction } from '../ui.js';
import { liveResource, asList, showLoadState, upsertItem, removeItem } from '../resource.js';
import { BUSY_STATES, jobWatcher, formWait, rowChange, changeUnder, syncRows, toggleCell, workloadBadge } from './workloads.js';

/**
 * workloadList(ctx, spec) → {list, watcher, stop(), saved(), act(), confirmRemove(), openForm()}
 * spec:
 * - name: what it lists ("storage pools", for the load state); body: the element it draws in
 * - fetch(): the items; key: the field that names one ('name'); sort(a, b): by key unless given
 * - collections, prefix: the live changes that concern it (see changeUnder)
 * - item: the testid stem of its rows ("pool": pool-row, pool-detail-row)
 * - table: {testid, columns, className, compact}
 * - row(item, cells) → {data (the row's data-*), cells}; `cells` builds the
 *   cells every kind has (see rowCells)
 * - detail(item) → {el, update?(item), stop()}: rows open to it (detailClass: the detail row's extra class)
 * - empty() → what shows when there are none; onCount(n) after each load; open: a key opened at first
 */
export function workloadList(ctx, spec) {
  const { name, body, fetch, key = 'name', collections, prefix, item, row, detail = null, detailClass = '', empty, onCount = () => {}, loadingRows = 2 } = spec;
  const sort = spec.sort || ((a, b) => String(a[key]).localeCompare(String(b[key])));
  let stopped = false;
  const expanded = new Set(spec.open ? [spec.open] : []);
  const entries = new Map(); // key → {main, detailRow, detail}
  const tbody = h('tbody');
  const table = dataTable({ ...spec.table, tbody, actions: ctx.canMutate });
  const colspan = String(spec.table.columns.length + (ctx.canMutate ? 1 : 0));

  const list = liveResource({
    name,
    key,
    fetcher: async () => asList(await fetch()),
    onChange: render,
    live: ctx.live,
    // A finished job changes its item's state: the list is read again then too.
    matches: (c) => collections.some((collection) => changeUnder(c, collection, prefix)) || watcher.owns(c),
  });
  const watcher = jobWatcher(ctx.live, () => asList(list.data), render);
  render();
  list.load();

  function render() {
    if (stopped || showLoadState(list, body, name, { rows: loadingRows })) return;
    const items = [...list.data].sort(sort);
    onCount(items.length);
    const keys = new Set(items.map((x) => x[key]));
    for (const [k, entry] of entries) {
      if (keys.has(k)) continue;
      if (entry.detail) entry.detail.stop();
      entries.delete(k);
    }
    if (!items.length) {
      replace(body, empty());
      return;
    }
    if (table.parentNode !== body) replace(body, table);
    const wanted = [];
    for (const x of items) {
      const k = x[key];
      let entry = entries.get(k);
      if (!entry) {
        entry = { main: h('tr', { testid: `${item}-row` }), detailRow: null, detail: null };
        entries.set(k, entry);
      }
      fill(entry.main, x);
      wanted.push(entry.main);
      if (detail && expanded.has(k)) {
        if (!entry.detail) {
          entry.detail = detail(x);
          entry.detailRow = h(
            'tr',
            { class: `ct-detail-row ${detailClass}`.trim(), testid: `${item}-detail-row`, dataset: { [key]: k } },
            h('td', { colspan }, entry.detail.el),
          );
        } else if (entry.detail.update) {
          entry.detail.update(x);
        }
        wanted.push(entry.detailRow);
      } else if (entry.detail) {
        entry.detail.stop();
        entry.detail = null;
        entry.detailRow = null;
      }
    }
    syncRows(tbody, wanted);
  }

  function fill(tr, x) {
    const open = expanded.has(x[key]);
    if (detail) tr.className = open ? 'ct-row is-open' : 'ct-row';
    const { data, cells } = row(x, rowCells(x, { item, open, onToggle: () => toggle(x[key]), progress: watcher.progress(x), name: String(x[key]) }));
    for (const [k, v] of Object.entries(data)) {
      if (v === null || v === undefined) delete tr.dataset[k];
      else tr.dataset[k] = String(v);
    }
    replace(tr, cells);
  }

  function toggle(k) {
    if (expanded.has(k)) expanded.delete(k);
    else expanded.add(k);
    render();
    const entry = entries.get(k);
    if (entry && entry.detailRow) entry.detailRow.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }

  return {
    list,
    watcher,
    /** After a create: keeps `view` (the 201's body; null after a job), opens the item `open`, reads the list again. */
    saved(view, { open = null } = {}) {
      if (open !== null) expanded.add(open);
      upsertItem(list, view);
      list.load();
    },
    /** A row's action button (start, stop …): busy while `call` runs; words: {done, pending, failed} for the toasts. */
    async act(btn, call, { done, pending, failed }) {
      btn.classList.add('is-busy');
      btn.disabled = true;
      try {
        await rowChange(call, { watcher, done, pending });
      } catch (err) {
        if (err.status !== 401) errorToast(err, failed);
      } finally {
        btn.classList.remove('is-busy');
        btn.disabled = false;
      }
      // Some changes (a VM's pause) send no live change: read the list again.
      list.load();
    },
    /**
     * Asks (a delete unless testid/iconName say otherwise), then runs `call`;
     * an applied change drops item `k` at once, a 202 is followed in its row.
     * mapError(err) words the refusal shown in the dialog.
     */
    confirmRemove(k, { call, done, pending, mapError = (err) => err, testid = 'delete-modal', iconName = 'trash', ...modal }) {
      confirmAction({
        ...modal,
        testid,
        iconName,
        async onConfirm() {
          try {
            if (await rowChange(call, { watcher, done, pending })) {
              expanded.delete(k);
              removeItem(list, k);
            }
          } catch (err) {
            throw mapError(err);
          } finally {
            list.load();
          }
        },
      });
    },
    /**
     * A create (or edit) dialog: `fields` in a form grid, with the wait box
     * `wait` (its testid; null: none) after them; onSubmit(wait) as
     * openModal's. Resolves to the modal.
     */
    openForm({ wait: waitTestid = null, fields, onSubmit, ...modal }) {
      let dialog = null;
      const wait = waitTestid ? formWait(ctx, { testid: waitTestid, watcher, close: () => dialog && dialog.close() }) : null;
      dialog = openModal({
        ...modal,
        fields: [fields, wait ? wait.el : null],
        onClose: () => wait && wait.stop(),
        onSubmit: () => onSubmit(wait),
      });
      return dialog;
    },
    stop() {
      stopped = true;
      list.stop();
      watcher.stop();
      for (const entry of entries.values()) if (entry.detail) entry.detail.stop();
      entries.clear();
    },
  };
}

/**
 * The cells a workload's row is made of, for its row(): nameCell(label, what,
 * sub) is the item's name as the button that opens its details ("Show `what`
 * of <name>"), `sub` under it; stateCell(label, ...badges) the badges, then the
 * progress of the item's job while it is busy; stateOrStatus(title) the badge
 * of the item's state while a job works on it, else of its status as the node
 * reports it (`title`: that one's tooltip). Their testids are the item's
 * stem's: <item>-toggle, -name, -state, -status.
 */
function rowCells(x, { item, open, onToggle, progress, name }) {
  return {
    nameCell: (label, what, sub = null) =>
      h('td', { dataset: { label } }, toggleCell({ name, sub, open, testid: `${item}-toggle`, nameTestid: `${item}-name`, what: `${what} of ${name}`, onToggle })),
    stateCell: (label, ...badges) => h('td', { dataset: { label } }, h('div', { class: 'ct-state' }, badges, progress)),
    stateOrStatus: (title = null) =>
      BUSY_STATES.has(x.state) ? workloadBadge(x.state, { testid: `${item}-state` }) : workloadBadge(x.status, { testid: `${item}-status`, title }),
  };
}

/**
 * workloadTab(ctx, nodeId, place, spec) → workloadList's object with `el` and
 * unmount(): the list of node `nodeId`'s items (its live changes are those
 * under `<nodeId>/`) in a tab of the node's page; place: {open, onCount}, as
 * the page gives them to each tab (see workloadList). Beside workloadList's
 * spec: testid (the tab's element and class), ids (the stem of its -card,
 * -table and -empty testids; testid unless given), title, sub, create:
 * {label, testid (<item>-create unless given), onClick} (shown to those who
 * may change things), empty: {iconName, text, viewerText}. The tab says what
 * it lists in workloadList's `name`: its heading is that ("Virtual
 * machines"), its empty state's title "No virtual machines".
 */
export function workloadTab(ctx, nodeId, place, { testid, ids = testid, sub, create, empty, ...spec }) {
  const title = spec.name[0].toUpperCase() + spec.name.slice(1);
  const newButton = (buttonTestid) => createButton(ctx, create.label, { testid: buttonTestid, onClick: create.onClick });
  const body = h('div', { class: 'card table-card', testid: `${ids}-card` });
  const tab = workloadList(ctx, {
    ...place,
    ...spec,
    prefix: `${nodeId}/`,
    body,
    table: { ...spec.table, testid: `${ids}-table` },
    empty: () =>
      emptyState({
        iconName: empty.iconName,
        title: `No ${spec.name}`,
        text: ctx.canMutate ? empty.text : empty.viewerText,
        testid: `${ids}-empty`,
        action: newButton(null),
      }),
  });
  tab.el = h('div', { class: testid, testid }, panelHead(title, sub, newButton(create.testid || `${spec.item}-create`)), body);
  tab.unmount = tab.stop;
  return tab;
}

/** The actions cell of a workload's row: `actions` ({label, iconName, …} as rowActions takes them), then Delete (off while it is being deleted). */
export function workloadActions(item, { what, testid, onDelete }, ...actions) {
  return rowActions(...actions, { ...deleteAction(what, testid, onDelete), disabled: item.state === 'deleting' });
}
