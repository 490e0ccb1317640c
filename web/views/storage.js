// The Storage tab of a node's page: its btrfs storage pools (capacity, RAID
// profiles, devices, live status), a create form that offers the node's disks
// (those already in a pool marked) and shows the API's validation next to the
// field it names; under an opened pool its filesystems (quota, read-only), and
// under an opened filesystem its snapshots (take, roll back, delete). Lists
// update live from /events; a change the node is slow to apply is followed as
// a job.

import { api, ApiError } from '../api.js';
import { h, replace, formatBytes } from '../dom.js';
import { field, groupField, fieldMessage, toast, button, confirmAction, relativeTime, glyph, textInput } from '../ui.js';
import { asList } from '../resource.js';
import { followJob, jobError } from './jobs.js';
import { BUSY_STATES, workloadBadge, moveError, checkbox, sizeField, fact } from './workloads.js';
import { workloadTab, workloadList, workloadActions } from './workload-tab.js';
const MIB = 1024 * 1024;
// btrfs RAID profiles, with the fewest devices each needs (as the API checks them).
const PROFILES = [
  { value: 'single', fewest: 1, text: 'one copy, no striping' },
  { value: 'dup', fewest: 1, text: 'two copies on one device' },
  { value: 'raid0', fewest: 1, text: 'striped, no redundancy' },
  { value: 'raid1', fewest: 2, text: 'two copies on two devices' },
  { value: 'raid5', fewest: 2, text: 'striped with parity' },
  { value: 'raid6', fewest: 3, text: 'striped with double parity' },
  { value: 'raid10', fewest: 4, text: 'striped mirrors' },
];
const POOL_COLUMNS = ['Pool', 'Status', { label: 'Capacity', class: 'col-fill' }, 'Profile', 'Devices'];
const FS_COLUMNS = ['Filesystem', 'State', 'Quota', 'Access', 'Mountpoint'];
const SNAP_COLUMNS = ['Snapshot', 'State', 'Taken'];

/**
 * mountStorage(ctx, nodeId, {open, onCount}) → {el, unmount()}
 * `open`: a pool whose filesystems show at first; onCount(n): the number of pools after each load.
 */
