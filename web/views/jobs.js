// Jobs page (#/jobs): the orchestrator's own jobs — one per change of a
// workload (create, start, stop, delete a container, a VM, a storage pool, filesystem,
// snapshot, bridge or ZeroTier membership) — with their progress,
// live. Also what other views use to follow one job: followJob(), and the
// pieces that draw a job: jobStateBadge(), jobProgress(), jobTarget().

import { api, ApiError } from '../api.js';
import { h, replace } from '../dom.js';
import { viewPage, filterBox, segmented, relativeTime, relativeTimeTicker, glyph, hashQuery } from '../ui.js';
import { liveList, watchLive, listOrState } from '../resource.js';

const FINISHED = new Set(['succeeded', 'failed']);
// A job's kind (the workload collection) as people say it.
const KINDS = { containers: 'container', storagepools: 'storage pool', filesystems: 'filesystem', snapshots: 'snapshot', bridges: 'bridge', zerotiers: 'ZeroTier network', vms: 'virtual machine' };
const JOB_TONES = { queued: 'neutral', running: 'accent', succeeded: 'ok', failed: 'danger' };
const ACTION_ICONS = { create: 'plus', start: 'play', stop: 'stop', shutdown: 'power', delete: 'trash' };
// Fallback when no live event arrives (the stream reconnecting …).
const FOLLOW_POLL_MS = 2_000;

export const jobFinished = (job) => !!job && FINISHED.has(job.state);

/** The node and the workload name of a job's target ("<node>/<name>"). */
export function jobParts(job) {
  const target = String(job.target || '');
  const slash = target.indexOf('/');
  const node = job.node || (slash >= 0 ? target.slice(0, slash) : target);
  const name = slash >= 0 ? target.slice(slash + 1) : target;
  return { node, name };
}

/** The address of a container on its node's page (Containers tab, its details open). */
export function containerHref(node, name) {
  return `#/nodes/${encodeURIComponent(node)}?tab=containers&open=${encodeURIComponent(name)}`;
}

export function jobStateBadge(state) {
  const s = typeof state === 'string' && state ? state : 'queued';
  return h(
    'span',
    { class: `badge badge-${JOB_TONES[s] || 'neutral'}`, testid: 'job-state', dataset: { state: s } },
    s === 'running' ? h('span', { class: 'spinner badge-spinner', 'aria-hidden': 'true' }) : h('span', { class: 'badge-dot', 'aria-hidden': 'true' }),
    s,
  );
}

/** A job's progress bar with its step; a failed job's error instead of the step. */
export function jobProgress(job, { compact = false } = {}) {
  const pct = Math.min(100, Math.max(0, Number(job.progress) || 0));
  const failed = job.state === 'failed';
  const err = job.error && typeof job.error === 'object' ? job.error : null;
  return h(
    'div',
    { class: `job-progress${compact ? ' job-progress-compact' : ''}`, testid: 'job-progress', dataset: { state: job.state, progress: pct } },
    h(
      'div',
      {
        class: `progress${failed ? ' progress-failed' : job.state === 'succeeded' ? ' progress-done' : ''}`,
        role: 'progressbar',
        'aria-valuemin': '0',
        'aria-valuemax': '100',
        'aria-valuenow': String(pct),
        'aria-label': 'Job progress',
      },
      h('span', { class: 'progress-bar', style: `width: ${pct}%` }),
    ),
    h(
      'div',
      { class: 'job-step' },
      failed && err
        ? h('span', { class: 'tone-danger', testid: 'job-error', dataset: { code: err.code } }, err.message || err.code, err.field ? h('span', { class: 'muted' }, ` (field: ${err.field})`) : null)
        : h('span', { testid: 'job-step' }, job.step || job.state),
      h('span', { class: 'job-pct' }, `${pct}%`),
    ),
  );
}

/**
 * Where a job's workload shows on its node's page: a container with its
 * details open, a pool (or its filesystem, or their snapshot) in the Storage
 * tab with the pool open, a bridge or a ZeroTier network in its tab.
 */
