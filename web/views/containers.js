// The Containers tab of a node's page: its containers, live (state, flist,
// ports), start / stop / delete, a create form that shows the API's
// validation next to the field it names and follows the job when the node is
// slow, and each container's details (container-detail.js) under its row.

import { api, ApiError } from '../api.js';
import { h, replace } from '../dom.js';
import { openModal, field, fieldMessage, groupField, segmented, toast, errorToast, emptyState, button, confirmDelete, glyph } from '../ui.js';
import { resource, asList, showLoadState } from '../resource.js';
import { containerDetail, splitCommand } from './container-detail.js';
import { followJob, jobFinished, jobProgress, jobError } from './jobs.js';

const REFRESH_DEBOUNCE_MS = 100;
const TONES = { running: 'ok', halted: 'neutral' };
const BUSY_STATES = new Set(['creating', 'starting', 'stopping', 'deleting']);
const HUB = 'https://hub.grid.tf/tf-official-apps';
const FLISTS = ['ubuntu-18.04', 'ubuntu-16.04', 'alpine-3.8', 'busybox', 'nginx', 'redis', 'caddy'].map((f) => `${HUB}/${f}.flist`);

/**
 * mountContainers(ctx, nodeId, {open, onCount}) → {el, unmount()}
 * `open`: the name of a container whose details show at first;
 * onCount(n): the number of containers, after each load.
 */
