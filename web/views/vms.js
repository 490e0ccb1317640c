// The VMs tab of a node's page: its virtual machines, live (status, vCPUs,
// memory, NICs, disks, VNC port), the power actions their status allows
// (start, pause / resume, graceful shutdown, hard stop), delete, a create
// form (NIC and disk rows) that shows the API's validation next to the field
// it names and follows the job when the node is slow, an edit form while a VM
// is halted, and under an opened VM its load as the node reports it.

import { api, ApiError } from '../api.js';
import { h, replace, formatBytes } from '../dom.js';
import { field, groupField, fieldMessage, toast, button, dataTable, glyph, textInput } from '../ui.js';
import { asList } from '../resource.js';
import { BUSY_STATES, bareMessage, sizeField, fact } from './workloads.js';
import { workloadTab, workloadActions } from './workload-tab.js';
// A VM's load is the node's, not the store's: no live events, so it is read again while shown.
const INFO_POLL_MS = 5_000;
const MIB = 1024 * 1024;
const COLUMNS = ['VM', 'Status', { label: 'vCPUs', class: 'num' }, { label: 'Memory', class: 'num' }, 'NICs', 'Disks', 'VNC'];
// The status words of a VM while a job works on it.
const BUSY_STATUS = new Set(['deploying', 'starting', 'halting']);
const NIC_TYPES = [
  { value: 'default', label: 'Default', placeholder: 'none needed (NAT)' },
  { value: 'bridge', label: 'Bridge', placeholder: 'bridge name, e.g. br-lan' },
  { value: 'vlan', label: 'VLAN', placeholder: 'VLAN tag, e.g. 100' },
  { value: 'vxlan', label: 'VXLAN', placeholder: 'VXLAN id, e.g. 4000' },
];
const NIC_NEEDS = { bridge: 'A bridge NIC needs the name of the bridge.', vlan: 'A VLAN NIC needs its VLAN tag.', vxlan: 'A VXLAN NIC needs its VXLAN id.' };
const ACTIONS = {
  start: { doing: 'starting', done: 'started' },
  stop: { doing: 'stopping', done: 'stopped' },
  shutdown: { doing: 'shutting down', done: 'shut down' },
  pause: { doing: 'pausing', done: 'paused' },
  resume: { doing: 'resuming', done: 'resumed' },
};

/**
 * mountVms(ctx, nodeId, {open, onCount}) → {el, unmount()}
 * `open`: a VM whose details show at first; onCount(n): the number of VMs after each load.
 */
