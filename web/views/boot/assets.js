// The Boot page's Assets tab: the kernels and initramfs images served to
// booting machines, which profiles use each, the upload card (upload.js),
// replace and delete.

import { api, bootAssetUrl } from '../../api.js';
import { h, append, replace, formatBytes } from '../../dom.js';
import { glyph, copyButton, dataTable, rowActions, deleteAction, confirmDelete, relativeTime, dash, panelHead } from '../../ui.js';
import { asList, upsertItem, listOrState, deleteItem } from '../../resource.js';
import { byName, formatCount } from './shared.js';
import { assetUploader } from './upload.js';

/** mountAssets(panel, ctx, {assets, profiles}) → {render(), stop()}: fills the tab's panel. */
export function mountAssets(panel, ctx, { assets, profiles }) {
  const flashAssets = new Set(); // names just uploaded, flashed once
  const uploader = ctx.canMutate ? assetUploader(assets, upsertAsset) : null;
  const assetsBody = h('div', { class: 'card table-card', testid: 'assets-card' });
  append(panel, [
    panelHead(
      'Boot assets',
      'Kernels and initramfs images served to booting machines at /boot/assets/<name>, over HTTP and TFTP, without a token.',
      null,
    ),
    uploader ? uploader.el : null,
    assetsBody,
  ]);

  function assetUsers(name) {
    return asList(profiles.data)
      .filter((p) => (p.kernel && p.kernel.asset === name) || (Array.isArray(p.initrds) && p.initrds.includes(name)))
      .map((p) => p.name);
  }

  function render() {
    if (uploader) uploader.sync();
    const all = listOrState(assets, assetsBody, {
      what: 'assets',
      items: byName,
      empty: {
        iconName: 'file',
        title: 'No boot assets yet',
        text: ctx.canMutate ? 'Upload a kernel and its initramfs above; profiles then refer to them by name.' : 'No kernel or initramfs has been uploaded yet.',
        testid: 'assets-empty',
      },
    });
    if (!all) return;
    const total = all.reduce((n, a) => n + (typeof a.size === 'number' ? a.size : 0), 0);
    replace(
      assetsBody,
      dataTable({
        testid: 'assets-table',
        columns: ['Name', { label: 'Size', class: 'num' }, 'SHA-256', 'Uploaded', 'Used by'],
        actions: ctx.canMutate,
        rows: all.map(assetRow),
      }),
      h('div', { class: 'table-foot' }, `${all.length} asset${all.length === 1 ? '' : 's'} · ${formatBytes(total)} in total`),
    );
    flashAssets.clear();
  }

  function assetRow(a) {
    const users = assetUsers(a.name);
    const sha = typeof a.sha256 === 'string' ? a.sha256 : '';
    return h(
      'tr',
      { class: flashAssets.has(a.name) ? 'row-flash' : null, testid: 'asset-row', dataset: { name: a.name } },
      h(
        'td',
        { dataset: { label: 'Name' } },
        h(
          'a',
          { class: 'asset-link', href: bootAssetUrl(a.name), download: a.name, testid: 'asset-link', title: `Download ${bootAssetUrl(a.name)}` },
          glyph('download', { size: 15 }),
          h('span', { class: 'mono' }, a.name),
        ),
      ),
      h(
        'td',
        { dataset: { label: 'Size', bytes: a.size }, class: 'num nowrap', testid: 'asset-size', title: `${formatCount(a.size)} bytes` },
        formatBytes(a.size),
      ),
      h(
        'td',
        { dataset: { label: 'SHA-256' } },
        h(
          'div',
          { class: 'sha' },
          h('span', { class: 'mono sha-text', testid: 'asset-sha256', title: sha }, sha || '—'),
          sha ? copyButton(sha, { label: `Copy the SHA-256 of ${a.name}` }) : null,
        ),
      ),
      h(
        'td',
        { dataset: { label: 'Uploaded' }, class: 'nowrap' },
        relativeTime(a.uploadedAt),
      ),
      h(
        'td',
        { dataset: { label: 'Used by' }, testid: 'asset-users' },
        users.length ? h('div', { class: 'chips' }, users.map((u) => h('span', { class: 'pill-mono', title: `Profile ${u}` }, u))) : dash('unused'),
      ),
      ctx.canMutate
        ? rowActions(
            {
              label: 'Replace',
              iconName: 'upload',
              testid: 'asset-replace',
              title: `Upload a new file as ${a.name}`,
              onClick: () => uploader.replace(a.name),
            },
            deleteAction(a.name, 'asset-delete', () => openDeleteAsset(a)),
          )
        : null,
    );
  }

  /** Shows an uploaded asset at once, flashed. */
  function upsertAsset(asset) {
    if (!asset || !asset.name) return;
    flashAssets.add(asset.name);
    upsertItem(assets, asset);
  }

  function openDeleteAsset(a) {
    confirmDelete({
      title: 'Delete asset?',
      submitLabel: 'Delete asset',
      text: h(
        'span',
        null,
        'This deletes ',
        h('strong', { class: 'mono' }, a.name),
        ` (${formatBytes(a.size)}) from the server. Machines can no longer download it.`,
      ),
      onConfirm: () => deleteItem(assets, a.name, { what: 'Asset', call: () => api.deleteBootAsset(a.name) }),
    });
  }

  return {
    render,
    stop() {
      if (uploader) uploader.stop();
    },
  };
}
