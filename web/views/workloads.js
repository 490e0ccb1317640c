// What the node-page tabs of storage, bridges and ZeroTier networks share:
// a badge for a workload's state, the jobs of a list's items (read again on
// each live change of them), the wait box of a create form (which follows the
// job when the node is slower than the server waits), and the answer of a
// change made from a row (201/204 applied, 202 a job that the list follows).

import { api, ApiError } from '../api.js';
import { h, replace } from '../dom.js';
import { button, toast, glyph } from '../ui.js';
import { followJob, jobFinished, jobProgress, jobError } from './jobs.js';

export const BUSY_STATES = new Set(['creating', 'starting', 'stopping', 'deleting']);

// Our `state` words (healthy, ready, up, joined, a VM's running/paused/halted …) and the node's status words (a pool's
// healthy/degraded/error/unknown, a ZeroTier network's OK/REQUESTING_CONFIGURATION/ACCESS_DENIED …).
const TONES = {
  healthy: 'ok',
  ready: 'ok',
  up: 'ok',
  joined: 'ok',
  OK: 'ok',
  running: 'ok',
  paused: 'warn',
  halted: 'neutral',
  degraded: 'warn',
  REQUESTING_CONFIGURATION: 'warn',
  absent: 'warn',
  unknown: 'neutral',
  down: 'neutral',
  error: 'danger',
  ACCESS_DENIED: 'danger',
  NOT_FOUND: 'danger',
  PORT_ERROR: 'danger',
  CLIENT_TOO_OLD: 'danger',
};

const LABELS = { REQUESTING_CONFIGURATION: 'requesting configuration', ACCESS_DENIED: 'access denied', NOT_FOUND: 'not found', PORT_ERROR: 'port error', CLIENT_TOO_OLD: 'client too old' };

/** A state or status word as a badge (busy states with a spinner); data-state holds the word as the API said it. */
export function workloadBadge(state, { testid = 'workload-state', title = null } = {}) {
  const s = typeof state === 'string' && state ? state : 'unknown';
  const busy = BUSY_STATES.has(s);
  return h(
    'span',
    { class: `badge badge-${busy ? 'accent' : TONES[s] || 'neutral'}`, testid, title, dataset: { state: s } },
    busy ? h('span', { class: 'spinner badge-spinner', 'aria-hidden': 'true' }) : h('span', { class: 'badge-dot', 'aria-hidden': 'true' }),
    LABELS[s] || s,
  );
}

/**
 * The jobs of a list's items: get(id) is the last version read, read(id)
 * reads it (once more if a read is under way), set(job) keeps one we were
 * handed (a 202's body). onChange() runs after each read.
 */
export function jobWatcher(onChange) {
  const jobs = new Map();
  const reads = new Map(); // id being read → whether to read it again after
  const tried = new Set(); // ids progress() has asked for (a job that cannot be read is not asked for again)
  let stopped = false;
  async function read(id) {
    if (reads.has(id)) {
      reads.set(id, true);
      return;
    }
    reads.set(id, false);
    try {
      const job = await api.getJob(id);
      if (!stopped) jobs.set(id, job);
    } catch {
      /* the row shows the state without progress */
    }
    const again = reads.get(id);
    reads.delete(id);
    if (stopped) return;
    onChange();
    if (again) read(id);
  }
  return {
    get: (id) => jobs.get(id),
    has: (id) => jobs.has(id),
    set: (job) => {
      if (job && job.id) jobs.set(job.id, job);
    },
    read,
    /** The progress of `item`'s job while the item is busy (read first if not known yet), else null. */
    progress(item) {
      if (!item || !BUSY_STATES.has(item.state) || !item.job) return null;
      const job = jobs.get(item.job);
      if (!job) {
        if (!tried.has(item.job)) {
          tried.add(item.job);
          read(item.job);
        }
        return null;
      }
      return jobFinished(job) ? null : jobProgress(job, { compact: true });
    },
    stop() {
      stopped = true;
    },
  };
}

/**
 * The wait of a create form, as the containers form has it: a spinner and the
 * seconds while the server waits for the node (with "Close and keep going"
 * after 3 s), then the job's progress when the answer is a 202.
 * run(text, call) → the 201 answer's body, or null once the job succeeded;
 * throws the API's error, or the failed job's.
 */
