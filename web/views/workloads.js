// The pieces a node's workload lists share (workload-tab.js puts them
// together): a badge for a workload's state, the jobs of a list's items (read
// again on each live change of them), the wait box of a create form (which
// follows the job when the node is slower than the server waits), the answer
// of a change made from a row (201/204 applied, 202 a job that the list
// follows), and the rows of a table updated in place.

import { api, ApiError } from '../api.js';
import { h, replace } from '../dom.js';
import { button, toast, glyph, field } from '../ui.js';
import { watchLive } from '../resource.js';
import { followJob, jobFinished, jobProgress, jobError } from './jobs.js';

export const BUSY_STATES = new Set(['creating', 'starting', 'stopping', 'deleting', 'restoring']);

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
 * The jobs of a list's items (`items()`: the list as last read), kept up to
 * date from the live feed: get(id) is the last version read, read(id) reads
 * it (once more if a read is under way), set(job) keeps one we were handed (a
 * 202's body), owns(change) says whether a live change is of one of these
 * jobs. onChange() runs after each read.
 */
export function jobWatcher(live, items, onChange) {
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
  const owns = (change) => change.collection === 'jobs' && (jobs.has(change.id) || items().some((x) => x.job === change.id));
  const unsubscribe = watchLive(live, owns, (change) => change && read(change.id));
  return {
    get: (id) => jobs.get(id),
    owns,
    set: (job) => {
      if (job && job.id) jobs.set(job.id, job);
    },
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
      unsubscribe();
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
 * A size field in GiB or MiB (a number input and its unit; `mib` fills it,
 * in GiB when whole). mib() → the amount in MiB, rounded; null when empty,
 * NaN when not a number.
 */
export function sizeField({ label, name, hint, testid, mib = null, placeholder = null }) {
  const input = h('input', { class: 'input', testid, type: 'number', min: '0', step: 'any', placeholder, inputmode: 'decimal' });
  const unit = h('select', { class: 'input st-unit', testid: `${testid}-unit`, 'aria-label': `Unit of the ${name}` }, h('option', { value: 'GiB' }, 'GiB'), h('option', { value: 'MiB' }, 'MiB'));
  if (mib !== null) {
    const whole = mib % 1024 === 0;
    unit.value = whole ? 'GiB' : 'MiB';
    input.value = String(whole ? mib / 1024 : mib);
  }
  const el = field({ label, name, hint, control: input });
  const group = h('div', { class: 'st-quota' });
  input.replaceWith(group);
  group.append(input, unit);
  return {
    el,
    mib() {
      if (input.value.trim() === '') return null;
      const amount = Number(input.value);
      return Math.round(unit.value === 'GiB' ? amount * 1024 : amount);
    },
  };
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

/** A fact of an item's details (a <dl class="ct-facts">): its label and value. */
export function fact(label, value, testid = null) {
  return h('div', { class: 'ct-fact' }, h('dt', null, label), h('dd', { testid }, value));
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
