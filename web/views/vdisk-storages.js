// Vdisk storages, on the Storage clusters page: each vdisk storage (the block
// cluster its vdisks live on) as a card with its vdisks — create, resize,
// roll back (the API says why it cannot), delete — and its images, imported
// from a URL with the import job's progress (bytes done of the total) shown
// until the image is ready. Kept live from the event feed.

import { api } from '../api.js';
import { h } from '../dom.js';
import { tableOrNote, button, createButton, field, openModal, toast, checkName, dash, cardHead, panelHead, rowActions, deleteAction } from '../ui.js';
import { liveCards, asList, confirmDeleteItem } from '../resource.js';
import { jobProgress } from './jobs.js';

const COLLECTIONS = ['vdiskstorages', 'vdisks', 'images', 'image_content', 'jobs', 'storageclusters'];
const VDISK_TYPES = ['boot', 'db', 'cache', 'tmp'];

/** Loads every vdisk storage with its vdisks, its images and the jobs of those still importing. */
async function loadAll() {
  const storages = asList(await api.listVdiskStorages());
  return Promise.all(
    storages.map(async (storage) => {
      const [vdisks, images] = await Promise.all([api.listVdisks(storage.id), api.listImages(storage.id)]);
      const withJobs = await Promise.all(
        asList(images).map(async (image) => ({
          ...image,
          jobRecord: image.status === 'ready' ? null : await api.getJob(image.job).catch(() => null),
        })),
      );
      return { ...storage, vdisks: asList(vdisks), images: withJobs };
    }),
  );
}

