// The Containers tab of a node's page: its containers, live (state, flist,
// ports), start / stop / delete, a create form that shows the API's
// validation next to the field it names and follows the job when the node is
// slow, and each container's details (container-detail.js) under its row.

import { api, ApiError } from '../api.js';
import { h, replace } from '../dom.js';
import { field, fieldMessage, groupField, segmented, toast, textInput } from '../ui.js';
import { asList } from '../resource.js';
import { containerDetail, splitCommand } from './container-detail.js';
import { BUSY_STATES, workloadBadge } from './workloads.js';
import { workloadTab, workloadActions } from './workload-tab.js';

const HUB = 'https://hub.grid.tf/tf-official-apps';
const FLISTS = ['ubuntu-18.04', 'ubuntu-16.04', 'alpine-3.8', 'busybox', 'nginx', 'redis', 'caddy'].map((f) => `${HUB}/${f}.flist`);

/**
 * mountContainers(ctx, nodeId, {open, onCount}) → {el, unmount()}
 * `open`: the name of a container whose details show at first;
 * onCount(n): the number of containers, after each load.
 */
export function mountContainers(ctx, nodeId, place) {
  const tab = workloadTab(ctx, nodeId, place, {
    testid: 'containers',
    name: 'containers',
    sub: 'Zero-OS containers on this node, each from an flist. The list updates live; open a container to see its processes and run commands in it.',
    create: { label: 'New container', onClick: () => openCreate() },
    empty: {
      iconName: 'layers',
      text: 'Create a container from an flist to run software on this node.',
      viewerText: 'Nothing runs in a container on this node.',
    },
    item: 'container',
    collections: ['containers'],
    fetch: () => api.listContainers(nodeId),
    table: { columns: ['Name', 'State', 'Flist', 'Ports', 'Network'], className: 'ct-table-main' },
    row,
    detail: (c) => containerDetail(ctx, nodeId, c),
    loadingRows: 3,
  });

  // ---- rendering ----------------------------------------------------------

  function row(c, { nameCell, stateCell }) {
    const ports = asList(c.ports);
    const nics = asList(c.nics);
    return {
      data: { name: c.name, state: c.state },
      cells: [
        nameCell('Name', 'the details', c.hostname && c.hostname !== c.name ? c.hostname : null),
        stateCell('State', workloadBadge(c.state, { testid: 'container-state' })),
        h('td', { dataset: { label: 'Flist' } }, h('span', { class: 'mono ct-flist-name', testid: 'container-flist', title: c.flist }, flistName(c.flist))),
        h(
          'td',
          { dataset: { label: 'Ports' }, testid: 'container-ports' },
          ports.length ? h('span', { class: 'chips' }, ports.map((p) => h('span', { class: 'pill-mono', title: portTitle(p) }, p))) : h('span', { class: 'muted' }, '—'),
        ),
        h('td', { dataset: { label: 'Network' } }, c.hostNetworking ? 'host' : nics.length ? nics.map((n) => n.type).join(', ') : h('span', { class: 'muted' }, 'none')),
        ctx.canMutate ? actions(c) : null,
      ],
    };
  }

  function actions(c) {
    const power = (label, action, iconName) => ({
      label,
      iconName,
      testid: `container-${action}`,
      title: `${label} ${c.name}`,
      disabled: BUSY_STATES.has(c.state),
      spinner: true,
      onClick: (ev) =>
        tab.act(ev.currentTarget, () => (action === 'stop' ? api.stopContainer(nodeId, c.name) : api.startContainer(nodeId, c.name)), {
          done: `Container ${c.name} ${action === 'stop' ? 'stopped' : 'started'}.`,
          pending: `The node is still ${action === 'stop' ? 'stopping' : 'starting'} ${c.name}; the list follows it.`,
          failed: `Could not ${action} ${c.name}`,
        }),
    });
    return workloadActions(c, { what: c.name, testid: 'container-delete', onDelete: () => openDelete(c) }, c.status === 'running' ? power('Stop', 'stop', 'stop') : power('Start', 'start', 'play'));
  }

  // ---- actions ------------------------------------------------------------

  function openDelete(c) {
    tab.confirmRemove(c.name, {
      title: 'Delete container?',
      submitLabel: 'Delete container',
      text: ['This stops ', h('strong', { class: 'mono' }, c.name), ` and removes it from ${nodeId}, with everything written inside it.`],
      call: () => api.deleteContainer(nodeId, c.name),
      done: `Container ${c.name} deleted.`,
      pending: `The node is still deleting ${c.name}; the list follows it.`,
    });
  }

  // ---- create -------------------------------------------------------------

  function openCreate() {
    const nameInput = textInput('ct-form-name', { placeholder: 'web', maxlength: 64 });
    const flistInput = textInput('ct-form-flist', { placeholder: `${HUB}/ubuntu-18.04.flist`, list: `flists-${nodeId}` });
    const flists = h('datalist', { id: `flists-${nodeId}` }, FLISTS.map((f) => h('option', { value: f })));
    const hostInput = textInput('ct-form-hostname', { mono: false, placeholder: 'same as the name' });
    const portsInput = textInput('ct-form-ports', { placeholder: '8080:80, 2222:22' });
    const network = segmented({
      label: 'Network',
      checked: 'default',
      options: [
        { value: 'default', label: 'Default (NAT)', testid: 'ct-form-net-default' },
        { value: 'host', label: 'Host networking', testid: 'ct-form-net-host' },
        { value: 'none', label: 'None', testid: 'ct-form-net-none' },
      ],
    });
    const initInput = textInput('ct-form-init', { placeholder: 'e.g. sleep 3600' });
    const envInput = h('textarea', { class: 'input input-mono textarea', testid: 'ct-form-env', rows: '2', spellcheck: 'false', placeholder: 'KEY=value, one a line' });
    // The node's filesystems ("<pool>:<filesystem>") to mount, read when the form opens.
    const fsBox = h('div', { class: 'st-devices', testid: 'ct-form-filesystems' }, h('p', { class: 'form-note' }, 'Reading the node’s filesystems…'));
    const fsBoxes = [];
    tab.openForm({
      title: 'New container',
      description: h('span', null, 'On node ', h('span', { class: 'mono' }, nodeId), '. It starts as soon as the node has fetched its flist.'),
      testid: 'container-modal',
      submitLabel: 'Create container',
      size: 'lg',
      wait: 'ct-form-wait',
      fields: [
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
      ],
      async onSubmit(wait) {
        const name = nameInput.value.trim();
        const flist = flistInput.value.trim();
        if (!name) throw new ApiError(400, 'invalid', 'The name is required.', 'name');
        if (!flist) throw new ApiError(400, 'invalid', 'The flist is required.', 'flist');
        const ports = portsInput.value.split(/[\s,]+/).filter(Boolean);
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
        let view;
        try {
          // After a job (null) the container is read: the toast says its state.
          view = (await wait.run(`Waiting for ${nodeId} to create ${name}`, () => api.createContainer(nodeId, spec))) || (await api.getContainer(nodeId, name).catch(() => null));
        } catch (err) {
          throw formError(err, ports);
        }
        tab.saved(view, { open: name });
        toast(`Container ${name} is ${view ? view.state : 'created'}.`, { type: 'success' });
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
  }

  return tab;
}

// ---- pieces -------------------------------------------------------------------

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
