// Shared UI components: toasts, modals, form fields, badges, label chips,
// empty states, page layout, tables and row actions.

import { ApiError } from './api.js';
import { h, icon, append, replace, formatRelative, formatAbsolute } from './dom.js';

// ---- toasts ---------------------------------------------------------------

let toastRegion = null;

function region() {
  if (!toastRegion || !toastRegion.isConnected) {
    toastRegion = h('div', { class: 'toasts', role: 'region', 'aria-label': 'Notifications', testid: 'toasts' });
    document.body.appendChild(toastRegion);
  }
  syncToasts();
  return toastRegion;
}

// An open modal <dialog> sits in the top layer, above everything in <body>;
// keep the toasts visible by living inside the topmost open dialog.
function syncToasts(leaving = null) {
  if (!toastRegion) return;
  const open = [...document.querySelectorAll('dialog[open]')].filter((d) => d !== leaving);
  const parent = open.length ? open[open.length - 1] : document.body;
  if (toastRegion.parentNode !== parent) parent.appendChild(toastRegion);
}

/** toast('Node deleted', {type: 'success'}) — type: error | success | info */
export function toast(message, { type = 'info', title = null, timeout } = {}) {
  const ms = timeout ?? (type === 'error' ? 8000 : 4000);
  const el = h(
    'div',
    {
      class: `toast toast-${type}`,
      role: type === 'error' ? 'alert' : 'status',
      testid: 'toast',
      dataset: { type },
    },
    h('span', { class: 'toast-icon' }, icon(type === 'error' ? 'alert' : type === 'success' ? 'check' : 'info')),
    h('div', { class: 'toast-text' }, title ? h('strong', null, title) : null, h('span', null, message)),
    h(
      'button',
      { class: 'icon-btn toast-close', type: 'button', 'aria-label': 'Dismiss', onclick: () => dismiss() },
      icon('x', { size: 16 }),
    ),
  );
  let timer = null;
  function dismiss() {
    clearTimeout(timer);
    el.classList.add('toast-leave');
    setTimeout(() => el.remove(), 180);
  }
  region().appendChild(el);
  if (ms > 0) timer = setTimeout(dismiss, ms);
  el.addEventListener('mouseenter', () => clearTimeout(timer));
  el.addEventListener('mouseleave', () => {
    if (ms > 0) timer = setTimeout(dismiss, ms / 2);
  });
  return dismiss;
}

export function errorToast(err, title = null) {
  const msg = err && err.display ? err.display : err && err.message ? err.message : String(err);
  return toast(msg, { type: 'error', title });
}

// ---- modals ---------------------------------------------------------------

/**
 * openModal({title, description?, testid, body | fields, submitLabel, danger, onSubmit})
 * `fields` (form fields, see field()) are laid out in the form grid.
 * onSubmit(modal) may be async; throw to keep the modal open (ApiError with
 * a `field` is shown next to the matching [data-field] input). Returning
 * normally closes the modal.
 */