export function mountContainers(ctx, nodeId, { open = null, onCount = () => {} } = {}) {
  let destroyed = false;
  const expanded = new Set(open ? [open] : []);
  const rows = new Map(); // name → {main, detailRow, detail}
  const jobs = new Map(); // job id → the job, for containers in a busy state
  const jobReads = new Map(); // job id being read → whether to read it again after
  const prefix = `${nodeId}/`;

  const list = resource({
    name: 'containers',
    fetcher: async () => asList(await api.listContainers(nodeId)),
    onChange: render,
    refreshMs: REFRESH_DEBOUNCE_MS,
    debounce: true,
  });

  // ---- layout -------------------------------------------------------------

  const createBtn = ctx.canMutate
    ? button('New container', { kind: 'primary', iconName: 'plus', testid: 'container-create', onClick: () => openCreate() })
    : null;
  const tbody = h('tbody');
  const COLUMNS = ['Name', 'State', 'Flist', 'Ports', 'Network'];
  const table = h(
    'div',
    { class: 'table-scroll' },
    h(
      'table',
      { class: 'table ct-table-main', testid: 'containers-table' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          COLUMNS.map((c) => h('th', { scope: 'col' }, c)),
          h('th', { scope: 'col', class: 'col-actions' }, h('span', { class: 'sr-only' }, 'Actions')),
        ),
      ),
      tbody,
    ),
  );
  const body = h('div', { class: 'card table-card', testid: 'containers-card' });
  const el = h(
    'div',
    { class: 'containers', testid: 'containers' },
    h(
      'div',
      { class: 'panel-head' },
      h(
        'div',
        null,
        h('h2', null, 'Containers'),
        h('p', { class: 'panel-sub' }, 'Zero-OS containers on this node, each from an flist. The list updates live; open a container to see its processes and run commands in it.'),
      ),
      createBtn ? h('div', { class: 'page-actions' }, createBtn) : null,
    ),
    body,
  );
  render();

  // ---- data ---------------------------------------------------------------

  const unsubscribe = ctx.live.subscribe((msg) => {
    if (msg.type === 'open') {
      list.schedule();
      return;
    }
    if (msg.type !== 'change') return;
    const { collection, id } = msg.change;
    if (collection === 'containers' && String(id).startsWith(prefix)) list.schedule();
    else if (collection === 'workload_status' && String(id).startsWith(`containers/${prefix}`)) list.schedule();
    else if (collection === 'jobs' && ownJob(id)) {
      readJob(id);
      list.schedule(); // a finished job changes the container's state
    }
  });
  list.load();

  /** Whether job `id` applies a change to one of our containers. */
  function ownJob(id) {
    return jobs.has(id) || asList(list.data).some((c) => c.job === id);
  }

  async function readJob(id) {
    if (jobReads.has(id)) {
      jobReads.set(id, true); // read it once more when this read is done
      return;
    }
    jobReads.set(id, false);
    try {
      const job = await api.getJob(id);
      if (!destroyed) jobs.set(id, job);
    } catch {
      /* the row shows the state without progress */
    }
    const again = jobReads.get(id);
    jobReads.delete(id);
    render();
    if (again && !destroyed) readJob(id);
  }

  // ---- rendering ----------------------------------------------------------

  function render() {
    if (destroyed) return;
    if (showLoadState(list, body, 'containers', { rows: 3 })) return;
    const containers = [...list.data].sort((a, b) => String(a.name).localeCompare(String(b.name)));
    onCount(containers.length);
    // Forget what is gone.
    const names = new Set(containers.map((c) => c.name));
    for (const [name, entry] of rows) {
      if (names.has(name)) continue;
      if (entry.detail) entry.detail.stop();
      rows.delete(name);
    }
    for (const id of [...jobs.keys()]) if (!containers.some((c) => c.job === id)) jobs.delete(id);

    if (containers.length === 0) {
      replace(
        body,
        emptyState({
          iconName: 'layers',
          title: 'No containers',
          text: ctx.canMutate ? 'Create a container from an flist to run software on this node.' : 'Nothing runs in a container on this node.',
          testid: 'containers-empty',
          action: ctx.canMutate ? button('New container', { kind: 'primary', iconName: 'plus', onClick: () => openCreate() }) : null,
        }),
      );
      return;
    }
    if (table.parentNode !== body) replace(body, table);

    const wanted = [];
    for (const c of containers) {
      let entry = rows.get(c.name);
      if (!entry) {
        entry = { main: h('tr', { testid: 'container-row' }), detailRow: null, detail: null };
        rows.set(c.name, entry);
      }
      if (BUSY_STATES.has(c.state) && c.job && !jobs.has(c.job)) readJob(c.job);
      fillRow(entry, c);
      wanted.push(entry.main);
      if (expanded.has(c.name)) {
        if (!entry.detail) {
          entry.detail = containerDetail(ctx, nodeId, c);
          entry.detailRow = h(
            'tr',
            { class: 'ct-detail-row', testid: 'container-detail-row', dataset: { name: c.name } },
            h('td', { colspan: String(COLUMNS.length + 1) }, entry.detail.el),
          );
        } else {
          entry.detail.update(c);
        }
        wanted.push(entry.detailRow);
      } else if (entry.detail) {
        entry.detail.stop();
        entry.detail = null;
        entry.detailRow = null;
      }
    }
    // Put the rows in order without moving the ones already in place (a moved
    // element loses the focus, e.g. of the command box being typed in).
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

  function fillRow(entry, c) {
    const row = entry.main;
    const open = expanded.has(c.name);
    row.className = open ? 'ct-row is-open' : 'ct-row';
    row.dataset.name = c.name;
    row.dataset.state = c.state;
    const job = c.job ? jobs.get(c.job) : null;
    const busy = BUSY_STATES.has(c.state);
    const ports = asList(c.ports);
    const nics = asList(c.nics);
    replace(
      row,
      h(
        'td',
        { dataset: { label: 'Name' } },
        h(
          'button',
          {
            type: 'button',
            class: 'ct-toggle',
            testid: 'container-toggle',
            'aria-expanded': open ? 'true' : 'false',
            title: open ? `Hide the details of ${c.name}` : `Show the details of ${c.name}`,
            onclick: () => toggle(c.name),
          },
          glyph('chevron', { size: 16, className: 'icon ct-chevron' }),
          h(
            'span',
            { class: 'cell-stack' },
            h('span', { class: 'mono strong', testid: 'container-name' }, c.name),
            c.hostname && c.hostname !== c.name ? h('span', { class: 'cell-sub mono' }, c.hostname) : null,
          ),
        ),
      ),
      h(
        'td',
        { dataset: { label: 'State' } },
        h(
          'div',
          { class: 'ct-state' },
          containerBadge(c.state),
          busy && job && !jobFinished(job) ? jobProgress(job, { compact: true }) : null,
        ),
      ),
      h('td', { dataset: { label: 'Flist' } }, h('span', { class: 'mono ct-flist-name', testid: 'container-flist', title: c.flist }, flistName(c.flist))),
      h(
        'td',
        { dataset: { label: 'Ports' }, testid: 'container-ports' },
        ports.length ? h('span', { class: 'chips' }, ports.map((p) => h('span', { class: 'pill-mono', title: portTitle(p) }, p))) : h('span', { class: 'muted' }, '—'),
      ),
      h(
        'td',
        { dataset: { label: 'Network' } },
        c.hostNetworking ? 'host' : nics.length ? nics.map((n) => n.type).join(', ') : h('span', { class: 'muted' }, 'none'),
      ),
      ctx.canMutate ? actions(c, busy) : null,
    );
  }

  function actions(c, busy) {
    const running = c.status === 'running';
    const power = running
      ? button('Stop', { small: true, kind: 'ghost', iconName: 'stop', testid: 'container-stop', title: `Stop ${c.name}`, disabled: busy, spinner: true, onClick: (ev) => act(ev.currentTarget, c, 'stop') })
      : button('Start', { small: true, kind: 'ghost', iconName: 'play', testid: 'container-start', title: `Start ${c.name}`, disabled: busy, spinner: true, onClick: (ev) => act(ev.currentTarget, c, 'start') });
    const del = button('Delete', { small: true, kind: 'ghost-danger', iconName: 'trash', testid: 'container-delete', title: `Delete ${c.name}`, disabled: c.state === 'deleting', onClick: () => openDelete(c) });
    return h('td', { class: 'col-actions' }, h('div', { class: 'row-actions ct-actions' }, power, del));
  }

  function toggle(name) {
    if (expanded.has(name)) expanded.delete(name);
    else expanded.add(name);
    render();
    const entry = rows.get(name);
    if (entry && entry.detail) entry.detailRow.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }

  // ---- actions ------------------------------------------------------------

  async function act(btn, c, action) {
    btn.classList.add('is-busy');
    btn.disabled = true;
    try {
      const res = action === 'stop' ? await api.stopContainer(nodeId, c.name) : await api.startContainer(nodeId, c.name);
      if (res.status === 202) {
        if (res.body && res.body.id) jobs.set(res.body.id, res.body);
        toast(`The node is still ${action === 'stop' ? 'stopping' : 'starting'} ${c.name}; the list follows it.`, { type: 'info' });
      } else {
        toast(`Container ${c.name} ${action === 'stop' ? 'stopped' : 'started'}.`, { type: 'success' });
      }
    } catch (err) {
      if (err.status !== 401) errorToast(err, `Could not ${action} ${c.name}`);
    } finally {
      btn.classList.remove('is-busy');
      btn.disabled = false;
    }
    list.load();
  }

  function openDelete(c) {
    confirmDelete({
      title: 'Delete container?',
      submitLabel: 'Delete container',
      text: ['This stops ', h('strong', { class: 'mono' }, c.name), ` and removes it from ${nodeId}, with everything written inside it.`],
      async onConfirm() {
        const res = await api.deleteContainer(nodeId, c.name);
        if (res.status === 202) {
          if (res.body && res.body.id) jobs.set(res.body.id, res.body);
          toast(`The node is still deleting ${c.name}; the list follows it.`, { type: 'info' });
        } else {
          expanded.delete(c.name);
          if (list.data) list.set(list.data.filter((x) => x.name !== c.name));
          toast(`Container ${c.name} deleted.`, { type: 'success' });
        }
        list.load();
      },
    });
  }

  // ---- create -------------------------------------------------------------

  function openCreate() {
    const nameInput = input({ testid: 'ct-form-name', placeholder: 'web', maxlength: 64, mono: true });
    const flistInput = input({ testid: 'ct-form-flist', placeholder: `${HUB}/ubuntu-18.04.flist`, mono: true, list: `flists-${nodeId}` });
    const flists = h('datalist', { id: `flists-${nodeId}` }, FLISTS.map((f) => h('option', { value: f })));
    const hostInput = input({ testid: 'ct-form-hostname', placeholder: 'same as the name' });
    const portsInput = input({ testid: 'ct-form-ports', placeholder: '8080:80, 2222:22', mono: true });
    const network = segmented({
      label: 'Network',
      checked: 'default',
      options: [
        { value: 'default', label: 'Default (NAT)', testid: 'ct-form-net-default' },
        { value: 'host', label: 'Host networking', testid: 'ct-form-net-host' },
        { value: 'none', label: 'None', testid: 'ct-form-net-none' },
      ],
    });
    const initInput = input({ testid: 'ct-form-init', placeholder: 'e.g. sleep 3600', mono: true });
    const envInput = h('textarea', { class: 'input input-mono textarea', testid: 'ct-form-env', rows: '2', spellcheck: 'false', placeholder: 'KEY=value, one a line' });
    // The node's filesystems ("<pool>:<filesystem>") to mount, read when the form opens.
    const fsBox = h('div', { class: 'st-devices', testid: 'ct-form-filesystems' }, h('p', { class: 'form-note' }, 'Reading the node’s filesystems…'));
    const fsBoxes = [];
    const wait = h('div', { class: 'ct-wait', testid: 'ct-form-wait', role: 'status', hidden: true });
    const controller = new AbortController();
    let ticker = null;
    let ports = [];

    const modal = openModal({
      title: 'New container',
      description: h('span', null, 'On node ', h('span', { class: 'mono' }, nodeId), '. It starts as soon as the node has fetched its flist.'),
      testid: 'container-modal',
      submitLabel: 'Create container',
      size: 'lg',
      body: h(
        'div',
        { class: 'form-grid' },
        h(
          'div',
          { class: 'form-row-2' },
          field({ label: 'Name', name: 'name', control: nameInput, hint: 'Letters, digits, “.”, “_” and “-”.' }),
          field({ label: 'Hostname (optional)', name: 'hostname', control: hostInput }),
        ),
        field({ label: 'Flist', name: 'flist', control: flistInput, hint: 'The URL of the root file system (.flist) on the node’s hub, e.g. an official app.' }),
        flists,
        h(
          'div',
          { class: 'form-row-2' },
          field({ label: 'Port forwards (optional)', name: 'ports', control: portsInput, hint: 'host:container, separated by commas.' }),
          groupField({ name: 'network', label: 'Network' }, network.el, fieldMessage()),
        ),
        h(
          'div',
          { class: 'form-row-2' },
          field({ label: 'Start command (optional)', name: 'init', control: initInput, hint: 'Runs when the container starts.' }),
          field({ label: 'Its environment (optional)', name: 'env', control: envInput }),
        ),
        groupField({ name: 'filesystems', label: 'Filesystems to mount (optional)' }, fsBox, fieldMessage()),
        wait,
      ),
      onClose() {
        clearInterval(ticker);
        controller.abort();
      },
      async onSubmit() {
        const name = nameInput.value.trim();
        const flist = flistInput.value.trim();
        if (!name) throw new ApiError(400, 'invalid', 'The name is required.', 'name');
        if (!flist) throw new ApiError(400, 'invalid', 'The flist is required.', 'flist');
        ports = portsInput.value.split(/[\s,]+/).filter(Boolean);
        const spec = { name, flist, ports };
        const filesystems = fsBoxes.filter((b) => b.checked).map((b) => b.value);
        if (filesystems.length) spec.filesystems = filesystems;
        const hostname = hostInput.value.trim();
        if (hostname) spec.hostname = hostname;
        const net = network.value();
        spec.nics = net === 'default' ? [{ type: 'default' }] : [];
        spec.hostNetworking = net === 'host';
        const init = initInput.value.trim();
        const env = envInput.value.split('\n').map((l) => l.trim()).filter(Boolean);
        if (init) {
          let words;
          try {
            words = splitCommand(init);
          } catch (err) {
            throw new ApiError(400, 'invalid', err.message, 'init');
          }
          spec.initProcesses = [{ name: words[0], args: words.slice(1), environment: env }];
        } else if (env.length) {
          throw new ApiError(400, 'invalid', 'An environment needs a start command.', 'env');
        }
        try {
          await create(spec);
        } catch (err) {
          clearInterval(ticker);
          if (err.code !== 'aborted') wait.hidden = true;
          throw formError(err, ports);
        }
      },
    });

    loadFilesystems();

    async function loadFilesystems() {
      let entries;
      try {
        const pools = asList(await api.listPools(nodeId));
        const lists = await Promise.all(pools.map(async (p) => asList(await api.listFilesystems(nodeId, p.name)).map((f) => `${p.name}:${f}`)));
        entries = lists.flat();
      } catch (err) {
        if (err.status !== 401) replace(fsBox, h('p', { class: 'form-note' }, `Could not read the node’s filesystems: ${err.display || err.message}`));
        return;
      }
      if (!entries.length) {
        replace(fsBox, h('p', { class: 'form-note', testid: 'ct-form-filesystems-none' }, 'This node has no filesystems yet: make them in its Storage tab.'));
        return;
      }
      replace(
        fsBox,
        entries.map((entry) => {
          const box = h('input', { type: 'checkbox', value: entry, testid: 'ct-form-filesystem' });
          fsBoxes.push(box);
          return h('label', { class: 'check', dataset: { filesystem: entry } }, box, h('span', { class: 'check-label mono' }, entry));
        }),
      );
    }

    async function create(spec) {
      const started = Date.now();
      const waiting = h('span', { testid: 'ct-form-wait-text' }, `Waiting for ${nodeId} to create ${spec.name}…`);
      replace(wait, h('span', { class: 'spinner', 'aria-hidden': 'true' }), waiting);
      wait.dataset.phase = 'request';
      delete wait.dataset.jobId;
      wait.hidden = false;
      const leave = button('Close and keep going', { small: true, kind: 'ghost', testid: 'ct-form-background', onClick: () => modal.close() });
      ticker = setInterval(() => {
        const s = Math.round((Date.now() - started) / 1000);
        waiting.textContent = `Waiting for ${nodeId} to create ${spec.name}… ${s} s`;
        // A slow node: the request goes on without the dialog, and the list and the Jobs page show how it ends.
        if (s >= 3 && !leave.isConnected) wait.appendChild(leave);
      }, 1000);
      const res = await api.createContainer(nodeId, spec);
      clearInterval(ticker);
      if (res.status === 202 && res.body && res.body.id) {
        // The node is slower than the server waits: follow the job here (or close, and it goes on).
        const job = res.body;
        jobs.set(job.id, job);
        wait.dataset.phase = 'job';
        wait.dataset.jobId = job.id;
        const progressSlot = h('div', { class: 'ct-wait-progress' });
        replace(
          wait,
          h(
            'div',
            { class: 'ct-wait-text' },
            h('strong', null, 'The node is still working on it.'),
            ' You can close this dialog: the job goes on, and the Jobs page and the list show how it ends.',
          ),
          progressSlot,
          button('Close and keep going', { small: true, kind: 'ghost', testid: 'ct-form-background', onClick: () => modal.close() }),
        );
        const done = await followJob(ctx, job.id, {
          initial: job,
          signal: controller.signal,
          onUpdate: (j) => {
            jobs.set(j.id, j);
            replace(progressSlot, jobProgress(j));
          },
        });
        if (done.state === 'failed') throw jobError(done);
      }
      const view = res.status === 201 && res.body && res.body.name ? res.body : await api.getContainer(nodeId, spec.name).catch(() => null);
      expanded.add(spec.name);
      if (view && list.data) list.set([...list.data.filter((c) => c.name !== view.name), view]);
      list.load();
      toast(`Container ${spec.name} is ${view ? view.state : 'created'}.`, { type: 'success' });
    }
  }

  return {
    el,
    unmount() {
      destroyed = true;
      list.stop();
      unsubscribe();
      for (const entry of rows.values()) if (entry.detail) entry.detail.stop();
      rows.clear();
    },
  };
}

