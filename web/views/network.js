// The Bridges and ZeroTier tabs of a node's page. Bridges: the node's Linux
// bridges (network mode, address, DHCP range, NAT), a create form whose
// settings follow the chosen mode, delete. ZeroTier: the networks the node
// has joined, as its ZeroTier client reports them (status, addresses, MAC),
// a join form, leave. Both update live from /events and follow a slow
// change as a job.

import { api, ApiError } from '../api.js';
import { h } from '../dom.js';
import { field, groupField, fieldMessage, segmented, toast, rowActions, copyButton, textInput } from '../ui.js';
import { asList } from '../resource.js';
import { BUSY_STATES, checkbox } from './workloads.js';
import { workloadTab, workloadActions } from './workload-tab.js';

const MODES = [
  { value: 'none', label: 'None', testid: 'br-form-mode-none', text: 'A bridge without an address: the node only switches frames.' },
  { value: 'static', label: 'Static', testid: 'br-form-mode-static', text: 'The bridge gets an address; containers on it set their own.' },
  { value: 'dnsmasq', label: 'DHCP (dnsmasq)', testid: 'br-form-mode-dnsmasq', text: 'The bridge gets an address and hands out a range with dnsmasq.' },
];

const muted = (text) => h('span', { class: 'muted' }, text);

// ---- bridges ------------------------------------------------------------------------