export function openModal({
  title,
  description = null,
  testid = 'modal',
  body = null,
  fields = null,
  submitLabel = 'Save',
  cancelLabel = 'Cancel',
  danger = false,
  size = 'md',
  onSubmit,
  onClose,
}) {
  const errorBox = h('div', { class: 'form-error', role: 'alert', testid: 'modal-error', hidden: true });
  const submitBtn = h(
    'button',
    { type: 'submit', class: `btn ${danger ? 'btn-danger' : 'btn-primary'}`, testid: 'modal-submit' },
    h('span', { class: 'spinner', 'aria-hidden': 'true' }),
    h('span', { class: 'btn-label' }, submitLabel),
  );
  const cancelBtn = h(
    'button',
    { type: 'button', class: 'btn btn-ghost', testid: 'modal-cancel', onclick: () => close() },
    cancelLabel,
  );
  const titleId = `modal-title-${Math.random().toString(36).slice(2)}`;
  const form = h(
    'form',
    { class: 'modal-card', novalidate: true },
    h(
      'header',
      { class: 'modal-header' },
      h(
        'div',
        null,
        h('h2', { id: titleId, class: 'modal-title' }, title),
        description ? h('p', { class: 'modal-desc' }, description) : null,
      ),
      h(
        'button',
        { type: 'button', class: 'icon-btn', 'aria-label': 'Close', testid: 'modal-close', onclick: () => close() },
        icon('x'),
      ),
    ),
    h('div', { class: 'modal-body' }, errorBox, fields ? h('div', { class: 'form-grid' }, fields) : body),
    h('footer', { class: 'modal-footer' }, cancelBtn, submitBtn),
  );
  const dialog = h('dialog', { class: `modal modal-${size}`, testid, 'aria-labelledby': titleId }, form);

  let busy = false;
  let closed = false;

  function close() {
    if (closed) return;
    closed = true;
    syncToasts(dialog);
    if (dialog.open) dialog.close();
    dialog.remove();
    if (onClose) onClose();
  }

  const { clear: clearErrors, show: setError } = formErrors(form, errorBox);

  function setBusy(on) {
    busy = on;
    submitBtn.disabled = on;
    submitBtn.classList.toggle('is-busy', on);
    form.setAttribute('aria-busy', on ? 'true' : 'false');
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (busy) return;
    clearErrors();
    setBusy(true);
    try {
      if (onSubmit) await onSubmit(modal);
      close();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  });
  dialog.addEventListener('cancel', (ev) => {
    ev.preventDefault();
    if (!busy) close();
  });
  dialog.addEventListener('mousedown', (ev) => {
    // click on the backdrop (outside the card) closes
    if (ev.target === dialog && !busy) close();
  });

  const modal = { dialog, form, close, setError, clearErrors };
  document.body.appendChild(dialog);
  dialog.showModal();
  syncToasts();
  const first = form.querySelector('.modal-body input:not([type=hidden]), .modal-body textarea');
  if (first) first.focus();
  else submitBtn.focus();
  return modal;
}

/**
 * Error display of a form: show(err) puts an error whose `field` matches a
 * [data-field] wrapper next to it (marking and focusing its input), anything
 * else in errorBox; clear() removes them all.
 */
export function formErrors(form, errorBox) {
  function clear() {
    errorBox.hidden = true;
    errorBox.textContent = '';
    for (const el of form.querySelectorAll('.field-invalid')) el.classList.remove('field-invalid');
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    for (const el of form.querySelectorAll('.field-message')) {
      el.textContent = '';
      el.hidden = true;
    }
  }

  function show(err) {
    const message = err && err.message ? err.message : String(err);
    const field = err && err.field ? String(err.field) : null;
    let shownInline = false;
    if (field) {
      const wrap =
        [...form.querySelectorAll('[data-field]')].find((el) => el.dataset.field === field) ||
        [...form.querySelectorAll('[data-field]')].find((el) => field.startsWith(`${el.dataset.field}.`));
      if (wrap) {
        const sub = field === wrap.dataset.field ? null : field.slice(wrap.dataset.field.length + 1);
        wrap.classList.add('field-invalid');
        const msg = wrap.querySelector('.field-message');
        if (msg) {
          let text = message;
          if (sub && !message.includes(field)) text = `${message} (${field})`;
          else if (!sub && message.startsWith(`${field}: `)) {
            // "hostname: must be …" next to the hostname field → "Must be …"
            const rest = message.slice(field.length + 2);
            text = rest.charAt(0).toUpperCase() + rest.slice(1);
          }
          msg.textContent = text;
          msg.hidden = false;
          shownInline = true;
        }
        // A sub-field ("labels.rack") marks only the matching keyed input.
        const keyed = sub
          ? [...wrap.querySelectorAll('[data-field-key]')].find((el) => el.value.trim() === sub)
          : null;
        const input = keyed || (wrap.dataset.multi ? null : wrap.querySelector('input, textarea, select'));
        if (input) input.setAttribute('aria-invalid', 'true');
        const focus = input || wrap.querySelector('[aria-invalid="true"]');
        if (focus) focus.focus();
      }
    }
    if (!shownInline) {
      errorBox.hidden = false;
      errorBox.textContent = field && !message.includes(field) ? `${message} (field: ${field})` : message;
    }
  }

  return { clear, show };
}

/**
 * The error line of a lone input (a form of one field, outside a modal):
 * show(text) fills `box`, marks the input invalid and focuses it; clear()
 * hides it again, as does the next edit.
 */
export function inputError(input, box) {
  function clear() {
    box.hidden = true;
    box.textContent = '';
    input.removeAttribute('aria-invalid');
  }
  input.addEventListener('input', clear);
  return {
    clear,
    show(text) {
      box.textContent = text;
      box.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    },
  };
}