export function mountVms(ctx, nodeId, place) {
  const tab = workloadTab(ctx, nodeId, place, {
    testid: 'vms',
    name: 'virtual machines',
    sub: 'KVM virtual machines on this node. Open a running VM to see its load; a halted one can be changed. Updated live.',
    create: { label: 'New VM', onClick: () => openForm() },
    empty: {
      iconName: 'monitor',
      text: 'Create a VM with its vCPUs, memory, network cards and disks to run a whole operating system on this node.',
      viewerText: 'No virtual machine runs on this node.',
    },
    item: 'vm',
    key: 'id',
    collections: ['vms'],
    fetch: () => api.listVms(nodeId),
    table: { columns: COLUMNS, className: 'vm-table' },
    row,
    detail: (vm) => vmDetail(nodeId, vm),
  });

  // ---- rendering ----------------------------------------------------------

  function row(vm, { nameCell, stateCell, stateOrStatus }) {
    const nics = asList(vm.nics);
    const disks = asList(vm.disks);
    return {
      data: { id: vm.id, state: vm.state, status: vm.status, cpu: vm.cpu, memory: vm.memory, vnc: vm.vnc },
      cells: [
        nameCell('VM', 'the details'),
        stateCell('Status', stateOrStatus(statusTitle(vm.status))),
        h('td', { dataset: { label: 'vCPUs' }, class: 'num', testid: 'vm-cpu' }, String(vm.cpu)),
        h('td', { dataset: { label: 'Memory' }, class: 'num nowrap', testid: 'vm-memory' }, formatMiB(vm.memory)),
        h('td', { dataset: { label: 'NICs' }, testid: 'vm-nics' }, nics.length ? h('span', { class: 'chips' }, nics.map((n) => h('span', { class: 'pill-mono', title: n.macaddress ? `MAC ${n.macaddress}` : null }, nicLabel(n)))) : muted('none')),
        h(
          'td',
          { dataset: { label: 'Disks' }, testid: 'vm-disks' },
          disks.length ? h('span', { class: 'chips' }, disks.map((d) => h('span', { class: 'pill-mono', title: d.maxIOps ? `at most ${d.maxIOps} IOPS` : 'no IOPS limit' }, d.vdiskid))) : muted('none'),
        ),
        h('td', { dataset: { label: 'VNC' }, testid: 'vm-vnc' }, vm.vnc >= 0 ? h('span', { class: 'mono' }, String(vm.vnc)) : muted('—')),
        ctx.canMutate ? actions(vm) : null,
      ],
    };
  }

  /** The power actions the VM's status allows, then Edit (halted) and Delete. */
  function actions(vm) {
    const busy = isBusy(vm);
    const act = (label, action, iconName, title) => ({ label, iconName, testid: `vm-${action}`, title, disabled: busy, spinner: true, onClick: (ev) => power(ev.currentTarget, vm, action) });
    const hardStop = act('Stop', 'stop', 'stop', `Stop ${vm.id} at once, as pulling the plug would`);
    const buttons =
      vm.status === 'running'
        ? [act('Pause', 'pause', 'pause', `Pause ${vm.id}: it keeps its memory but gets no CPU time`), act('Shut down', 'shutdown', 'power', `Ask the guest of ${vm.id} to shut down`), hardStop]
        : vm.status === 'paused'
          ? [act('Resume', 'resume', 'play', `Let ${vm.id} run again`), hardStop]
          : [
              act('Start', 'start', 'play', `Start ${vm.id}`),
              { label: 'Edit', iconName: 'edit', testid: 'vm-edit', title: `Change the vCPUs, memory, NICs and disks of ${vm.id}`, disabled: busy, onClick: () => openForm(vm) },
            ];
    return workloadActions(vm, { what: vm.id, testid: 'vm-delete', onDelete: () => openDelete(vm) }, ...buttons);
  }

  // ---- actions ------------------------------------------------------------

  function power(btn, vm, action) {
    const words = ACTIONS[action];
    return tab.act(btn, () => api.vmAction(nodeId, vm.id, action), {
      done: `VM ${vm.id} ${words.done}.`,
      pending: `The node is still ${words.doing} ${vm.id}; the list follows it.`,
      failed: `Could not ${action} ${vm.id}`,
    });
  }

  function openDelete(vm) {
    tab.confirmRemove(vm.id, {
      title: 'Delete virtual machine?',
      submitLabel: 'Delete VM',
      text: [
        vm.status === 'halted' ? 'This removes ' : 'This stops ',
        h('strong', { class: 'mono' }, vm.id),
        vm.status === 'halted' ? ` from ${nodeId}.` : ` at once and removes it from ${nodeId}.`,
        ' Its vdisks stay as they are.',
      ],
      call: () => api.deleteVm(nodeId, vm.id),
      done: `VM ${vm.id} deleted.`,
      pending: `The node is still deleting ${vm.id}; the list follows it.`,
    });
  }

  // ---- create and edit ----------------------------------------------------

  /** The create form, or with `vm` (halted) the edit form of it. */
  function openForm(vm = null) {
    const editing = vm !== null;
    const p = editing ? 'vm-edit' : 'vm-form';
    const idInput = textInput(`${p}-id`, { placeholder: 'web-1', maxlength: '64' });
    const cpuInput = h('input', { class: 'input', testid: `${p}-cpu`, type: 'number', min: '1', max: '256', step: '1', value: String(editing ? vm.cpu : 2) });
    const mem = sizeField({ label: 'Memory', name: 'memory', testid: `${p}-memory`, hint: '128 MiB to 1 TiB; the node must have it free when the VM starts.', mib: editing ? vm.memory : 2048 });

    const nics = rowList(p, { name: 'nics', item: 'nic', addLabel: 'Add NIC', empty: 'No network cards: the VM is not on any network.', make: nicRow });
    const disks = rowList(p, { name: 'disks', item: 'disk', addLabel: 'Add disk', empty: 'No disks: the VM boots from nothing until you add one.', make: diskRow });
    if (editing) {
      for (const n of asList(vm.nics)) nics.add(n);
      for (const d of asList(vm.disks)) disks.add(d);
    } else {
      nics.add({ type: 'default' });
    }

    tab.openForm({
      title: editing ? `Edit ${vm.id}` : 'New virtual machine',
      description: editing
        ? h('span', null, 'The changes apply when ', h('span', { class: 'mono' }, vm.id), ' starts again.')
        : h('span', null, 'On node ', h('span', { class: 'mono' }, nodeId), '. It starts as soon as the node has created it.'),
      testid: editing ? 'vm-edit-modal' : 'vm-modal',
      submitLabel: editing ? 'Save changes' : 'Create VM',
      size: 'lg',
      wait: editing ? null : 'vm-form-wait',
      fields: [
        editing ? null : field({ label: 'ID', name: 'id', control: idInput, hint: 'Letters, digits, “.”, “_” and “-”; the name of the domain on the node.' }),
        h('div', { class: 'form-row-2' }, field({ label: 'vCPUs', name: 'cpu', control: cpuInput, hint: '1 to 256.' }), mem.el),
        groupField({ name: 'nics', label: 'Network cards' }, nics.el, fieldMessage()),
        groupField({ name: 'disks', label: 'Disks' }, disks.el, fieldMessage()),
      ],
      async onSubmit(wait) {
        const id = idInput.value.trim();
        if (!editing && !id) throw new ApiError(400, 'invalid', 'The ID is required.', 'id');
        const cpu = Number(cpuInput.value);
        if (cpuInput.value.trim() === '' || !Number.isInteger(cpu)) throw new ApiError(400, 'invalid', 'A whole number of vCPUs.', 'cpu');
        const memory = mem.mib();
        if (!(memory > 0)) throw new ApiError(400, 'invalid', 'The memory must be a number above 0.', 'memory');
        const spec = { memory, cpu, nics: nics.values(), disks: disks.values() };
        const badIops = spec.disks.findIndex((d) => !Number.isInteger(d.maxIOps) || d.maxIOps < 0);
        if (badIops >= 0) throw new ApiError(400, 'invalid', 'A whole number, 0 or more (0: no limit).', `disks[${badIops}].maxIOps`);
        try {
          if (editing) {
            await api.updateVm(nodeId, vm.id, spec);
            tab.list.load();
            toast(`${vm.id} now has ${cpu} vCPU${cpu === 1 ? '' : 's'} and ${formatMiB(memory)}; it uses them from its next start.`, { type: 'success' });
            return;
          }
          const view = await wait.run(`Waiting for ${nodeId} to create ${id}`, () => api.createVm(nodeId, { id, ...spec }));
          tab.saved(view, { open: id });
          toast(`VM ${id} is ${view ? view.status : 'created'}.`, { type: 'success' });
        } catch (err) {
          throw formError(err, spec, memory);
        }
      },
    });
  }

  /** The form's view of an API error: a NIC's missing id says what that type needs; not enough memory says how much was asked. */
  function formError(err, spec, memory) {
    if (!(err instanceof ApiError) || !err.field) return err;
    const m = /^nics\[(\d+)\]\.id$/.exec(err.field);
    if (m && /required/.test(err.message)) {
      const nic = spec.nics[Number(m[1])];
      return new ApiError(err.status, err.code, (nic && NIC_NEEDS[nic.type]) || bareMessage(err), err.field);
    }
    if (err.code === 'not_enough_memory') return new ApiError(err.status, err.code, `${nodeId} does not have ${formatMiB(memory)} free: ${err.message}`, 'memory');
    return err;
  }

  return tab;
}