// ---- pieces -------------------------------------------------------------------

function input({ testid, placeholder, maxlength = null, mono = false, list = null }) {
  return h('input', { class: mono ? 'input input-mono' : 'input', testid, placeholder, maxlength, list, autocomplete: 'off', spellcheck: 'false' });
}

/** A container's state as a badge (busy states with a spinner). */
export function containerBadge(state) {
  const s = typeof state === 'string' && state ? state : 'halted';
  const busy = BUSY_STATES.has(s);
  return h(
    'span',
    { class: `badge badge-${busy ? 'accent' : TONES[s] || 'neutral'}`, testid: 'container-state', dataset: { state: s } },
    busy ? h('span', { class: 'spinner badge-spinner', 'aria-hidden': 'true' }) : h('span', { class: 'badge-dot', 'aria-hidden': 'true' }),
    s,
  );
}

/** "https://hub.grid.tf/tf-official-apps/ubuntu-18.04.flist" → "ubuntu-18.04" */
function flistName(url) {
  const last = String(url || '').split('/').pop() || String(url || '');
  return last.replace(/\.flist$/, '') || '—';
}

function portTitle(p) {
  const [host, inside] = String(p).split(':');
  return inside ? `port ${host} of the node → port ${inside} in the container` : p;
}

const ORDINALS = ['1st', '2nd', '3rd'];