/**
 * textInput(testid, attrs) → <input>: a text input for names, ids and
 * addresses (monospace unless mono: false), which the browser neither
 * autocompletes nor spellchecks; attrs as h() takes them (placeholder …).
 */
export function textInput(testid, { mono = true, ...attrs } = {}) {
  return h('input', { class: mono ? 'input input-mono' : 'input', testid, autocomplete: 'off', spellcheck: 'false', ...attrs });
}

/** A labelled form field wrapper with an inline error slot. */
export function field({ label, name, hint = null, control }) {
  const id = `f-${name}-${Math.random().toString(36).slice(2, 8)}`;
  control.id = id;
  return h(
    'div',
    { class: 'field', dataset: { field: name } },
    h('label', { for: id, class: 'field-label' }, label),
    control,
    fieldMessage(),
    hint ? h('p', { class: 'field-hint' }, hint) : null,
  );
}

/** The inline error slot of a field, filled by formErrors(). */
export function fieldMessage() {
  return h('p', { class: 'field-message', hidden: true, role: 'alert' });
}

/**
 * A field made of several controls (a list, a segmented choice …): its
 * data-field is the API's field name; an error marks no single input.
 */
export function groupField({ name, label }, ...children) {
  return h(
    'div',
    { class: 'field', dataset: { field: name, multi: 'true' } },
    h('span', { class: 'field-label' }, label),
    children,
  );
}

/**
 * Radio buttons that look like a segmented control.
 * options: [{value, label, testid}]; value() is the checked option's value.
 */
export function segmented({ label, options, checked }) {
  const name = `segmented-${Math.random().toString(36).slice(2, 8)}`;
  const el = h(
    'div',
    { class: 'segmented', role: 'radiogroup', 'aria-label': label },
    options.map((o) =>
      h(
        'label',
        { class: 'segment', testid: o.testid },
        h('input', { type: 'radio', name, value: o.value, checked: o.value === checked }),
        h('span', null, o.label),
      ),
    ),
  );
  return { el, value: () => el.querySelector('input:checked').value };
}

/** Ids and names the API accepts: letters, digits, ".", "_" and "-", at most 64, not starting with ".". */
export const NAME_RE = /^(?!\.)[A-Za-z0-9._-]{1,64}$/;

/** Throws the field error a modal shows when a required name is missing or not a valid name. */
export function checkName(value, { field: name, what }) {
  if (!value) throw new ApiError(400, 'invalid', `The ${what} is required.`, name);
  if (!NAME_RE.test(value)) {
    throw new ApiError(
      400,
      'invalid',
      'Use only letters, digits, “.”, “_” and “-” (at most 64 characters, not starting with “.”).',
      name,
    );
  }
}

// ---- confirm & delete -------------------------------------------------------

/**
 * A small "Do …?" modal with a red button: `text` is the paragraph's content,
 * onConfirm works as openModal's onSubmit.
 */
export function confirmAction({ title, submitLabel, text, onConfirm, testid, iconName }) {
  return openModal({
    title,
    testid,
    submitLabel,
    danger: true,
    size: 'sm',
    body: h('div', { class: 'confirm' }, h('div', { class: 'confirm-icon' }, glyph(iconName, { size: 22 })), h('p', null, text)),
    onSubmit: onConfirm,
  });
}

/** The "Delete …?" modal (see confirmAction). */
export function confirmDelete({ title, submitLabel, text, onConfirm }) {
  return confirmAction({ title, submitLabel, text, onConfirm, testid: 'delete-modal', iconName: 'trash' });
}

// ---- badges, chips, states ------------------------------------------------

const STATE_STYLES = {
  online: 'ok',
  unknown: 'neutral',
  unreachable: 'warn',
  auth_failed: 'danger',
  error: 'danger',
};

/** The tone (ok, warn, danger, neutral) of a node state. */
export function stateTone(state) {
  return STATE_STYLES[state] || 'neutral';
}

export function stateBadge(state, title = null) {
  const s = typeof state === 'string' && state ? state : 'unknown';
  const tone = stateTone(s);
  return h(
    'span',
    { class: `badge badge-${tone}`, testid: 'state-badge', dataset: { state: s }, title },
    h('span', { class: 'badge-dot', 'aria-hidden': 'true' }),
    s.replace(/_/g, ' '),
  );
}