/** mountBridges(ctx, nodeId, {onCount}) → {el, unmount()} */
export function mountBridges(ctx, nodeId, place) {
  const tab = workloadTab(ctx, nodeId, place, {
    testid: 'bridges',
    name: 'bridges',
    sub: 'Linux bridges on the node, for containers and virtual machines to share a network. Updated live.',
    create: { label: 'New bridge', onClick: () => openCreate() },
    empty: {
      iconName: 'network',
      text: 'A bridge joins containers and virtual machines on this node into one network, with DHCP and NAT if you want.',
      viewerText: 'The node has no bridges.',
    },
    item: 'bridge',
    collections: ['bridges'],
    fetch: () => api.listBridges(nodeId),
    table: { columns: ['Bridge', 'Status', 'Mode', 'Address', 'DHCP range', 'NAT'] },
    row,
  });

  function row(b, { stateCell, stateOrStatus }) {
    const s = b.setting || {};
    const hasCidr = b.networkMode !== 'none' && s.cidr;
    return {
      data: { name: b.name, state: b.state, status: b.status, mode: b.networkMode },
      cells: [
        h(
          'td',
          { dataset: { label: 'Bridge' } },
          h('span', { class: 'cell-stack' }, h('span', { class: 'mono strong', testid: 'bridge-name' }, b.name), b.hwaddr ? h('span', { class: 'cell-sub mono', testid: 'bridge-hwaddr' }, b.hwaddr) : null),
        ),
        stateCell('Status', stateOrStatus()),
        h('td', { dataset: { label: 'Mode' }, testid: 'bridge-mode' }, h('span', { class: 'tag tag-neutral' }, b.networkMode === 'dnsmasq' ? 'DHCP (dnsmasq)' : b.networkMode)),
        h('td', { dataset: { label: 'Address' }, testid: 'bridge-cidr' }, hasCidr ? h('span', { class: 'pill-mono' }, s.cidr) : muted('—')),
        h('td', { dataset: { label: 'DHCP range' }, testid: 'bridge-range' }, b.networkMode === 'dnsmasq' && s.start ? h('span', { class: 'mono' }, `${s.start} – ${s.end}`) : muted('—')),
        h('td', { dataset: { label: 'NAT' }, testid: 'bridge-nat' }, b.nat ? h('span', { class: 'tag tag-ok' }, 'NAT') : muted('off')),
        ctx.canMutate ? workloadActions(b, { what: `bridge ${b.name}`, testid: 'bridge-delete', onDelete: () => openDelete(b) }) : null,
      ],
    };
  }

  function openDelete(b) {
    tab.confirmRemove(b.name, {
      title: 'Delete bridge?',
      submitLabel: 'Delete bridge',
      text: ['This removes bridge ', h('strong', { class: 'mono' }, b.name), ` from ${nodeId}; what is attached to it loses that network.`],
      call: () => api.deleteBridge(nodeId, b.name),
      done: `Bridge ${b.name} deleted.`,
      pending: `The node is still deleting ${b.name}; the list follows it.`,
    });
  }

  function openCreate() {
    const nameInput = textInput('br-form-name', { placeholder: 'br-lan', maxlength: '15' });
    const hwInput = textInput('br-form-hwaddr', { placeholder: 'chosen by the node' });
    const cidrInput = textInput('br-form-cidr', { placeholder: '10.20.0.1/24' });
    const startInput = textInput('br-form-start', { placeholder: '10.20.0.10' });
    const endInput = textInput('br-form-end', { placeholder: '10.20.0.99' });
    const mode = segmented({ label: 'Network mode', checked: 'dnsmasq', options: MODES });
    const modeText = h('p', { class: 'field-hint', testid: 'br-form-mode-text' });
    const nat = checkbox({ testid: 'br-form-nat', label: 'NAT: let the bridge’s network reach outside through the node', checked: true });
    const cidrField = field({ label: 'Address', name: 'setting.cidr', control: cidrInput, hint: 'The bridge’s own address with its prefix.' });
    const rangeRow = h(
      'div',
      { class: 'form-row-2' },
      field({ label: 'DHCP range start', name: 'setting.start', control: startInput }),
      field({ label: 'DHCP range end', name: 'setting.end', control: endInput }),
    );
    const natField = groupField({ name: 'nat', label: 'Outside access' }, nat.el, fieldMessage());

    function showMode() {
      const m = mode.value();
      modeText.textContent = MODES.find((x) => x.value === m).text;
      cidrField.hidden = m === 'none';
      rangeRow.hidden = m !== 'dnsmasq';
      natField.hidden = m === 'none';
    }
    mode.el.addEventListener('change', showMode);
    showMode();

    tab.openForm({
      title: 'New bridge',
      description: h('span', null, 'On node ', h('span', { class: 'mono' }, nodeId), '.'),
      testid: 'bridge-modal',
      submitLabel: 'Create bridge',
      size: 'lg',
      wait: 'br-form-wait',
      fields: [
        h(
          'div',
          { class: 'form-row-2' },
          field({ label: 'Name', name: 'name', control: nameInput, hint: 'At most 15 characters; not “default”.' }),
          field({ label: 'MAC address (optional)', name: 'hwaddr', control: hwInput }),
        ),
        groupField({ name: 'networkMode', label: 'Network mode' }, mode.el, modeText, fieldMessage()),
        cidrField,
        rangeRow,
        natField,
      ],
      async onSubmit(wait) {
        const name = nameInput.value.trim();
        if (!name) throw new ApiError(400, 'invalid', 'The name is required.', 'name');
        const m = mode.value();
        const spec = { name, networkMode: m, nat: m !== 'none' && nat.input.checked, setting: { cidr: '', start: '', end: '' } };
        const hw = hwInput.value.trim();
        if (hw) spec.hwaddr = hw;
        if (m !== 'none') spec.setting.cidr = cidrInput.value.trim();
        if (m === 'dnsmasq') {
          spec.setting.start = startInput.value.trim();
          spec.setting.end = endInput.value.trim();
        }
        tab.saved(await wait.run(`Waiting for ${nodeId} to create ${name}`, () => api.createBridge(nodeId, spec)));
        toast(`Bridge ${name} created.`, { type: 'success' });
      },
    });
  }

  return tab;
}

// ---- ZeroTier networks ---------------------------------------------------------------