export function workloadHref(job) {
  const { node, name } = jobParts(job);
  const page = `#/nodes/${encodeURIComponent(node)}`;
  switch (job.kind) {
    case 'storagepools':
    case 'filesystems':
    case 'snapshots':
      return `${page}?tab=storage&open=${encodeURIComponent(name.split('/')[0])}`;
    case 'bridges':
      return `${page}?tab=bridges`;
    case 'zerotiers':
      return `${page}?tab=zerotier`;
    case 'vms':
      return `${page}?tab=vms&open=${encodeURIComponent(name)}`;
    case 'images':
      return '#/storageclusters';
    default:
      return containerHref(node, name);
  }
}

/** The target cell of a job: the workload's name (a link to it; "pool/filesystem" below a pool), its node below (if any). */
export function jobTarget(job) {
  const { node, name } = jobParts(job);
  return h(
    'div',
    { class: 'cell-stack' },
    h('a', { class: 'row-link strong mono', href: workloadHref(job), testid: 'job-target', title: `Open ${name} on ${node}` }, name),
    // An image's jobs run on no node.
    node ? h('a', { class: 'cell-sub mono row-link', href: `#/nodes/${encodeURIComponent(node)}`, testid: 'job-node' }, node) : null,
  );
}

/**
 * Follows an orchestrator job until it has finished: re-reads it on each live
 * change of it (and every few seconds, in case events lag), calls
 * onUpdate(job) with each new version and resolves to the finished job.
 * Rejects with an ApiError ("aborted") when `signal` aborts.
 */
export function followJob(ctx, id, { onUpdate = () => {}, signal = null, initial = null } = {}) {
  return new Promise((resolve, reject) => {
    let done = false;
    let timer = null;
    let inFlight = false;
    let again = false;
    let last = initial ? JSON.stringify(initial) : '';
    const finish = (fn, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      unsubscribe();
      fn(value);
    };
    const read = async () => {
      if (done) return;
      if (inFlight) {
        again = true;
        return;
      }
      inFlight = true;
      clearTimeout(timer);
      try {
        const job = await api.getJob(id);
        if (done) return;
        const text = JSON.stringify(job);
        if (text !== last) {
          last = text;
          onUpdate(job);
        }
        if (jobFinished(job)) finish(resolve, job);
      } catch (err) {
        if (err.status === 404 || err.status === 401 || err.status === 403) finish(reject, err);
        // anything else (network): try again at the next change or tick
      } finally {
        inFlight = false;
      }
      if (done) return;
      if (again) {
        again = false;
        read();
      } else {
        timer = setTimeout(read, FOLLOW_POLL_MS);
      }
    };
    const unsubscribe = watchLive(ctx.live, (c) => c.collection === 'jobs' && c.id === id, read);
    if (signal) {
      if (signal.aborted) return finish(reject, new ApiError(0, 'aborted', 'No longer followed.'));
      signal.addEventListener('abort', () => finish(reject, new ApiError(0, 'aborted', 'No longer followed.')), { once: true });
    }
    if (initial) onUpdate(initial);
    read();
  });
}

/** The API error a failed job stands for (what the request would have answered had it waited). */
export function jobError(job) {
  const e = job && job.error && typeof job.error === 'object' ? job.error : {};
  return new ApiError(e.status || 500, e.code || 'job_failed', e.message || `The ${job.action} job failed.`, e.field);
}

// ---- the page -----------------------------------------------------------------

const FILTERS = [
  { value: 'all', label: 'All', testid: 'jobs-show-all' },
  { value: 'active', label: 'Active', testid: 'jobs-show-active' },
  { value: 'failed', label: 'Failed', testid: 'jobs-show-failed' },
];

