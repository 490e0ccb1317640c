// The Gateways tab of a node's page: its gateways, live (status, domain,
// NICs, forwards, proxies), start / stop and delete, a create form (a public
// NIC and a private network with its DHCP server) that shows the API's
// validation next to the field it names, and under an opened gateway its
// port forwards (added and removed here: a port the gateway itself uses is
// refused by the gateway), its DHCP hosts per interface and its HTTP proxies.

import { api, ApiError } from '../api.js';
import { h, replace } from '../dom.js';
import { field, toast, dataTable, rowActions, textInput } from '../ui.js';
import { asList } from '../resource.js';
import { BUSY_STATES, fact } from './workloads.js';
import { workloadTab, workloadActions } from './workload-tab.js';

const COLUMNS = ['Gateway', 'Status', 'Domain', 'NICs', { label: 'Forwards', class: 'num' }, { label: 'Proxies', class: 'num' }];
const PRIVATE_TYPES = ['vlan', 'vxlan', 'bridge', 'zerotier'];

const muted = (text) => h('span', { class: 'muted' }, text);
const forwardId = (f) => `${f.srcip}:${f.srcport}`;

/** mountGateways(ctx, nodeId, {open, onCount}) → {el, unmount()} */
export function mountGateways(ctx, nodeId, place) {
  const tab = workloadTab(ctx, nodeId, place, {
    testid: 'gateways',
    name: 'gateways',
    sub: 'Gateway containers: firewall port forwards, DHCP for private networks, HTTP proxies. Open one to see and change its forwards. Updated live.',
    create: { label: 'New gateway', onClick: () => openCreate() },
    empty: {
      iconName: 'network',
      text: 'A gateway connects a private network to a public one: it forwards ports, hands out addresses and proxies HTTP.',
      viewerText: 'No gateway runs on this node.',
    },
    item: 'gw',
    collections: ['gateways'],
    fetch: () => api.listGateways(nodeId),
    table: { columns: COLUMNS, className: 'gw-table' },
    row,
    detail: (gw) => gatewayDetail(gw),
  });

  function row(gw, { nameCell, stateCell, stateOrStatus }) {
    const busy = BUSY_STATES.has(gw.state);
    return {
      data: { name: gw.name, state: gw.state, status: gw.status },
      cells: [
        nameCell('Gateway', 'the forwards'),
        stateCell('Status', stateOrStatus()),
        h('td', { dataset: { label: 'Domain' }, class: 'mono', testid: 'gw-domain' }, gw.domain),
        h('td', { dataset: { label: 'NICs' }, testid: 'gw-nics' }, h('span', { class: 'chips' }, asList(gw.nics).map((n) => h('span', { class: 'pill-mono' }, nicLabel(n))))),
        h('td', { dataset: { label: 'Forwards' }, class: 'num', testid: 'gw-forward-count' }, String(asList(gw.portforwards).length)),
        h('td', { dataset: { label: 'Proxies' }, class: 'num', testid: 'gw-proxy-count' }, String(asList(gw.httpproxies).length)),
        ctx.canMutate ? actions(gw, busy) : null,
      ],
    };
  }

  function actions(gw, busy) {
    const power = gw.status === 'running' ? ['Stop', 'stop', 'stop'] : ['Start', 'start', 'play'];
    const [label, action, iconName] = power;
    const btn = {
      label,
      iconName,
      testid: `gw-${action}`,
      disabled: busy,
      spinner: true,
      onClick: (ev) =>
        tab.act(ev.currentTarget, () => api.gatewayAction(nodeId, gw.name, action), {
          done: `Gateway ${gw.name} ${action === 'stop' ? 'stopped' : 'started'}.`,
          pending: `The node is still working on ${gw.name}; the list follows it.`,
          failed: `Could not ${action} ${gw.name}`,
        }),
    };
    return workloadActions(gw, { what: gw.name, testid: 'gw-delete', onDelete: () => openDelete(gw) }, btn);
  }

  function openDelete(gw) {
    tab.confirmRemove(gw.name, {
      title: 'Delete gateway?',
      submitLabel: 'Delete gateway',
      text: ['This stops ', h('strong', { class: 'mono' }, gw.name), ` and removes it from ${nodeId}, with its forwards, leases and proxies.`],
      call: () => api.deleteGateway(nodeId, gw.name),
      done: `Gateway ${gw.name} deleted.`,
      pending: `The node is still deleting ${gw.name}; the list follows it.`,
    });
  }

  function openCreate() {
    const name = textInput('gw-form-name', { placeholder: 'gw-office' });
    const domain = textInput('gw-form-domain', { placeholder: 'office.lan' });
    const publicCidr = textInput('gw-form-public-cidr', { placeholder: '10.0.0.2/24 (optional)' });
    const publicGateway = textInput('gw-form-public-gateway', { placeholder: '10.0.0.1' });
    const privateType = h('select', { class: 'input', testid: 'gw-form-private-type', 'aria-label': 'Private network type' }, PRIVATE_TYPES.map((t) => h('option', { value: t }, t)));
    const privateId = textInput('gw-form-private-id', { placeholder: 'VLAN tag, VXLAN id, bridge or network id' });
    const privateCidr = textInput('gw-form-private-cidr', { placeholder: '192.168.1.1/24' });
    const nameserver = textInput('gw-form-nameserver', { placeholder: '1.1.1.1', value: '1.1.1.1' });
    tab.openForm({
      title: 'New gateway',
      description: h('span', null, 'On node ', h('span', { class: 'mono' }, nodeId), '. A public NIC, and a private network with a DHCP server.'),
      testid: 'gw-modal',
      submitLabel: 'Create gateway',
      size: 'lg',
      wait: 'gw-form-wait',
      fields: [
        h('div', { class: 'form-row-2' }, field({ label: 'Name', name: 'name', control: name }), field({ label: 'Domain', name: 'domain', control: domain, hint: 'What its DHCP server hands out.' })),
        h('div', { class: 'form-row-2' }, field({ label: 'Public address', name: 'nics[0].config.cidr', control: publicCidr }), field({ label: 'Public gateway', name: 'nics[0].config.gateway', control: publicGateway })),
        h('div', { class: 'form-row-2' }, field({ label: 'Private network', name: 'nics[1].type', control: privateType }), field({ label: 'Its id', name: 'nics[1].id', control: privateId })),
        h('div', { class: 'form-row-2' }, field({ label: 'Private address', name: 'nics[1].config.cidr', control: privateCidr }), field({ label: 'DHCP nameserver', name: 'nics[1].dhcpserver.nameservers[0]', control: nameserver })),
      ],
      async onSubmit(wait) {
        const gwName = name.value.trim();
        if (!gwName) throw new ApiError(400, 'invalid', 'The name is required.', 'name');
        const pub = { type: 'default', name: 'public' };
        if (publicCidr.value.trim()) pub.config = { cidr: publicCidr.value.trim(), gateway: publicGateway.value.trim() || undefined };
        const lan = { type: privateType.value, id: privateId.value.trim(), name: 'lan', config: { cidr: privateCidr.value.trim() }, dhcpserver: { nameservers: [nameserver.value.trim()], hosts: [] } };
        const spec = { name: gwName, domain: domain.value.trim(), nics: [pub, lan] };
        tab.saved(await wait.run(`Waiting for ${nodeId} to create ${gwName}`, () => api.createGateway(nodeId, spec)), { open: gwName });
        toast(`Gateway ${gwName} created.`, { type: 'success' });
      },
    });
  }

  /** Under an opened gateway: its forwards (with add and remove), DHCP hosts per interface, HTTP proxies. */
  function gatewayDetail(initial) {
    let gw = initial;
    const el = h('div', { class: 'ct-detail gw-detail', testid: 'gw-detail', dataset: { name: gw.name } });

    function render() {
      const forwards = asList(gw.portforwards);
      const addButton = ctx.canMutate ? h('button', { type: 'button', class: 'btn btn-sm btn-ghost', testid: 'gw-forward-add', onclick: () => openForward() }, 'Add forward') : null;
      const forwardRows = forwards.map((f) =>
        h(
          'tr',
          { testid: 'gw-forward', dataset: { id: forwardId(f) } },
          h('td', { class: 'mono' }, forwardId(f)),
          h('td', { class: 'mono' }, `${f.dstip}:${f.dstport}`),
          h('td', null, asList(f.protocols).join(', ')),
          ctx.canMutate ? rowActions({ label: 'Remove', danger: true, iconName: 'trash', testid: 'gw-forward-remove', spinner: true, onClick: (ev) => removeForward(ev.currentTarget, f) }) : null,
        ),
      );
      const hosts = asList(gw.nics).flatMap((n) => (n.dhcpserver ? asList(n.dhcpserver.hosts).map((host) => ({ nic: n.name, ...host })) : []));
      replace(
        el,
        h(
          'section',
          { class: 'ct-section ct-table' },
          h('div', { class: 'ct-table-head' }, h('h3', { class: 'ct-heading' }, 'Port forwards'), gw.advanced && gw.advanced.firewall ? muted('the firewall runs your own ruleset') : addButton),
          forwards.length
            ? dataTable({ testid: 'gw-forwards', compact: true, columns: ['Source', 'Destination', 'Protocols'], actions: ctx.canMutate, tbody: h('tbody', null, forwardRows) })
            : h('p', { class: 'form-note', testid: 'gw-forwards-none' }, 'No port forwards.'),
        ),
        h(
          'dl',
          { class: 'ct-facts st-facts' },
          fact('DHCP hosts', hosts.length ? h('ul', { class: 'vm-facts-list' }, hosts.map((x) => h('li', { testid: 'gw-host' }, h('span', { class: 'mono' }, `${x.macaddress} → ${x.ipaddress}`), muted(` ${x.hostname} on ${x.nic}`)))) : muted('none'), 'gw-hosts'),
          fact('HTTP proxies', asList(gw.httpproxies).length ? h('ul', { class: 'vm-facts-list' }, asList(gw.httpproxies).map((p) => h('li', { testid: 'gw-proxy' }, h('span', { class: 'mono' }, p.host), muted(` → ${asList(p.destinations).join(', ')}`)))) : muted('none'), 'gw-proxies'),
        ),
      );
    }

    function openForward() {
      const protocol = h('select', { class: 'input', testid: 'gw-fw-protocol', 'aria-label': 'Protocol' }, ['tcp', 'udp'].map((p) => h('option', { value: p }, p)));
      const srcip = textInput('gw-fw-srcip', { placeholder: '10.0.0.2' });
      const srcport = h('input', { class: 'input', testid: 'gw-fw-srcport', type: 'number', min: '1', max: '65535' });
      const dstip = textInput('gw-fw-dstip', { placeholder: '192.168.1.10' });
      const dstport = h('input', { class: 'input', testid: 'gw-fw-dstport', type: 'number', min: '1', max: '65535' });
      tab.openForm({
        title: `New forward on ${gw.name}`,
        description: 'Traffic to the source address and port goes to the destination. A port the gateway itself uses (DNS, DHCP, its HTTP proxy) is refused.',
        testid: 'gw-forward-modal',
        submitLabel: 'Add forward',
        fields: [
          field({ label: 'Protocol', name: 'protocols', control: protocol }),
          h('div', { class: 'form-row-2' }, field({ label: 'Source address', name: 'srcip', control: srcip }), field({ label: 'Source port', name: 'srcport', control: srcport })),
          h('div', { class: 'form-row-2' }, field({ label: 'Destination address', name: 'dstip', control: dstip }), field({ label: 'Destination port', name: 'dstport', control: dstport })),
        ],
        async onSubmit() {
          const port = (control, name) => {
            const n = Number(control.value);
            if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ApiError(400, 'invalid', 'A port, 1 to 65535.', name);
            return n;
          };
          const forward = { protocols: [protocol.value], srcip: srcip.value.trim(), srcport: port(srcport, 'srcport'), dstip: dstip.value.trim(), dstport: port(dstport, 'dstport') };
          const answer = await api.addGatewayForward(nodeId, gw.name, forward);
          tab.list.load();
          toast(answer.status === 202 ? `The node is still adding ${forwardId(forward)}.` : `${forwardId(forward)} forwarded.`, { type: 'success' });
        },
      });
    }

    function removeForward(btn, f) {
      return tab.act(btn, () => api.deleteGatewayForward(nodeId, gw.name, forwardId(f)), {
        done: `Forward ${forwardId(f)} removed.`,
        pending: `The node is still removing ${forwardId(f)}.`,
        failed: `Could not remove ${forwardId(f)}`,
      });
    }

    render();
    return {
      el,
      update(next) {
        gw = next;
        render();
      },
      stop() {},
    };
  }

  return tab;
}

/** "default public", "vlan 100 lan" */
function nicLabel(n) {
  return [n.type, n.type === 'default' ? null : n.id, n.name].filter(Boolean).join(' ');
}