export function mountStorage(ctx, nodeId, place) {
  const tab = workloadTab(ctx, nodeId, place, {
    testid: 'storage',
    ids: 'pools',
    name: 'storage pools',
    sub: 'btrfs pools on the node’s disks. Open a pool for its filesystems, and a filesystem for its snapshots. Updated live.',
    create: { label: 'New pool', onClick: () => openCreatePool() },
    empty: {
      iconName: 'disk',
      text: 'Make a pool on one or more of the node’s disks, then filesystems in it for containers to mount.',
      viewerText: 'The node has no storage pools.',
    },
    item: 'pool',
    // A filesystem's quota takes room from its pool: its capacity changes too.
    collections: ['storagepools', 'filesystems'],
    fetch: () => api.listPools(nodeId),
    table: { columns: POOL_COLUMNS, className: 'st-table' },
    row,
    detail: (p) => poolDetail(ctx, nodeId, p),
  });

  function row(p, { nameCell, stateCell, stateOrStatus }) {
    const busy = BUSY_STATES.has(p.state);
    const devices = asList(p.devices);
    return {
      data: { name: p.name, state: p.state, status: p.status },
      cells: [
        nameCell('Pool', 'the filesystems', p.mountpoint),
        stateCell('Status', stateOrStatus(statusTitle(p.status)), !busy && p.state && !['healthy', 'ready'].includes(p.state) ? workloadBadge(p.state, { testid: 'pool-state' }) : null),
        h('td', { dataset: { label: 'Capacity' }, class: 'col-fill' }, capacityBar(p)),
        h(
          'td',
          { dataset: { label: 'Profile' }, testid: 'pool-profile' },
          h('span', { class: 'cell-stack' }, h('span', { class: 'mono' }, p.dataProfile), h('span', { class: 'cell-sub' }, `metadata ${p.metadataProfile}`)),
        ),
        h('td', { dataset: { label: 'Devices' }, testid: 'pool-devices' }, h('span', { class: 'chips' }, devices.map((d) => h('span', { class: 'pill-mono' }, d)))),
        ctx.canMutate ? workloadActions(p, { what: `pool ${p.name}`, testid: 'pool-delete', onDelete: () => openDeletePool(p) }) : null,
      ],
    };
  }

  // ---- delete -------------------------------------------------------------

  function openDeletePool(p) {
    tab.confirmRemove(p.name, {
      title: 'Delete storage pool?',
      submitLabel: 'Delete pool',
      text: [
        'This destroys the btrfs pool ',
        h('strong', { class: 'mono' }, p.name),
        ` on ${nodeId} and frees its devices (${asList(p.devices).join(', ')}). A pool that still holds filesystems is not deleted.`,
      ],
      call: () => api.deletePool(nodeId, p.name),
      done: `Storage pool ${p.name} deleted.`,
      pending: `The node is still deleting ${p.name}; the list follows it.`,
      mapError: (err) => (err.code === 'pool_not_empty' ? new ApiError(err.status, err.code, `${p.name} cannot be deleted: ${err.message}.`) : err),
    });
  }

  // ---- create -------------------------------------------------------------

  function openCreatePool() {
    const nameInput = textInput('pool-form-name', { placeholder: 'data', maxlength: '64' });
    const devicesBox = h('div', { class: 'st-devices', testid: 'pool-form-devices' }, h('div', { class: 'skeleton', 'aria-busy': 'true' }, h('div', { class: 'skeleton-row' })));
    const dataHint = h('p', { class: 'field-hint', dataset: { what: 'Data' } });
    const metaHint = h('p', { class: 'field-hint', dataset: { what: 'Metadata' } });
    const dataSelect = profileSelect('pool-form-data', 'single', dataHint);
    const metaSelect = profileSelect('pool-form-metadata', 'single', metaHint);
    const boxes = []; // {input, path}

    tab.openForm({
      title: 'New storage pool',
      description: h('span', null, 'A btrfs pool on disks of ', h('span', { class: 'mono' }, nodeId), '. Everything on the disks you choose is erased.'),
      testid: 'pool-modal',
      submitLabel: 'Create pool',
      size: 'lg',
      wait: 'pool-form-wait',
      fields: [
        field({ label: 'Name', name: 'name', control: nameInput, hint: 'Letters, digits, “.”, “_” and “-”. It is mounted at /storage/<name>.' }),
        groupField({ name: 'devices', label: 'Devices' }, devicesBox, fieldMessage()),
        h(
          'div',
          { class: 'form-row-2' },
          withHint(field({ label: 'Data profile', name: 'dataProfile', control: dataSelect }), dataHint),
          withHint(field({ label: 'Metadata profile', name: 'metadataProfile', control: metaSelect }), metaHint),
        ),
      ],
      async onSubmit(wait) {
        const name = nameInput.value.trim();
        if (!name) throw new ApiError(400, 'invalid', 'The name is required.', 'name');
        const devices = boxes.filter((b) => b.input.checked).map((b) => b.path);
        if (!devices.length) throw new ApiError(400, 'invalid', 'Choose at least one device.', 'devices');
        const spec = { name, dataProfile: dataSelect.value, metadataProfile: metaSelect.value, devices };
        try {
          tab.saved(await wait.run(`Waiting for ${nodeId} to create ${name}`, () => api.createPool(nodeId, spec)), { open: name });
          toast(`Storage pool ${name} created.`, { type: 'success' });
        } catch (err) {
          throw poolFormError(err, devices);
        }
      },
    });
    loadDevices();

    async function loadDevices() {
      let disks;
      try {
        const answer = await api.listDisks(nodeId);
        disks = asList(answer);
      } catch (err) {
        if (err.status === 401) return;
        replace(devicesBox, h('p', { class: 'form-note tone-danger', testid: 'pool-form-devices-error' }, `Could not read the node’s disks: ${err.display || err.message}`));
        return;
      }
      const owner = new Map(); // device path → pool name
      for (const p of asList(tab.list.data)) for (const d of asList(p.devices)) owner.set(d, p.name);
      if (!disks.length) {
        replace(devicesBox, h('p', { class: 'form-note' }, 'The node reports no disks.'));
        return;
      }
      replace(
        devicesBox,
        disks.map((d) => {
          const path = d.device;
          const pool = owner.get(path);
          const box = checkbox({
            testid: 'pool-form-device',
            value: path,
            disabled: !!pool,
            title: pool ? `${path} belongs to pool ${pool}` : null,
            label: h('span', { class: 'mono strong' }, path),
            after: h(
              'span',
              { class: 'st-device-meta' },
              diskKind(d),
              h('span', null, formatGiB(d.size)),
              d.model ? h('span', { class: 'muted' }, d.model) : null,
              pool ? h('span', { class: 'tag tag-warn', testid: 'pool-form-device-used' }, `in pool ${pool}`) : null,
            ),
          });
          box.el.dataset.device = path;
          boxes.push({ input: box.input, path });
          return box.el;
        }),
      );
    }
  }

  return tab;
}