// ---- a VM's details -----------------------------------------------------------------

/**
 * A table of a running VM's I/O as the node reports it, one row per device:
 * its name, two rates as counts, then two in bytes per second (`rows`:
 * [name, count, count, bytes, bytes]).
 */
function ioTable({ title, iconName, testid, rowTestid, columns: [first, ...rates], rows }) {
  return h(
    'section',
    { class: 'ct-section ct-table' },
    h('div', { class: 'ct-table-head' }, h('h3', { class: 'ct-heading' }, glyph(iconName, { size: 15 }), title)),
    dataTable({
      testid,
      compact: true,
      columns: [first, ...rates.map((label) => ({ label, class: 'num' }))],
      rows: rows.map(([name, a, b, c, d]) =>
        h('tr', { testid: rowTestid }, h('td', { class: 'mono nowrap' }, name), h('td', { class: 'num' }, a), h('td', { class: 'num' }, b), h('td', { class: 'num nowrap' }, c), h('td', { class: 'num nowrap' }, d)),
      ),
    }),
  );
}

/** Under an opened VM: its NICs, disks and VNC port, and while it runs its load (GET …/info, polled). */
function vmDetail(nodeId, initial) {
  let vm = initial;
  let stopped = false;
  let timer = null;
  let reading = false;
  let info = null;
  let infoError = null;

  const facts = h('dl', { class: 'ct-facts st-facts', testid: 'vm-facts' });
  const live = h('div', { class: 'vm-live', testid: 'vm-info' });
  const el = h('div', { class: 'ct-detail vm-detail', testid: 'vm-detail', dataset: { id: vm.id } }, facts, live);

  const showsInfo = () => vm.status === 'running' || vm.status === 'paused';

  function renderFacts() {
    const nics = asList(vm.nics);
    const disks = asList(vm.disks);
    replace(
      facts,
      fact('VNC', vm.vnc >= 0 ? h('span', { class: 'mono' }, `port ${vm.vnc} on ${nodeId}`) : muted('only while it runs'), 'vm-fact-vnc'),
      fact(
        'Network cards',
        nics.length
          ? h('ul', { class: 'vm-facts-list' }, nics.map((n) => h('li', null, h('span', { class: 'mono' }, nicLabel(n)), n.macaddress ? h('span', { class: 'muted mono' }, ` ${n.macaddress}`) : null)))
          : muted('none'),
        'vm-fact-nics',
      ),
      fact(
        'Disks',
        disks.length
          ? h('ul', { class: 'vm-facts-list' }, disks.map((d) => h('li', null, h('span', { class: 'mono' }, d.vdiskid), h('span', { class: 'muted' }, d.maxIOps ? ` · at most ${d.maxIOps} IOPS` : ' · no IOPS limit'))))
          : muted('none'),
        'vm-fact-disks',
      ),
    );
  }

  function renderLive() {
    if (stopped) return;
    if (!showsInfo()) {
      live.dataset.state = 'halted';
      const busy = isBusy(vm);
      replace(live, h('p', { class: 'ct-note', testid: 'vm-info-halted' }, glyph('info', { size: 16 }), busy ? 'The node is working on this VM; its load shows once it runs.' : 'Not running: start the VM to see its load.'));
      return;
    }
    if (!info) {
      live.dataset.state = infoError ? 'error' : 'loading';
      replace(
        live,
        infoError
          ? h('p', { class: 'ct-note tone-danger', testid: 'vm-info-error' }, glyph('alert', { size: 16 }), `Could not read its load: ${infoError.display || infoError.message}`)
          : h('p', { class: 'ct-note' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Reading its load from the node…'),
      );
      return;
    }
    live.dataset.state = 'live';
    const cpus = asList(info.cpu).map(Number);
    const disks = asList(info.disk);
    const nets = asList(info.net);
    const num = (v, digits = 0) => (Number.isFinite(Number(v)) ? Number(v).toFixed(digits) : '—');
    const perSec = (v) => (Number.isFinite(Number(v)) ? `${formatBytes(Number(v))}/s` : '—');
    replace(
      live,
      h(
        'section',
        { class: 'ct-section vm-cpus', testid: 'vm-cpus' },
        h('h3', { class: 'ct-heading' }, glyph('cpu', { size: 15 }), 'Load per vCPU', h('span', { class: 'muted vm-live-note' }, `5-minute averages, read every ${INFO_POLL_MS / 1000} s`)),
        cpus.length
          ? h(
              'div',
              { class: 'vm-cpu-list' },
              cpus.map((pct, i) => {
                const v = Number.isFinite(pct) ? Math.min(Math.max(pct, 0), 100) : 0;
                return h(
                  'div',
                  { class: 'vm-cpu', testid: 'vm-cpu-load', dataset: { percent: num(pct, 1) } },
                  h('span', { class: 'vm-cpu-label' }, `vCPU ${i}`),
                  h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': v.toFixed(0), 'aria-label': `vCPU ${i} load` }, h('span', { class: 'progress-bar', style: `width: ${v.toFixed(1)}%` })),
                  h('span', { class: 'vm-cpu-pct' }, `${num(pct, 1)} %`),
                );
              }),
            )
          : muted('The node reports no vCPUs.'),
      ),
      h(
        'div',
        { class: 'ct-tables' },
        ioTable({
          title: 'Disks',
          iconName: 'disk',
          testid: 'vm-info-disks',
          rowTestid: 'vm-info-disk',
          columns: ['Disk', 'Read IOPS', 'Write IOPS', 'Read', 'Write'],
          rows: disks.map((d, i) => [asList(vm.disks)[i] ? asList(vm.disks)[i].vdiskid : `#${i}`, num(d.iops_read, 1), num(d.iops_write, 1), perSec(d.read), perSec(d.write)]),
        }),
        ioTable({
          title: 'Network',
          iconName: 'network',
          testid: 'vm-info-net',
          rowTestid: 'vm-info-nic',
          columns: ['NIC', 'Pkts in/s', 'Pkts out/s', 'In', 'Out'],
          rows: nets.map((n, i) => [asList(vm.nics)[i] ? nicLabel(asList(vm.nics)[i]) : `#${i}`, num(n.rxPackets), num(n.txPackets), perSec(n.rxThroughput), perSec(n.txThroughput)]),
        }),
      ),
    );
  }

  async function poll() {
    timer = null;
    if (stopped || !showsInfo()) return;
    reading = true;
    try {
      info = await api.vmInfo(nodeId, vm.id);
      infoError = null;
    } catch (err) {
      if (err.status === 401) return;
      // 409: it stopped meanwhile; the list's next change says so.
      info = null;
      infoError = err.status === 409 ? null : err;
    } finally {
      reading = false;
    }
    if (stopped) return;
    renderLive();
    timer = setTimeout(poll, INFO_POLL_MS);
  }

  function restart() {
    clearTimeout(timer);
    timer = null;
    if (showsInfo() && !reading) poll();
  }

  renderFacts();
  renderLive();
  restart();

  return {
    el,
    update(next) {
      const was = showsInfo();
      const status = vm.status;
      vm = next;
      renderFacts();
      if (!showsInfo()) info = null;
      renderLive();
      // Started, paused or resumed: read the load now rather than at the next poll.
      if (showsInfo() && (!was || status !== vm.status)) restart();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

// ---- the rows of the form's NICs and disks ---------------------------------------------

/**
 * A growing list of rows (NICs, disks) in a form; each row's cells carry the
 * API's field names ("nics[0].id") so that an error shows next to its cell.
 * `p` is the form's testid stem: the list is <p>-<name>, its add button
 * <p>-<item>-add. make(p, value) → {el, cells: {key: wrapper}, value()}.
 */
function rowList(p, { name, item, addLabel, empty, make }) {
  const testid = `${p}-${name}`;
  const addTestid = `${p}-${item}-add`;
  const rows = [];
  const box = h('div', { class: 'vm-rows' });
  const none = h('p', { class: 'form-note', testid: `${testid}-none` }, empty);
  const el = h('div', { class: 'st-devices vm-list', testid }, box, none, button(addLabel, { small: true, kind: 'ghost', iconName: 'plus', testid: addTestid, onClick: () => add() }));

  function renumber() {
    rows.forEach((r, i) => {
      for (const [key, cell] of Object.entries(r.cells)) cell.dataset.field = `${name}[${i}].${key}`;
    });
    none.hidden = rows.length > 0;
  }

  function add(value = {}) {
    const row = make(p, value);
    const remove = h(
      'button',
      { type: 'button', class: 'icon-btn icon-btn-sm', testid: `${testid}-remove`, title: 'Remove', 'aria-label': 'Remove', onclick: () => {
        rows.splice(rows.indexOf(row), 1);
        row.el.remove();
        renumber();
      } },
      glyph('x', { size: 15 }),
    );
    row.el.appendChild(remove);
    rows.push(row);
    box.appendChild(row.el);
    renumber();
    const first = row.el.querySelector('input:not([disabled]), select');
    if (value && Object.keys(value).length === 0 && first) first.focus();
  }
  renumber();
  return { el, add, values: () => rows.map((r) => r.value()) };
}

/** A cell of a row: its control with the message slot of its API field (set by renumber()). */
function cell(control, label) {
  return h('div', { class: 'field vm-cell' }, h('span', { class: 'vm-cell-label' }, label), control, fieldMessage());
}

function nicRow(p, nic) {
  const type = h('select', { class: 'input', testid: `${p}-nic-type`, 'aria-label': 'NIC type' }, NIC_TYPES.map((t) => h('option', { value: t.value }, t.label)));
  type.value = NIC_TYPES.some((t) => t.value === nic.type) ? nic.type : 'default';
  const id = textInput(`${p}-nic-id`, { value: nic.id || '', 'aria-label': 'Bridge, VLAN tag or VXLAN id' });
  const mac = textInput(`${p}-nic-mac`, { placeholder: 'chosen by the node', value: nic.macaddress || '', 'aria-label': 'MAC address' });
  const show = () => {
    const t = NIC_TYPES.find((x) => x.value === type.value);
    id.disabled = type.value === 'default';
    if (id.disabled) id.value = '';
    id.placeholder = t.placeholder;
  };
  type.addEventListener('change', show);
  show();
  const cells = { type: cell(type, 'Type'), id: cell(id, 'Bridge / tag / id'), macaddress: cell(mac, 'MAC (optional)') };
  return {
    el: h('div', { class: 'vm-form-row vm-nic-row', testid: `${p}-nic` }, Object.values(cells)),
    cells,
    value() {
      const v = { type: type.value };
      if (type.value !== 'default') v.id = id.value.trim();
      if (mac.value.trim()) v.macaddress = mac.value.trim();
      return v;
    },
  };
}

function diskRow(p, disk) {
  const vdisk = textInput(`${p}-disk-id`, { placeholder: 'boot-disk', value: disk.vdiskid || '', 'aria-label': 'Vdisk id' });
  const iops = h('input', { class: 'input', testid: `${p}-disk-iops`, type: 'number', min: '0', step: '1', placeholder: '0 = no limit', value: disk.maxIOps ? String(disk.maxIOps) : '', 'aria-label': 'Max IOPS' });
  const cells = { vdiskid: cell(vdisk, 'Vdisk id'), maxIOps: cell(iops, 'Max IOPS') };
  return {
    el: h('div', { class: 'vm-form-row vm-disk-row', testid: `${p}-disk` }, Object.values(cells)),
    cells,
    value() {
      return { vdiskid: vdisk.value.trim(), maxIOps: iops.value.trim() === '' ? 0 : Number(iops.value) };
    },
  };
}

// ---- pieces -------------------------------------------------------------------------

const muted = (text) => h('span', { class: 'muted' }, text);

const isBusy = (vm) => BUSY_STATES.has(vm.state) || BUSY_STATUS.has(vm.status);

/** "default", "bridge br0", "vlan 100" */
function nicLabel(n) {
  return n.type === 'default' || !n.id ? String(n.type) : `${n.type} ${n.id}`;
}

function formatMiB(mib) {
  return formatBytes(Number(mib) * MIB);
}

function statusTitle(status) {
  return (
    {
      running: 'The domain runs on the node.',
      paused: 'The domain is paused: it keeps its memory but gets no CPU time.',
      halted: 'Not running: the node has no domain for it.',
    }[status] || null
  );
}