export function mountJobs(root, ctx) {
  const jobs = liveList('jobs', api.listJobs, { live: ctx.live, collections: ['jobs'], onChange: render });

  const count = h('span', { class: 'count-pill', testid: 'jobs-count' }, '…');
  const active = h('span', { class: 'jobs-active', testid: 'jobs-active', hidden: true });
  const filter = filterBox({
    name: 'jobs',
    placeholder: 'Filter by node, target, kind, action, state or error',
    label: 'Filter jobs',
    onChange: render,
  });
  // '#/jobs?q=<text>' (e.g. a job id, from a container's details) starts filtered.
  const q = hashQuery().get('q');
  if (q) {
    filter.input.value = q;
    filter.query = q.trim().toLowerCase();
  }
  const show = segmented({ label: 'Show jobs', options: FILTERS, checked: 'all' });
  show.el.addEventListener('change', render);

  const page = viewPage(
    {
      testid: 'jobs-page',
      title: ['Jobs', ' ', count, active],
      sub: 'What the orchestrator does on the nodes for you: creating, starting, stopping and deleting containers, virtual machines, storage, bridges and ZeroTier memberships. Newest first, updated live.',
    },
    h(
      'div',
      { class: 'toolbar' },
      filter.el,
      show.el,
      h('p', { class: 'toolbar-note' }, h('span', { class: 'live-mini', 'aria-hidden': 'true' }), 'The 200 most recent jobs.'),
    ),
    filter.body,
  );
  root.appendChild(page);
  render();
  const stopTicker = relativeTimeTicker(page, 15_000);
  jobs.load();

  function matches(job) {
    const which = show.value();
    if (which === 'active' && jobFinished(job)) return false;
    if (which === 'failed' && job.state !== 'failed') return false;
    const err = job.error || {};
    return filter.matches([job.id, job.kind, job.action, job.target, job.node, job.state, job.step, err.code, err.message]);
  }

  function render() {
    const list = jobs.data || [];
    count.textContent = jobs.data ? String(list.length) : '…';
    const running = list.filter((j) => !jobFinished(j)).length;
    active.hidden = running === 0;
    active.textContent = `${running} active`;
    const visible = listOrState(jobs, filter.body, {
      what: 'jobs',
      rows: 4,
      empty: {
        iconName: 'list',
        title: 'No jobs yet',
        text: 'A job appears here whenever a container, a storage pool, filesystem or snapshot, a bridge or a ZeroTier membership is created, changed or deleted, and shows how far the node has got.',
        testid: 'jobs-empty',
      },
      matches,
      noMatch: () =>
        filter.noMatch('No matching jobs', (q) => (q ? `No job matches “${q}”.` : 'No job matches this filter.')),
    });
    if (!visible) return;
    filter.show(
      {
        testid: 'jobs-table',
        columns: ['Action', 'Target', 'State', { label: 'Progress', class: 'col-fill' }, { label: 'Tries', class: 'num' }, 'Started', 'Updated'],
        rows: visible.map(row),
      },
      { total: list.length, noun: 'jobs' },
    );
  }

  function row(job) {
    return h(
      'tr',
      { testid: 'job-row', dataset: { jobId: job.id, action: job.action, kind: job.kind, target: job.target, state: job.state } },
      h('td', { dataset: { label: 'Action' } }, actionTag(job)),
      h('td', { dataset: { label: 'Target' } }, jobTarget(job)),
      h('td', { dataset: { label: 'State' } }, jobStateBadge(job.state)),
      h('td', { dataset: { label: 'Progress' }, class: 'col-fill' }, jobProgress(job)),
      h('td', { dataset: { label: 'Tries' }, class: 'num', title: 'A node that cannot be reached is tried again with backoff.' }, String(job.attempts ?? 0)),
      h('td', { dataset: { label: 'Started' }, class: 'nowrap' }, relativeTime(job.createdAt)),
      h('td', { dataset: { label: 'Updated' }, class: 'nowrap' }, relativeTime(job.updatedAt)),
    );
  }

  return {
    unmount() {
      jobs.stop();
      stopTicker();
      page.remove();
    },
  };
}

/** The action of a job as a tag: "create container". */
export function actionTag(job) {
  const kind = KINDS[job.kind] || String(job.kind || '').replace(/s$/, '');
  return h(
    'span',
    { class: `job-action job-action-${job.action}`, testid: 'job-action', title: `${job.action} ${kind}`.trim() },
    glyph(ACTION_ICONS[job.action] || 'activity', { size: 15 }),
    h('span', { class: 'strong' }, job.action),
    kind ? h('span', { class: 'muted' }, kind) : null,
  );
}