// ---- a pool's filesystems --------------------------------------------------------

/** Under an opened pool: its filesystems, each of which opens to its snapshots. */
function poolDetail(ctx, nodeId, initial) {
  let pool = initial;
  const poolName = initial.name;
  const count = h('span', { class: 'count-pill', testid: 'filesystems-count' }, '…');
  const createBtn = ctx.canMutate
    ? button('New filesystem', { small: true, kind: 'secondary', iconName: 'plus', testid: 'filesystem-create', onClick: () => openCreateFilesystem() })
    : null;
  const body = h('div', { class: 'st-body' });
  const facts = h('dl', { class: 'ct-facts st-facts', testid: 'pool-facts' });
  const el = h(
    'div',
    { class: 'ct-detail st-detail', testid: 'pool-detail', dataset: { name: poolName } },
    facts,
    h(
      'section',
      { class: 'ct-section ct-table', testid: 'filesystems-card' },
      h('div', { class: 'ct-table-head' }, h('h3', { class: 'ct-heading' }, glyph('layers', { size: 15 }), 'Filesystems', count), createBtn),
      body,
    ),
  );
  renderFacts();

  const filesystems = workloadList(ctx, {
    name: 'filesystems',
    body,
    item: 'filesystem',
    collections: ['filesystems'],
    prefix: `${nodeId}/${poolName}/`,
    fetch: () => readEach(api.listFilesystems(nodeId, poolName), (n) => api.getFilesystem(nodeId, poolName, n)),
    table: { testid: 'filesystems-table', columns: FS_COLUMNS, compact: true, className: 'st-table' },
    row,
    detail: (f) => snapshotsOf(ctx, nodeId, poolName, f.name),
    detailClass: 'st-snap-row',
    empty: () => h('p', { class: 'card-empty', testid: 'filesystems-empty' }, ctx.canMutate ? 'No filesystems yet: make one for containers to mount (as “pool:filesystem”).' : 'No filesystems.'),
    onCount: (n) => {
      count.textContent = String(n);
    },
  });

  function renderFacts() {
    replace(
      facts,
      fact('Mountpoint', h('span', { class: 'mono' }, pool.mountpoint)),
      fact('Profiles', `data ${pool.dataProfile} · metadata ${pool.metadataProfile}`),
      fact('Containers mount a filesystem as', h('span', { class: 'mono' }, `${pool.name}:<filesystem>`)),
    );
  }

  function row(f, { nameCell, stateCell }) {
    return {
      data: { name: f.name, state: f.state },
      cells: [
        nameCell('Filesystem', 'the snapshots'),
        stateCell('State', workloadBadge(f.state, { testid: 'filesystem-state' })),
        h('td', { dataset: { label: 'Quota', quota: f.quota }, class: 'nowrap', testid: 'filesystem-quota' }, f.quota > 0 ? formatMiB(f.quota) : h('span', { class: 'muted' }, 'unlimited')),
        h('td', { dataset: { label: 'Access' } }, f.readOnly ? h('span', { class: 'tag tag-warn' }, 'read-only') : h('span', { class: 'muted' }, 'read-write')),
        h('td', { dataset: { label: 'Mountpoint' } }, h('span', { class: 'mono cell-sub st-path', title: f.mountpoint }, f.mountpoint)),
        ctx.canMutate ? workloadActions(f, { what: `filesystem ${f.name}`, testid: 'filesystem-delete', onDelete: () => openDelete(f) }) : null,
      ],
    };
  }

  function openDelete(f) {
    filesystems.confirmRemove(f.name, {
      title: 'Delete filesystem?',
      submitLabel: 'Delete filesystem',
      text: ['This deletes ', h('strong', { class: 'mono' }, `${poolName}/${f.name}`), ' and everything in it. A filesystem that still has snapshots is not deleted.'],
      call: () => api.deleteFilesystem(nodeId, poolName, f.name),
      done: `Filesystem ${f.name} deleted.`,
      pending: `The node is still deleting ${f.name}; the list follows it.`,
      mapError: (err) => (err.code === 'filesystem_not_empty' ? new ApiError(err.status, err.code, `${f.name} cannot be deleted: ${err.message}.`) : err),
    });
  }

  function openCreateFilesystem() {
    const nameInput = textInput('fs-form-name', { placeholder: 'app-data', maxlength: '50' });
    const quota = sizeField({ label: 'Quota (optional)', name: 'quota', testid: 'fs-form-quota', placeholder: '0', hint: `Empty or 0: unlimited. ${freeHint(pool)}` });
    const readOnly = checkbox({ testid: 'fs-form-readonly', label: 'Read-only' });
    filesystems.openForm({
      title: 'New filesystem',
      description: h('span', null, 'In pool ', h('span', { class: 'mono' }, poolName), ' on ', h('span', { class: 'mono' }, nodeId), '.'),
      testid: 'filesystem-modal',
      submitLabel: 'Create filesystem',
      wait: 'fs-form-wait',
      fields: [
        field({ label: 'Name', name: 'name', control: nameInput, hint: 'Lower-case letters and “-”, at most 50.' }),
        quota.el,
        groupField({ name: 'readOnly', label: 'Access' }, readOnly.el, fieldMessage()),
      ],
      async onSubmit(wait) {
        const name = nameInput.value.trim();
        if (!name) throw new ApiError(400, 'invalid', 'The name is required.', 'name');
        const mib = quota.mib() ?? 0;
        if (!(mib >= 0)) throw new ApiError(400, 'invalid', 'The quota must be a number, 0 or more.', 'quota');
        const spec = { name, quota: mib, readOnly: readOnly.input.checked };
        try {
          filesystems.saved(await wait.run(`Waiting for ${nodeId} to create ${name}`, () => api.createFilesystem(nodeId, poolName, spec)));
          toast(`Filesystem ${name} created in ${poolName}.`, { type: 'success' });
        } catch (err) {
          if (err.code === 'no_space') throw moveError(err, 'quota', `${poolName} has no room for ${formatMiB(mib)} (${formatGiB(pool.capacity)} free): ${err.message}`);
          throw err;
        }
      },
    });
  }

  return {
    el,
    update(p) {
      pool = p;
      renderFacts();
    },
    stop: filesystems.stop,
  };
}