/** mountZeroTiers(ctx, nodeId, {onCount}) → {el, unmount()} */
export function mountZeroTiers(ctx, nodeId, place) {
  const tab = workloadTab(ctx, nodeId, place, {
    testid: 'node-zerotiers',
    ids: 'node-zt',
    name: 'ZeroTier networks',
    sub: 'The networks this node has joined, as its ZeroTier client reports them. Updated live.',
    create: { label: 'Join network', testid: 'zt-join', onClick: () => openJoin() },
    empty: {
      iconName: 'network',
      text: 'Join the node to a ZeroTier network by its 16-digit id to reach it, and its containers, over that network.',
      viewerText: 'The node has joined no ZeroTier network.',
    },
    item: 'node-zt',
    key: 'nwid',
    collections: ['zerotiers'],
    fetch: () => api.listNodeZerotiers(nodeId),
    table: { columns: ['Network', 'Status', 'Type', 'Addresses', 'MAC', { label: 'MTU', class: 'num' }] },
    row,
  });

  function row(z, { stateCell, stateOrStatus }) {
    const addresses = asList(z.assignedAddresses);
    const busy = BUSY_STATES.has(z.state);
    return {
      data: { nwid: z.nwid, state: z.state, status: z.status },
      cells: [
        h(
          'td',
          { dataset: { label: 'Network' } },
          h(
            'span',
            { class: 'cell-stack' },
            h('span', { class: 'zt-nwid' }, h('span', { class: 'mono strong', testid: 'node-zt-nwid' }, z.nwid), copyButton(z.nwid, { label: 'Copy the network id' })),
            z.name ? h('span', { class: 'cell-sub', testid: 'node-zt-name' }, z.name) : null,
          ),
        ),
        stateCell('Status', stateOrStatus(ztStatusTitle(z.status))),
        h('td', { dataset: { label: 'Type' } }, z.type ? h('span', { class: 'tag tag-neutral' }, String(z.type).toLowerCase()) : muted('—')),
        h(
          'td',
          { dataset: { label: 'Addresses' }, testid: 'node-zt-addresses' },
          addresses.length ? h('span', { class: 'chips' }, addresses.map((a) => h('span', { class: 'pill-mono' }, a))) : muted(busy ? '—' : 'none yet'),
        ),
        h('td', { dataset: { label: 'MAC' } }, z.mac ? h('span', { class: 'mono' }, z.mac) : muted('—')),
        h('td', { dataset: { label: 'MTU' }, class: 'num' }, z.mtu ? String(z.mtu) : muted('—')),
        ctx.canMutate
          ? rowActions({ label: 'Leave', danger: true, iconName: 'logout', testid: 'node-zt-leave', title: `Leave ${z.nwid}`, disabled: z.state === 'deleting', onClick: () => openLeave(z) })
          : null,
      ],
    };
  }

  function openLeave(z) {
    tab.confirmRemove(z.nwid, {
      title: 'Leave ZeroTier network?',
      submitLabel: 'Leave network',
      testid: 'zt-leave-modal',
      iconName: 'logout',
      text: [`${nodeId} leaves `, h('strong', { class: 'mono' }, z.nwid), z.name ? ` (${z.name})` : '', ' and can no longer be reached over it.'],
      call: () => api.leaveZerotier(nodeId, z.nwid),
      done: `${nodeId} left ${z.nwid}.`,
      pending: `The node is still leaving ${z.nwid}; the list follows it.`,
    });
  }

  function openJoin() {
    const nwidInput = textInput('zt-form-nwid', { placeholder: '8056c2e21c000001', maxlength: '16' });
    const tokenInput = textInput('zt-form-token', { type: 'password', placeholder: 'only for a private network' });
    tab.openForm({
      title: 'Join ZeroTier network',
      description: h('span', null, 'Node ', h('span', { class: 'mono' }, nodeId), ' joins the network and gets an address in it.'),
      testid: 'zt-modal',
      submitLabel: 'Join network',
      wait: 'zt-form-wait',
      fields: [
        field({ label: 'Network id', name: 'nwid', control: nwidInput, hint: '16 hex digits, as ZeroTier Central shows it.' }),
        field({ label: 'API token (optional)', name: 'token', control: tokenInput, hint: 'A ZeroTier API token that authorises the node on a private network. Used once; never stored or shown.' }),
      ],
      async onSubmit(wait) {
        const nwid = nwidInput.value.trim();
        if (!nwid) throw new ApiError(400, 'invalid', 'The network id is required.', 'nwid');
        const spec = { nwid };
        const token = tokenInput.value.trim();
        if (token) spec.token = token;
        tab.saved(await wait.run(`Waiting for ${nodeId} to join ${nwid}`, () => api.joinZerotier(nodeId, spec)));
        toast(`${nodeId} joined ${nwid.toLowerCase()}.`, { type: 'success' });
      },
    });
  }

  return tab;
}

function ztStatusTitle(status) {
  return (
    {
      OK: 'Joined and configured.',
      REQUESTING_CONFIGURATION: 'Waiting for the network’s controller (is the node authorised?).',
      ACCESS_DENIED: 'The controller did not authorise the node.',
      NOT_FOUND: 'The controller does not know this network.',
    }[status] || null
  );
}