/** A node's state badge; its tooltip has the reason and when the node was last seen. */
export function nodeStateBadge(node) {
  const title = [node.reason, node.lastSeen ? `last seen ${node.lastSeen}` : null].filter(Boolean).join(' · ');
  return stateBadge(node.state, title || null);
}

/** The "emulated" tag of a node that the built-in emulator runs (null for real ones). */
export function emulatedTag(node) {
  return node.emulated ? h('span', { class: 'tag', testid: 'node-emulated', title: 'Emulated node' }, 'emulated') : null;
}

/** The address of a node's page. */
export function nodeHref(id) {
  return `#/nodes/${encodeURIComponent(id)}`;
}

export function labelChips(labels) {
  const entries = labels && typeof labels === 'object' ? Object.entries(labels) : [];
  if (entries.length === 0) return h('span', { class: 'muted' }, '—');
  entries.sort(([a], [b]) => a.localeCompare(b));
  return h(
    'div',
    { class: 'chips' },
    entries.map(([k, v]) =>
      h(
        'span',
        { class: 'chip', testid: 'label-chip', dataset: { key: k }, title: `${k}=${v}` },
        h('span', { class: 'chip-key' }, k),
        h('span', { class: 'chip-sep' }, '='),
        h('span', { class: 'chip-val' }, v === null || v === undefined ? '' : String(v)),
      ),
    ),
  );
}

/** "updated … ago" as a <time> that relativeTimeTicker() keeps fresh. */
export function relativeTime(iso) {
  return h('time', { datetime: iso || '', title: formatAbsolute(iso), dataset: { updated: iso || '' } }, formatRelative(iso));
}

/** Re-renders the [data-updated] times below root every `ms`; returns the function that stops it. */
export function relativeTimeTicker(root, ms) {
  const timer = setInterval(() => {
    for (const el of root.querySelectorAll('[data-updated]')) el.textContent = formatRelative(el.dataset.updated);
  }, ms);
  return () => clearInterval(timer);
}

/** The muted "—" of a value that is missing; `title` says why. */
export function dash(title = null) {
  return h('span', { class: 'muted', title }, '—');
}

export function emptyState({ iconName = 'server', title, text, action = null, testid = 'empty-state' }) {
  return h(
    'div',
    { class: 'empty', testid },
    h('div', { class: 'empty-icon' }, glyph(iconName, { size: 28 })),
    h('h3', null, title),
    text ? h('p', null, text) : null,
    action,
  );
}

/**
 * A button; with `spinner`, toggling its `is-busy` class shows a spinner in
 * place of the icon (for actions that wait for the server).
 */
export function button(label, { kind = 'secondary', iconName = null, testid = null, onClick, title = null, disabled = false, small = false, spinner = false } = {}) {
  return h(
    'button',
    {
      type: 'button',
      class: `btn btn-${kind}${small ? ' btn-sm' : ''}`,
      testid,
      title,
      disabled,
      onclick: onClick,
    },
    spinner ? h('span', { class: 'spinner', 'aria-hidden': 'true' }) : null,
    iconName ? glyph(iconName, { size: small ? 15 : 17 }) : null,
    h('span', { class: 'btn-label' }, label),
  );
}

/** The primary "+ New …" button of a list, for those who may change things (null for the others). */
export function createButton(ctx, label, { testid = null, onClick }) {
  return ctx.canMutate ? button(label, { kind: 'primary', iconName: 'plus', testid, onClick }) : null;
}

// ---- pages, tables, row actions ---------------------------------------------

/** A view's page: heading (title, subtitle) with the actions at its right, then the content. */
export function viewPage({ testid, title, sub, actions = null }, ...content) {
  return h(
    'div',
    { class: 'page', testid },
    h(
      'header',
      { class: 'page-header' },
      h('div', { class: 'page-heading' }, h('h1', null, title), h('p', { class: 'page-sub' }, sub)),
      h('div', { class: 'page-actions' }, actions),
    ),
    content,
  );
}

/** The heading of a card: title and subtitle, with the actions at its right. */
export function cardHead(title, sub = null, ...actions) {
  return h(
    'div',
    { class: 'card-head' },
    h('div', null, h('h2', null, title), sub ? h('p', { class: 'card-sub' }, sub) : null),
    actions.length ? h('div', { class: 'card-actions' }, actions) : null,
  );
}