// ---- a filesystem's snapshots ------------------------------------------------------

function snapshotsOf(ctx, nodeId, poolName, fsName) {
  const count = h('span', { class: 'count-pill', testid: 'snapshots-count' }, '…');
  const createBtn = ctx.canMutate
    ? button('Take snapshot', { small: true, kind: 'secondary', iconName: 'plus', testid: 'snapshot-create', onClick: () => openCreate() })
    : null;
  const body = h('div', { class: 'st-body' });
  const el = h(
    'section',
    { class: 'st-snapshots', testid: 'snapshots', dataset: { filesystem: fsName } },
    h('div', { class: 'ct-table-head st-snap-head' }, h('h4', { class: 'ct-heading' }, glyph('copy', { size: 14 }), `Snapshots of ${fsName}`, count), createBtn),
    body,
  );

  const snapshots = workloadList(ctx, {
    name: 'snapshots',
    body,
    item: 'snapshot',
    collections: ['snapshots'],
    prefix: `${nodeId}/${poolName}/${fsName}/`,
    fetch: () => readEach(api.listSnapshots(nodeId, poolName, fsName), (n) => api.getSnapshot(nodeId, poolName, fsName, n)),
    sort: (a, b) => (Number(a.timestamp) || 0) - (Number(b.timestamp) || 0),
    table: { testid: 'snapshots-table', columns: SNAP_COLUMNS, compact: true },
    row,
    empty: () => h('p', { class: 'card-empty', testid: 'snapshots-empty' }, 'No snapshots. A snapshot keeps the filesystem as it is now, to roll back to later.'),
    loadingRows: 1,
    onCount: (n) => {
      count.textContent = String(n);
    },
  });

  function row(s, { stateCell }) {
    return {
      data: { name: s.name, state: s.state },
      cells: [
        h('td', { dataset: { label: 'Snapshot' } }, h('span', { class: 'mono strong', testid: 'snapshot-name' }, s.name)),
        stateCell('State', workloadBadge(s.state, { testid: 'snapshot-state' })),
        h('td', { dataset: { label: 'Taken' }, class: 'nowrap' }, s.timestamp ? relativeTime(takenAt(s)) : '—'),
        ctx.canMutate
          ? workloadActions(
              s,
              { what: `snapshot ${s.name}`, testid: 'snapshot-delete', onDelete: () => openDelete(s) },
              { label: 'Roll back', iconName: 'refresh', testid: 'snapshot-rollback', title: `Roll ${fsName} back to ${s.name}`, disabled: BUSY_STATES.has(s.state), onClick: () => openRollback(s) },
            )
          : null,
      ],
    };
  }

  function openRollback(s) {
    confirmAction({
      title: 'Roll back filesystem?',
      submitLabel: 'Roll back',
      testid: 'rollback-modal',
      iconName: 'refresh',
      text: ['This puts ', h('strong', { class: 'mono' }, `${poolName}/${fsName}`), ' back as it was at snapshot ', h('strong', { class: 'mono' }, s.name), ' (taken ', relativeTime(takenAt(s)), '). What was written since is lost.'],
      async onConfirm() {
        const res = await api.rollbackSnapshot(nodeId, poolName, fsName, s.name);
        if (res.status === 202 && res.body && res.body.id) {
          // The node is slower than the server waits: the dialog follows the job, so that "back at the
          // snapshot" is said only once it is (what is written meanwhile would be lost).
          snapshots.watcher.set(res.body);
          const done = await followJob(ctx, res.body.id, { initial: res.body, onUpdate: (j) => snapshots.watcher.set(j) });
          if (done.state === 'failed') throw jobError(done);
        }
        toast(`${fsName} is back at snapshot ${s.name}.`, { type: 'success' });
      },
    });
  }

  function openDelete(s) {
    snapshots.confirmRemove(s.name, {
      title: 'Delete snapshot?',
      submitLabel: 'Delete snapshot',
      text: ['This deletes snapshot ', h('strong', { class: 'mono' }, s.name), ` of ${fsName}; the filesystem itself stays as it is.`],
      call: () => api.deleteSnapshot(nodeId, poolName, fsName, s.name),
      done: `Snapshot ${s.name} deleted.`,
      pending: `The node is still deleting ${s.name}; the list follows it.`,
    });
  }

  function openCreate() {
    const nameInput = textInput('snap-form-name', { placeholder: 'before-upgrade', maxlength: '50' });
    snapshots.openForm({
      title: 'Take snapshot',
      description: h('span', null, 'Of ', h('span', { class: 'mono' }, `${poolName}/${fsName}`), ' on ', h('span', { class: 'mono' }, nodeId), ', as it is now.'),
      testid: 'snapshot-modal',
      submitLabel: 'Take snapshot',
      size: 'sm',
      wait: 'snap-form-wait',
      fields: [field({ label: 'Name', name: 'name', control: nameInput, hint: 'Lower-case letters, “-”, “_” and “.”, at most 50.' })],
      async onSubmit(wait) {
        const name = nameInput.value.trim();
        if (!name) throw new ApiError(400, 'invalid', 'The name is required.', 'name');
        snapshots.saved(await wait.run(`Waiting for ${nodeId} to take ${name}`, () => api.createSnapshot(nodeId, poolName, fsName, { name })));
        toast(`Snapshot ${name} of ${fsName} taken.`, { type: 'success' });
      },
    });
  }

  return { el, stop: snapshots.stop };
}

