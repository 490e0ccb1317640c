// Storage clusters page (#/storageclusters): each block storage cluster with
// its engines — node × disk × engine (address, status, why it is down) — kept
// live from the event feed (the cluster records, the engines the engine
// observed, the jobs deploying or repairing them). Operators deploy a cluster
// over nodes and delete one. Below them, the vdisk storages (vdisk-storages.js).

import { api, ApiError } from '../api.js';
import { h } from '../dom.js';
import { viewPage, tableOrNote, button, createButton, field, openModal, toast, checkName, dash, cardHead } from '../ui.js';
import { liveCards, asList, confirmDeleteItem } from '../resource.js';
import { mountVdiskStorages } from './vdisk-storages.js';

const DRIVE_TYPES = ['hdd', 'ssd', 'nvme', 'archive'];
const COLLECTIONS = ['storageclusters', 'storagecluster_servers', 'jobs'];
const STATUS_TONE = { ready: 'ok', deploying: 'warn', empty: 'neutral', error: 'danger' };

const badge = (status, testid) =>
  h(
    'span',
    { class: `badge badge-plain badge-${STATUS_TONE[status] || 'neutral'}`, testid },
    h('span', { class: 'badge-dot', 'aria-hidden': 'true' }),
    status,
  );

export function mountStorageClusters(root, ctx) {
  const clusters = liveCards({
    name: 'storage clusters',
    key: 'label',
    fetcher: async () => Promise.all(asList(await api.listStorageClusters()).map((label) => api.getStorageCluster(label))),
    live: ctx.live,
    matches: (change) => COLLECTIONS.includes(change.collection),
    body: h('div', { class: 'cluster-list', testid: 'clusters-body' }),
    what: 'the storage clusters',
    empty: {
      iconName: 'disk',
      title: 'No storage clusters',
      text: 'Deploy one over nodes with free disks: it runs a storage engine per disk.',
      testid: 'clusters-empty',
    },
    card,
  });
  const page = viewPage(
    {
      testid: 'clusters-page',
      title: 'Storage clusters',
      sub: 'Block storage clusters: one storage engine per free disk of the chosen drive type on each node, checked every heartbeat and restarted when it stops answering.',
      actions: createButton(ctx, 'Deploy cluster', { testid: 'cluster-create', onClick: openDeploy }),
    },
    clusters.body,
  );
  root.appendChild(page);
  const vdiskStorages = mountVdiskStorages(page, ctx);

  function card(cluster) {
    const servers = cluster.storageServers || [];
    return h(
      'section',
      { class: 'card table-card', testid: 'cluster-card', dataset: { label: cluster.label, status: cluster.status } },
      cardHead(
        h('span', null, cluster.label, ' ', badge(cluster.status, 'cluster-status')),
        `${cluster.clusterType} · ${cluster.driveType} · ${cluster.nodes.length} node(s) · ${servers.length} engine(s) · ${cluster.state}`,
        ctx.canMutate
          ? button('Delete', { kind: 'ghost-danger', small: true, iconName: 'trash', testid: 'cluster-delete', onClick: () => askDelete(cluster) })
          : null,
      ),
      tableOrNote(
        servers.map((s) =>
              h(
                'tr',
                { testid: 'engine-row', dataset: { node: s.node, disk: s.disk, port: String(s.port), status: s.status } },
                h('td', { dataset: { label: 'Node' }, class: 'mono' }, s.node),
                h('td', { dataset: { label: 'Disk' }, class: 'mono' }, s.disk),
                h('td', { dataset: { label: 'Engine' }, class: 'mono' }, `${s.ip}:${s.port}`),
                h('td', { dataset: { label: 'Status' } }, badge(s.status, 'engine-status')),
                h('td', { dataset: { label: 'Reason' }, class: 'col-fill' }, s.reason || dash()),
              ),
            ),
        {
          note: 'No engine recorded yet.',
          noteTestid: 'cluster-no-engines',
          testid: 'engines-table',
          columns: ['Node', 'Disk', 'Engine', 'Status', { label: 'Reason', class: 'col-fill' }],
        },
      ),
    );
  }

  async function openDeploy() {
    const nodes = asList(await api.listNodes()).map((n) => n.id);
    const label = h('input', { class: 'input', name: 'label', autocomplete: 'off', testid: 'cluster-label' });
    const servers = h('input', { class: 'input', name: 'servers', type: 'number', min: '1', value: String(nodes.length * 2), testid: 'cluster-servers' });
    const drive = h('select', { class: 'input', name: 'driveType', testid: 'cluster-drive' }, DRIVE_TYPES.map((t) => h('option', { value: t }, t)));
    const nodeList = h('input', { class: 'input input-mono', name: 'nodes', value: nodes.join(', '), testid: 'cluster-nodes' });
    openModal({
      title: 'Deploy a storage cluster',
      testid: 'cluster-modal',
      submitLabel: 'Deploy',
      fields: [
        field({ label: 'Label', name: 'label', control: label }),
        field({ label: 'Engines in all', name: 'servers', control: servers, hint: 'A multiple of the number of nodes: each node runs as many, one per disk.' }),
        field({ label: 'Drive type', name: 'driveType', control: drive }),
        field({ label: 'Nodes', name: 'nodes', control: nodeList, hint: 'Node ids, separated by commas.' }),
      ],
      async onSubmit() {
        const name = label.value.trim();
        checkName(name, { field: 'label', what: 'label' });
        const count = Number(servers.value);
        if (!Number.isInteger(count) || count < 1) throw new ApiError(400, 'invalid', 'A whole number of engines, at least 1.', 'servers');
        const ids = nodeList.value.split(',').map((s) => s.trim()).filter(Boolean);
        const answer = await api.createStorageCluster({ label: name, servers: count, driveType: drive.value, nodes: ids });
        toast(answer.status === 202 ? `Cluster ${name} is deploying.` : `Cluster ${name} deployed.`, { type: 'success' });
        clusters.load();
      },
    });
  }

  function askDelete(cluster) {
    confirmDeleteItem(clusters, cluster.label, {
      title: `Delete cluster ${cluster.label}?`,
      text: 'Its engines stop and their data is gone: the pools on its disks are removed.',
      what: 'Cluster',
      call: () => api.deleteStorageCluster(cluster.label),
    });
  }

  return {
    unmount() {
      clusters.stop();
      vdiskStorages.unmount();
      page.remove();
    },
  };
}