export function formWait(ctx, { testid, close, watcher = null }) {
  const el = h('div', { class: 'ct-wait', testid, role: 'status', hidden: true });
  const controller = new AbortController();
  let ticker = null;

  async function run(text, call) {
    const started = Date.now();
    const waiting = h('span', { testid: `${testid}-text` }, `${text}…`);
    replace(el, h('span', { class: 'spinner', 'aria-hidden': 'true' }), waiting);
    el.dataset.phase = 'request';
    delete el.dataset.jobId;
    el.hidden = false;
    const leave = button('Close and keep going', { small: true, kind: 'ghost', testid: `${testid}-background`, onClick: () => close() });
    clearInterval(ticker);
    ticker = setInterval(() => {
      const s = Math.round((Date.now() - started) / 1000);
      waiting.textContent = `${text}… ${s} s`;
      if (s >= 3 && !leave.isConnected) el.appendChild(leave);
    }, 1000);
    try {
      const res = await call();
      clearInterval(ticker);
      if (res.status !== 202 || !res.body || !res.body.id) return res.body;
      const job = res.body;
      if (watcher) watcher.set(job);
      el.dataset.phase = 'job';
      el.dataset.jobId = job.id;
      const progressSlot = h('div', { class: 'ct-wait-progress' });
      replace(
        el,
        h('div', { class: 'ct-wait-text' }, h('strong', null, 'The node is still working on it.'), ' You can close this dialog: the job goes on, and the list and the Jobs page show how it ends.'),
        progressSlot,
        button('Close and keep going', { small: true, kind: 'ghost', testid: `${testid}-background`, onClick: () => close() }),
      );
      const done = await followJob(ctx, job.id, {
        initial: job,
        signal: controller.signal,
        onUpdate: (j) => {
          if (watcher) watcher.set(j);
          replace(progressSlot, jobProgress(j));
        },
      });
      if (done.state === 'failed') throw jobError(done);
      return null;
    } catch (err) {
      clearInterval(ticker);
      if (err.code !== 'aborted') el.hidden = true;
      throw err;
    }
  }

  return {
    el,
    run,
    /** For the modal's onClose: stops the ticker and no longer follows the job (it goes on). */
    stop() {
      clearInterval(ticker);
      controller.abort();
    },
  };
}

/**
 * A change made from a row (delete, leave …): 201/204 → `done` toasts, 202 →
 * the job is kept in `watcher` and a toast says the list follows it.
 * Resolves to true when it was applied.
 */
export async function rowChange(call, { watcher, done, pending }) {
  const res = await call();
  if (res.status === 202) {
    if (watcher && res.body) watcher.set(res.body);
    toast(pending, { type: 'info' });
    return false;
  }
  toast(done, { type: 'success' });
  return true;
}

/** "<field>: must be …" → "Must be …" (for a message shown next to a field that is not the API's). */
export function bareMessage(err) {
  const f = err.field || '';
  const m = err.message.startsWith(`${f}: `) ? err.message.slice(f.length + 2) : err.message;
  return m.charAt(0).toUpperCase() + m.slice(1);
}

/** An ApiError with the same status and code, shown next to `field`. */
export function moveError(err, field, message = null) {
  return new ApiError(err.status, err.code, message ?? bareMessage(err), field);
}

/** Whether a live change (collection, id) concerns the items under `prefix` ("<node>/", "<node>/<pool>/"). */
export function changeUnder(change, collection, prefix) {
  const id = String(change.id);
  return (change.collection === collection && id.startsWith(prefix)) || (change.collection === 'workload_status' && id.startsWith(`${collection}/${prefix}`));
}

/** A checkbox with its label (the label's text is `label`, anything else goes after it). */
export function checkbox({ testid, label, checked = false, disabled = false, title = null, after = null, value = null }) {
  const input = h('input', { type: 'checkbox', testid, checked, disabled, value });
  return { input, el: h('label', { class: `check${disabled ? ' is-disabled' : ''}`, title }, input, h('span', { class: 'check-label' }, label), after) };
}

/**
 * Puts `wanted` (rows) into `tbody` in order without moving the rows already
 * in place (a moved element loses the focus), and drops the others.
 */
export function syncRows(tbody, wanted) {
  let cursor = tbody.firstChild;
  for (const row of wanted) {
    if (row === cursor) {
      cursor = cursor.nextSibling;
      continue;
    }
    tbody.insertBefore(row, cursor);
  }
  while (cursor) {
    const next = cursor.nextSibling;
    cursor.remove();
    cursor = next;
  }
}

/** The name cell's button that shows or hides an item's details: a chevron, the name, a line below it. */
export function toggleCell({ name, sub = null, open, testid, nameTestid, what, onToggle }) {
  return h(
    'button',
    {
      type: 'button',
      class: 'ct-toggle',
      testid,
      'aria-expanded': open ? 'true' : 'false',
      title: open ? `Hide ${what}` : `Show ${what}`,
      onclick: onToggle,
    },
    glyph('chevron', { size: 16, className: 'icon ct-chevron' }),
    h('span', { class: 'cell-stack' }, h('span', { class: 'mono strong', testid: nameTestid }, name), sub ? h('span', { class: 'cell-sub mono' }, sub) : null),
  );
}

/** A table with a head (columns: 'Label' or {label, class}) and the given tbody; `actions` adds the actions column. */
export function rowTable({ testid, columns, tbody, actions = false, compact = false, className = '' }) {
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
      tbody,
    ),
  );
}