export function mountVdiskStorages(root, ctx) {
  const storages = liveCards({
    name: 'vdisk storages',
    fetcher: loadAll,
    live: ctx.live,
    matches: (change) => COLLECTIONS.includes(change.collection),
    body: h('div', { class: 'cluster-list', testid: 'vdiskstorages-body' }),
    what: 'the vdisk storages',
    empty: { iconName: 'disk', title: 'No vdisk storages', text: 'Make one on a deployed storage cluster.', testid: 'vdiskstorages-empty' },
    card,
  });
  const section = h(
    'section',
    { class: 'vdisk-storages', testid: 'vdiskstorages' },
    panelHead(
      'Vdisk storages',
      'Virtual disks on a block cluster, and the images boot vdisks start as.',
      createButton(ctx, 'New vdisk storage', { testid: 'vdiskstorage-create', onClick: openCreateStorage }),
    ),
    storages.body,
  );
  root.appendChild(section);

  function card(storage) {
    return h(
      'section',
      { class: 'card table-card', testid: 'vdiskstorage-card', dataset: { id: storage.id } },
      cardHead(
        storage.id,
        `on cluster ${storage.blockCluster} · ${storage.vdisks.length} vdisk(s) · ${storage.images.length} image(s)`,
        ctx.canMutate ? button('New vdisk', { small: true, iconName: 'plus', testid: 'vdisk-create', onClick: () => openCreateVdisk(storage) }) : null,
        ctx.canMutate ? button('Import image', { small: true, iconName: 'plus', testid: 'image-import', onClick: () => openImport(storage) }) : null,
        ctx.canMutate
          ? button('Delete', { kind: 'ghost-danger', small: true, iconName: 'trash', testid: 'vdiskstorage-delete', onClick: () => askDelete('Vdisk storage', storage.id, 'Only a vdisk storage without vdisks can go.', () => api.deleteVdiskStorage(storage.id)) })
          : null,
      ),
      tableOrNote(
        storage.vdisks.map((vdisk) => vdiskRow(storage, vdisk)),
        { note: 'No vdisks yet.', noteTestid: 'vdisks-empty', testid: 'vdisks-table', actions: ctx.canMutate, columns: ['Vdisk', 'Type', 'Size', 'Block size', 'Image', { label: 'Status', class: 'col-fill' }] },
      ),
      tableOrNote(
        storage.images.map((image) => imageRow(storage, image)),
        { note: 'No images yet.', noteTestid: 'images-empty', testid: 'images-table', actions: ctx.canMutate, columns: ['Image', 'Size', 'Block size', { label: 'Status', class: 'col-fill' }] },
      ),
    );
  }

  function vdiskRow(storage, vdisk) {
    return h(
      'tr',
      { testid: 'vdisk-row', dataset: { id: vdisk.id, size: String(vdisk.size) } },
      h('td', { dataset: { label: 'Vdisk' }, class: 'mono' }, vdisk.id),
      h('td', { dataset: { label: 'Type' } }, vdisk.type),
      h('td', { dataset: { label: 'Size' }, testid: 'vdisk-size' }, `${vdisk.size} GiB`),
      h('td', { dataset: { label: 'Block size' } }, `${vdisk.blocksize} B`),
      h('td', { dataset: { label: 'Image' }, class: 'mono' }, vdisk.imageId || dash()),
      h('td', { dataset: { label: 'Status' }, class: 'col-fill' }, vdisk.status),
      ctx.canMutate
        ? rowActions(
            { label: 'Resize', testid: 'vdisk-resize', onClick: () => openResize(storage, vdisk) },
            { label: 'Roll back', testid: 'vdisk-rollback', onClick: () => openRollback(storage, vdisk) },
            deleteAction(vdisk.id, 'vdisk-delete', () => askDelete('Vdisk', vdisk.id, 'Its blocks are removed from the engines.', () => api.deleteVdisk(storage.id, vdisk.id))),
          )
        : null,
    );
  }

  function imageRow(storage, image) {
    const status =
      image.status === 'ready' || !image.jobRecord
        ? h('span', { testid: 'image-status' }, image.status)
        : h('div', null, h('span', { testid: 'image-status' }, image.status), jobProgress(image.jobRecord, { compact: true }));
    return h(
      'tr',
      { testid: 'image-row', dataset: { name: image.name, status: image.status } },
      h('td', { dataset: { label: 'Image' }, class: 'mono' }, image.name),
      h('td', { dataset: { label: 'Size' } }, image.status === 'ready' ? `${image.sizeBytes} bytes` : dash()),
      h('td', { dataset: { label: 'Block size' } }, `${image.blocksize} B`),
      h('td', { dataset: { label: 'Status' }, class: 'col-fill' }, status),
      ctx.canMutate ? rowActions(deleteAction(image.name, 'image-delete', () => askDelete('Image', image.name, 'Vdisks made from it keep their content.', () => api.deleteImage(storage.id, image.name)))) : null,
    );
  }

  const input = (name, attrs = {}) => h('input', { class: 'input', name, autocomplete: 'off', testid: `field-${name}`, ...attrs });

  async function openCreateStorage() {
    const clusters = asList(await api.listStorageClusters());
    const id = input('id');
    const cluster = h('select', { class: 'input', name: 'blockCluster', testid: 'field-blockCluster' }, clusters.map((c) => h('option', { value: c }, c)));
    openModal({
      title: 'New vdisk storage',
      testid: 'vdiskstorage-modal',
      submitLabel: 'Create',
      fields: [field({ label: 'Id', name: 'id', control: id }), field({ label: 'Block cluster', name: 'blockCluster', control: cluster })],
      async onSubmit() {
        checkName(id.value.trim(), { field: 'id', what: 'id' });
        await api.createVdiskStorage({ id: id.value.trim(), blockCluster: cluster.value });
        toast(`Vdisk storage ${id.value.trim()} created.`, { type: 'success' });
        storages.load();
      },
    });
  }

  function openCreateVdisk(storage) {
    const id = input('id');
    const size = input('size', { type: 'number', min: '1', value: '1' });
    const kind = h('select', { class: 'input', name: 'type', testid: 'field-type' }, VDISK_TYPES.map((t) => h('option', { value: t }, t)));
    const ready = storage.images.filter((image) => image.status === 'ready');
    const image = h(
      'select',
      { class: 'input', name: 'imageId', testid: 'field-imageId' },
      h('option', { value: '' }, '(empty)'),
      ready.map((i) => h('option', { value: i.name }, i.name)),
    );
    openModal({
      title: `New vdisk in ${storage.id}`,
      testid: 'vdisk-modal',
      submitLabel: 'Create',
      fields: [
        field({ label: 'Id', name: 'id', control: id }),
        field({ label: 'Size (GiB)', name: 'size', control: size, hint: '1 to 2048.' }),
        field({ label: 'Type', name: 'type', control: kind, hint: 'boot vdisks are deduplicated and may start as an image.' }),
        field({ label: 'Image', name: 'imageId', control: image }),
      ],
      async onSubmit() {
        checkName(id.value.trim(), { field: 'id', what: 'id' });
        const body = { id: id.value.trim(), size: Number(size.value), type: kind.value };
        if (image.value) body.imageId = image.value;
        await api.createVdisk(storage.id, body);
        toast(`Vdisk ${body.id} created.`, { type: 'success' });
        storages.load();
      },
    });
  }

  function openResize(storage, vdisk) {
    const size = input('newSize', { type: 'number', min: String(vdisk.size + 1), value: String(vdisk.size + 1) });
    openModal({
      title: `Resize ${vdisk.id}`,
      testid: 'resize-modal',
      submitLabel: 'Resize',
      fields: [field({ label: 'New size (GiB)', name: 'newSize', control: size, hint: `Larger than ${vdisk.size} GiB: a vdisk only grows.` })],
      async onSubmit() {
        await api.resizeVdisk(storage.id, vdisk.id, { newSize: Number(size.value) });
        toast(`Vdisk ${vdisk.id} is now ${size.value} GiB.`, { type: 'success' });
        storages.load();
      },
    });
  }

  function openRollback(storage, vdisk) {
    const epoch = input('epoch', { type: 'number', min: '0', value: '0' });
    openModal({
      title: `Roll back ${vdisk.id}`,
      testid: 'rollback-modal',
      submitLabel: 'Roll back',
      fields: [field({ label: 'Epoch (Unix seconds)', name: 'epoch', control: epoch, hint: '0 restores the oldest state kept.' })],
      async onSubmit() {
        await api.rollbackVdisk(storage.id, vdisk.id, { epoch: Number(epoch.value) });
        toast(`Vdisk ${vdisk.id} rolled back.`, { type: 'success' });
        storages.load();
      },
    });
  }

  function openImport(storage) {
    const name = input('imageName');
    const url = input('url', { class: 'input input-mono', placeholder: 'http://host/disk.iso' });
    openModal({
      title: `Import an image into ${storage.id}`,
      testid: 'image-modal',
      submitLabel: 'Import',
      fields: [
        field({ label: 'Name', name: 'imageName', control: name }),
        field({ label: 'URL', name: 'url', control: url, hint: 'An http:// or https:// URL of a raw disk image or an ISO.' }),
      ],
      async onSubmit() {
        checkName(name.value.trim(), { field: 'imageName', what: 'name' });
        const answer = await api.importImage(storage.id, { imageName: name.value.trim(), url: url.value.trim() });
        toast(answer.status === 202 ? `Importing ${name.value.trim()}…` : `Image ${name.value.trim()} imported.`, { type: 'success' });
        storages.load();
      },
    });
  }

  /** Asks, then deletes the `what` (a vdisk storage, a vdisk, an image) called `name`; the list is read again either way. */
  function askDelete(what, name, text, call) {
    confirmDeleteItem(storages, name, { title: `Delete ${what.toLowerCase()} ${name}?`, text, what, call, reload: true });
  }

  return {
    unmount() {
      storages.stop();
      section.remove();
    },
  };
}