// ---- pieces -------------------------------------------------------------------------

/** A select of the RAID profiles ("raid1 (≥ 2 devices)"); the hint below it says what the chosen one does. */
function profileSelect(testid, selected, hint) {
  const select = h(
    'select',
    { class: 'input', testid },
    PROFILES.map((p) => h('option', { value: p.value, selected: p.value === selected }, p.fewest > 1 ? `${p.value} (≥ ${p.fewest} devices)` : p.value)),
  );
  const explain = () => {
    const p = PROFILES.find((x) => x.value === select.value);
    hint.textContent = p ? `${hint.dataset.what}: ${p.text}.` : '';
  };
  select.addEventListener('change', explain);
  queueMicrotask(explain);
  return select;
}

/** The views of the items a list of names names (one GET each); an item gone meanwhile (404) is left out. */
async function readEach(names, get) {
  const views = await Promise.all(asList(await names).map((n) => get(n).catch((err) => (err.status === 404 ? null : Promise.reject(err)))));
  return views.filter(Boolean);
}

function withHint(wrapper, hint) {
  wrapper.appendChild(hint);
  return wrapper;
}

/** The used / total bar of a pool (GiB); "—" while the node does not say. */
function capacityBar(p) {
  const total = Number(p.totalCapacity) || 0;
  const free = Math.min(Math.max(Number(p.capacity) || 0, 0), total);
  if (total <= 0) return h('span', { class: 'muted', testid: 'pool-capacity', title: 'The node did not report the pool’s size.' }, '—');
  const used = total - free;
  const pct = (used / total) * 100;
  return h(
    'div',
    { class: 'st-capacity', testid: 'pool-capacity', dataset: { total: total.toFixed(3), free: free.toFixed(3) } },
    h(
      'div',
      { class: `progress${pct >= 90 ? ' progress-failed' : ''}`, role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': pct.toFixed(0), 'aria-label': `${p.name}: space used` },
      h('span', { class: 'progress-bar', style: `width: ${Math.max(pct, used > 0 ? 1 : 0).toFixed(1)}%` }),
    ),
    h('div', { class: 'st-capacity-text' }, h('span', null, `${formatGiB(used)} used of ${formatGiB(total)}`), h('span', { class: 'muted' }, `${formatGiB(free)} free`)),
  );
}

function statusTitle(status) {
  return (
    {
      healthy: 'The node reports the pool and all its devices.',
      degraded: 'A device of the pool is missing or failing.',
      error: 'The node does not have this pool.',
      unknown: 'The node did not answer: its pools could not be read.',
    }[status] || null
  );
}

/** When a snapshot was taken, as ISO text (0-orchestrator's `Snapshot.timestamp` is epoch seconds). */
function takenAt(snapshot) {
  return new Date(Number(snapshot.timestamp) * 1000).toISOString();
}

/** The kind 0-orchestrator's `DiskInfo` gives a disk (ssd, nvme, hdd, archive). */
function diskKind(d) {
  const tone = { nvme: 'accent', ssd: 'ok' }[d.type] || 'neutral';
  return h('span', { class: `tag tag-${tone}` }, d.type === 'nvme' ? 'NVMe' : String(d.type || '?').toUpperCase());
}

function freeHint(pool) {
  const total = Number(pool.totalCapacity) || 0;
  return total > 0 ? `${pool.name} has ${formatGiB(pool.capacity)} free.` : '';
}

/** GiB with one decimal under 100, whole above (TiB from 10 TiB). */
function formatGiB(gib) {
  const g = Number(gib) || 0;
  if (g >= 10 * 1024) return `${(g / 1024).toFixed(1)} TiB`;
  return `${g >= 100 || Number.isInteger(g) ? g.toFixed(0) : g.toFixed(1)} GiB`;
}

function formatMiB(mib) {
  return formatBytes(Number(mib) * MIB);
}

const lower = (s) => (s ? s.charAt(0).toLowerCase() + s.slice(1) : s);

/** The pool form's view of an API error: "devices[1]" goes to the devices list, naming the device. */
function poolFormError(err, devices) {
  if (!(err instanceof ApiError) || !err.field) return err;
  const m = /^devices\[(\d+)\]$/.exec(err.field);
  if (m) {
    const device = devices[Number(m[1])];
    return moveError(err, 'devices', device ? `${device}: ${lower(err.message.replace(/^devices\[\d+\]: /, ''))}` : null);
  }
  return err;
}