/** The heading of a tab's panel: title and subtitle, with the action (e.g. its create button) at its right. */
export function panelHead(title, sub, action = null) {
  return h(
    'div',
    { class: 'panel-head' },
    h('div', null, h('h2', null, title), h('p', { class: 'panel-sub' }, sub)),
    action ? h('div', { class: 'page-actions' }, action) : null,
  );
}

/** The "Read-only" pill for roles that cannot change anything (null for those who can). */
export function readOnlyPill(ctx, can) {
  if (ctx.canMutate) return null;
  return h(
    'span',
    { class: 'readonly-pill', testid: 'readonly', title: `Your role (${ctx.user.role}) can ${can}.` },
    'Read-only',
  );
}

/**
 * The statistic card of a stats grid. `small` keeps long values on one line
 * (ellipsized); `mono` sets them in the monospace font.
 */
export function statCard(label, value, { testid, sub = null, iconName = null, tone = null, small = false, mono = false }) {
  const valueClass = ['stat-value', small && 'stat-value-sm', mono && 'mono', tone && `tone-${tone}`].filter(Boolean).join(' ');
  return h(
    'div',
    { class: 'stat card', testid },
    h('div', { class: 'stat-label' }, iconName ? glyph(iconName, { size: 15 }) : null, label),
    h('div', { class: valueClass, testid: `${testid}-value` }, value),
    sub ? h('div', { class: 'stat-sub' }, sub) : null,
  );
}

/**
 * A table in its horizontal scroller. columns: 'Label' or {label, class};
 * the body is `tbody` (kept by a caller that updates its rows in place) or
 * one made of `rows`; `actions` adds the actions column (labelled for screen
 * readers only).
 */
export function dataTable({ testid, columns, rows = null, tbody = null, actions = false, compact = false, className = '' }) {
  return h(
    'div',
    { class: 'table-scroll' },
    h(
      'table',
      { class: `table${compact ? ' table-compact' : ''} ${className}`.trim(), testid },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          columns.map((c) => (typeof c === 'string' ? h('th', { scope: 'col' }, c) : h('th', { scope: 'col', class: c.class }, c.label))),
          actions ? h('th', { scope: 'col', class: 'col-actions' }, h('span', { class: 'sr-only' }, 'Actions')) : null,
        ),
      ),
      tbody || h('tbody', null, rows),
    ),
  );
}

/**
 * A card's compact table of `rows`, or in its place, when there are none,
 * the one-line note `note` (its testid `noteTestid`, its class `noteClass`).
 */
export function tableOrNote(rows, { note, noteTestid, noteClass = 'muted cluster-note', ...table }) {
  if (rows.length === 0) return h('p', { class: noteClass, testid: noteTestid }, note);
  return dataTable({ compact: true, ...table, rows });
}

/** The actions cell of a table row: small ghost buttons from {label, iconName, testid, title, onClick, danger} (null: none). */
export function rowActions(...actions) {
  return h(
    'td',
    { class: 'col-actions' },
    h(
      'div',
      { class: 'row-actions' },
      actions.filter(Boolean).map(({ label, danger = false, ...rest }) => button(label, { small: true, kind: danger ? 'ghost-danger' : 'ghost', ...rest })),
    ),
  );
}

/** The row action that deletes the item called `name`. */
export function deleteAction(name, testid, onClick) {
  return { label: 'Delete', danger: true, iconName: 'trash', testid, title: `Delete ${name}`, onClick };
}

/**
 * A list's filter: the search box (`el`) and the card (`body`) that shows
 * what passes it. `query` is what was typed (trimmed, lower case), onChange
 * runs on every edit; matches(fields) says whether every word of the query
 * occurs in one of the fields. `name` is the stem of the testids: name-filter
 * (the box), name-card, name-nomatch and name-filtered (the foot).
 */