/**
 * The error as the form shows it: API fields that name an entry of a list
 * ("ports[1]", "initProcesses[0].environment[2]", "nics[0].type") go to the
 * field that holds the list, saying which entry.
 */
function formError(err, ports) {
  if (!(err instanceof ApiError) || !err.field) return err;
  const f = err.field;
  // "ports[0]: must be …" → "must be …"
  const message = err.message.startsWith(`${f}: `) ? err.message.slice(f.length + 2) : err.message;
  let m = /^ports\[(\d+)\]$/.exec(f);
  if (m) {
    const i = Number(m[1]);
    const entry = ports[i] !== undefined ? `“${ports[i]}”` : '';
    return new ApiError(err.status, err.code, `The ${ORDINALS[i] || `${i + 1}th`} port forward ${entry}: ${message}`.replace(/\s+:/, ':'), 'ports');
  }
  if (/^initProcesses\[\d+\]\.environment/.test(f)) {
    m = /environment\[(\d+)\]/.exec(f);
    return new ApiError(err.status, err.code, `Line ${Number(m[1]) + 1}: ${message}`, 'env');
  }
  if (/^initProcesses/.test(f)) return new ApiError(err.status, err.code, message, 'init');
  m = /^filesystems\[(\d+)\]$/.exec(f);
  if (m) return new ApiError(err.status, err.code, message, 'filesystems');
  if (/^(nics|hostNetworking)/.test(f)) return new ApiError(err.status, err.code, err.message, 'network');
  return err;
}