export function filterBox({ name, placeholder, label, onChange }) {
  const input = h('input', {
    type: 'search',
    class: 'input',
    placeholder,
    'aria-label': label,
    testid: `${name}-filter`,
    autocomplete: 'off',
    spellcheck: 'false',
  });
  const box = {
    input,
    query: '',
    el: h('div', { class: 'search' }, icon('search', { size: 16, className: 'icon search-icon' }), input),
    body: h('div', { class: 'card table-card', testid: `${name}-card` }),
    matches(fields) {
      if (!box.query) return true;
      const hay = fields
        .filter((x) => x !== null && x !== undefined)
        .join('\n')
        .toLowerCase();
      return box.query.split(/\s+/).every((term) => hay.includes(term));
    },
    /** The empty state when nothing matches ("No matching …", text(query)), with a button that clears the filter. */
    noMatch(title, text) {
      return emptyState({
        iconName: 'search',
        title,
        text: text(input.value.trim()),
        testid: `${name}-nomatch`,
        action: button('Clear filter', {
          onClick: () => {
            input.value = '';
            box.query = '';
            onChange();
            input.focus();
          },
        }),
      });
    },
    /**
     * Fills the card: the table (dataTable's spec), then `more` (a pager),
     * then "Showing 3 of 7 nodes" when the filter left out some of `total`
     * (`shown` of them passed it: the table's rows unless given).
     */
    show(table, { total, noun, shown = table.rows.length, more = null }) {
      const foot = shown === total ? null : h('div', { class: 'table-foot', testid: `${name}-filtered` }, `Showing ${shown} of ${total} ${noun}`);
      replace(box.body, dataTable(table), more, foot);
    },
  };
  input.addEventListener('input', () => {
    box.query = input.value.trim().toLowerCase();
    onChange();
  });
  return box;
}

/** The `?…` of the page's address (#/nodes/x?tab=vms&open=web-1), as URLSearchParams. */
export function hashQuery() {
  return new URLSearchParams(location.hash.split('?')[1] || '');
}

/**
 * Tabs: tabBar({tabs: [{key, label, iconName}], testid, route, onSelect})
 * → {el (the tab list), panels: {key: <section>}, show(key), current, setCount(key, n|null)}.
 * `route` is the page's address: the tab shown is the address's `?tab=`,
 * and each change writes it there (the first tab is the bare address), so a
 * reload or a shared link opens the same tab. Arrow keys, Home and End move
 * between the tabs; show(key) opens one from code; onSelect(key) runs on
 * each change.
 */
export function tabBar({ tabs, testid, label, route, onSelect = () => {} }) {
  const buttons = {};
  const counts = {};
  const panels = {};
  let current = null;
  const el = h('div', { class: 'tabs', role: 'tablist', 'aria-label': label, testid });
  for (const t of tabs) {
    counts[t.key] = h('span', { class: 'tab-count', hidden: true });
    buttons[t.key] = h(
      'button',
      {
        type: 'button',
        class: 'tab',
        role: 'tab',
        id: `${testid}-tab-${t.key}`,
        'aria-controls': `${testid}-panel-${t.key}`,
        testid: `${testid}-${t.key}`,
        dataset: { tab: t.key },
        onclick: () => choose(t.key),
      },
      t.iconName ? glyph(t.iconName, { size: 16 }) : null,
      h('span', null, t.label),
      counts[t.key],
    );
    el.appendChild(buttons[t.key]);
    panels[t.key] = h('section', {
      class: 'tab-panel',
      role: 'tabpanel',
      id: `${testid}-panel-${t.key}`,
      'aria-labelledby': `${testid}-tab-${t.key}`,
      testid: `${testid}-panel-${t.key}`,
    });
  }
  const keys = tabs.map((t) => t.key);
  el.addEventListener('keydown', (ev) => {
    const i = keys.indexOf(current);
    const next = { ArrowRight: keys[(i + 1) % keys.length], ArrowLeft: keys[(i - 1 + keys.length) % keys.length], Home: keys[0], End: keys[keys.length - 1] }[ev.key];
    if (next) {
      ev.preventDefault();
      choose(next);
      buttons[next].focus();
    }
  });
  function select(key) {
    current = key;
    for (const k of keys) {
      const on = k === key;
      buttons[k].setAttribute('aria-selected', on ? 'true' : 'false');
      buttons[k].tabIndex = on ? 0 : -1;
      buttons[k].classList.toggle('active', on);
      panels[k].hidden = !on;
    }
  }
  function choose(key) {
    if (key === current) return;
    select(key);
    const url = key === keys[0] ? route : `${route}?tab=${key}`;
    if (location.hash !== url) history.replaceState(null, '', url);
    onSelect(key);
  }
  const selected = hashQuery().get('tab');
  select(keys.includes(selected) ? selected : keys[0]);
  return {
    el,
    panels,
    show: choose,
    get current() {
      return current;
    },
    setCount(key, n) {
      counts[key].hidden = n === null || n === undefined;
      counts[key].textContent = n === null || n === undefined ? '' : String(n);
    },
  };
}

// ---- more icons -------------------------------------------------------------

// Icons beyond dom.js's set, built the same way: constant path data only.
const MORE_ICONS = {
  power: ['M12 3v8', 'M6.4 6.6a8 8 0 1 0 11.2 0'],
  upload: ['M12 15V4', 'M7 9l5-5 5 5', 'M4 15v5h16v-5'],
  download: ['M12 4v11', 'M7 10l5 5 5-5', 'M4 15v5h16v-5'],
  edit: ['M4 20h4L19 9l-4-4L4 16z', 'M13.5 6.5l4 4'],
  file: ['M6 3h8l5 5v13H6z', 'M14 3v5h5'],
  layers: ['M12 3l9 5-9 5-9-5z', 'M3 13l9 5 9-5'],
  target: ['M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z', 'M12 16a4 4 0 1 0 0-8 4 4 0 0 0 0 8z', 'M12 12h.01'],
  sliders: ['M4 6h9', 'M17 6h3', 'M15 4v4', 'M4 12h3', 'M11 12h9', 'M9 10v4', 'M4 18h11', 'M19 18h1', 'M17 16v4'],
  activity: ['M3 12h4l3 7 4-14 3 7h4'],
  up: ['M12 19V5', 'M6 11l6-6 6 6'],
  down: ['M12 5v14', 'M6 13l6 6 6-6'],
  chevron: ['M6 9l6 6 6-6'],
  copy: ['M9 9h11v11H9z', 'M5 15H4V4h11v1'],
  book: ['M4 19V5a2 2 0 0 1 2-2h14v14H6a2 2 0 0 0-2 2 2 2 0 0 0 2 2h14v-4'],
  network: ['M12 3v6', 'M5 21v-4h14v4', 'M12 13v4', 'M8 9h8v4H8z'],
  back: ['M19 12H5', 'M11 6l-6 6 6 6'],
  cpu: ['M7 7h10v10H7z', 'M10 10h4v4h-4z', 'M10 3v4', 'M14 3v4', 'M10 17v4', 'M14 17v4', 'M3 10h4', 'M3 14h4', 'M17 10h4', 'M17 14h4'],
  memory: ['M3 7h18v9H3z', 'M7 10v3', 'M11 10v3', 'M15 10v3', 'M6 16v3', 'M10 16v3', 'M14 16v3', 'M18 16v3'],
  disk: ['M3 14h18v5H3z', 'M5 14l3-9h8l3 9', 'M17 16.5h.01'],
  terminal: ['M4 5h16v14H4z', 'M8 10l3 2-3 2', 'M13 15h3'],
  list: ['M9 6h11', 'M9 12h11', 'M9 18h11', 'M4.5 6h.01', 'M4.5 12h.01', 'M4.5 18h.01'],
  play: ['M7 4l13 8-13 8z'],
  stop: ['M6 6h12v12H6z'],
  pause: ['M8 5v14', 'M16 5v14'],
  monitor: ['M3 4h18v12H3z', 'M8 20h8', 'M12 16v4'],
};

/** icon() with the extra names above; falls back to dom.js's icons. */
export function glyph(name, options = {}) {
  const svg = icon(MORE_ICONS[name] ? '' : name, options);
  const SVG_NS = 'http://www.w3.org/2000/svg';
  for (const d of MORE_ICONS[name] || []) {
    const path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', d);
    svg.appendChild(path);
  }
  return svg;
}

/** A small "copy to clipboard" icon button for the given text. */
export function copyButton(text, { label = 'Copy', testid = null } = {}) {
  const btn = h(
    'button',
    {
      type: 'button',
      class: 'icon-btn icon-btn-sm copy-btn',
      title: label,
      'aria-label': label,
      testid,
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(text);
          btn.classList.add('copied');
          setTimeout(() => btn.classList.remove('copied'), 1200);
          toast('Copied to the clipboard.', { type: 'success', timeout: 1800 });
        } catch {
          toast('The browser did not allow copying; select the text instead.', { type: 'error' });
        }
      },
    },
    glyph('copy', { size: 14 }),
  );
  return btn;
}

export { append };
