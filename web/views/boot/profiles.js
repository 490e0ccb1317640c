// The Boot page's Profiles tab: what a machine boots (kernel, initrds,
// command line), where each profile is used, and the create / edit dialog
// with its ordered initrds and a live example of the command line.

import { api, ApiError, bootAssetUrl } from '../../api.js';
import { h, icon, append, replace, formatBytes } from '../../dom.js';
import { openModal, field, fieldMessage, groupField, segmented, checkName, toast, button, createButton, glyph, dataTable, rowActions, deleteAction, confirmDelete, dash, panelHead, textInput } from '../../ui.js';
import { asList, upsertItem, listOrState, deleteItem } from '../../resource.js';
import { EXAMPLE_MAC, byName, ensureOption } from './shared.js';

const CMDLINE_VARS = [
  { text: '{zerotier}', title: 'The cluster’s ZeroTier network (Settings)' },
  { text: '{orchestrator}', title: 'The URL of this server, as the machine reaches it' },
  { text: '{mac}', title: 'The MAC address of the booting machine' },
  { text: '{node}', title: 'The node id: the MAC without colons' },
  { text: '{label:KEY}', title: 'A label of the registered node, e.g. {label:rack}', select: [7, 10] },
];

/** mountProfiles(panel, ctx, {profiles, selectors, assets, settings}) → {render()}: fills the tab's panel. */
export function mountProfiles(panel, ctx, { profiles, selectors, assets, settings }) {
  const profilesBody = h('div', { class: 'card table-card', testid: 'profiles-card' });
  append(panel, [
    panelHead(
      'Boot profiles',
      'What a machine boots: a kernel, its initrds and the kernel command line.',
      createButton(ctx, 'New profile', { testid: 'profile-create', onClick: () => openProfile(null) }),
    ),
    profilesBody,
  ]);

  function profileUsers(name) {
    const users = asList(selectors.data).filter((s) => s.profile === name).map((s) => s.name);
    const isDefault = settings.data && settings.data.defaultProfile === name;
    return { users, isDefault };
  }

  function render() {
    const all = listOrState(profiles, profilesBody, {
      what: 'profiles',
      items: byName,
      empty: {
        iconName: 'layers',
        title: 'No boot profiles yet',
        text: ctx.canMutate ? 'A profile names a kernel (an uploaded asset or a Zero-OS release), its initrds and a command line.' : 'No boot profile has been defined yet.',
        testid: 'profiles-empty',
        action: createButton(ctx, 'New profile', { onClick: () => openProfile(null) }),
      },
    });
    if (!all) return;
    replace(
      profilesBody,
      dataTable({
        testid: 'profiles-table',
        columns: ['Name', 'Kernel', 'Initrds', 'Command line', 'Used by'],
        actions: ctx.canMutate,
        rows: all.map(profileRow),
      }),
    );
  }

  function kernelCell(kernel) {
    if (kernel && typeof kernel === 'object' && typeof kernel.asset === 'string') {
      return h(
        'div',
        { class: 'kernel' },
        h('span', { class: 'tag tag-neutral' }, 'asset'),
        h('a', { class: 'mono', href: bootAssetUrl(kernel.asset), title: `Download ${kernel.asset}` }, kernel.asset),
      );
    }
    if (kernel && typeof kernel === 'object' && typeof kernel.release === 'string') {
      const source = settings.data && settings.data.kernelSource;
      return h(
        'div',
        {
          class: 'kernel',
          title: source
            ? `${source}/zero-os-${kernel.release}.efi`
            : `zero-os-${kernel.release}.efi from this server’s boot assets`,
        },
        h('span', { class: 'tag tag-accent' }, 'release'),
        h('span', { class: 'mono' }, kernel.release),
      );
    }
    return dash();
  }

  function profileRow(p) {
    const { users, isDefault } = profileUsers(p.name);
    const initrds = Array.isArray(p.initrds) ? p.initrds : [];
    return h(
      'tr',
      { testid: 'profile-row', dataset: { name: p.name } },
      h(
        'td',
        { dataset: { label: 'Name' } },
        h(
          'div',
          { class: 'cell-stack' },
          h('span', { class: 'mono strong', testid: 'profile-name' }, p.name),
          p.description ? h('span', { class: 'cell-sub', testid: 'profile-description' }, p.description) : null,
        ),
      ),
      h('td', { dataset: { label: 'Kernel' }, testid: 'profile-kernel' }, kernelCell(p.kernel)),
      h(
        'td',
        { dataset: { label: 'Initrds' }, testid: 'profile-initrds' },
        initrds.length
          ? h(
              'ol',
              { class: 'inline-list' },
              initrds.map((name) => h('li', null, h('a', { class: 'mono', href: bootAssetUrl(name), title: `Download ${name}` }, name))),
            )
          : dash('none'),
      ),
      h(
        'td',
        { dataset: { label: 'Command line' }, testid: 'profile-cmdline' },
        p.cmdline ? h('code', { class: 'cmdline' }, p.cmdline) : dash('empty'),
      ),
      h(
        'td',
        { dataset: { label: 'Used by' }, testid: 'profile-users' },
        users.length || isDefault
          ? h(
              'div',
              { class: 'chips' },
              isDefault ? h('span', { class: 'tag tag-ok', title: 'The default profile (Settings)' }, 'default') : null,
              users.map((u) => h('span', { class: 'pill-mono', title: `Selector ${u}` }, u)),
            )
          : dash('unused'),
      ),
      ctx.canMutate
        ? rowActions(
            { label: 'Edit', iconName: 'edit', testid: 'profile-edit', title: `Edit ${p.name}`, onClick: () => openProfile(p) },
            deleteAction(p.name, 'profile-delete', () => openDeleteProfile(p)),
          )
        : null,
    );
  }

  // ---- profile modal ------------------------------------------------------

  function openProfile(existing) {
    const editing = !!existing;
    const assetList = byName(assets.data);
    const assetOptions = (placeholder) => [
      h('option', { value: '' }, placeholder),
      assetList.map((a) => h('option', { value: a.name }, `${a.name} · ${formatBytes(a.size)}`)),
    ];

    const nameInput = editing
      ? null
      : textInput('profile-form-name', { maxlength: 64, placeholder: 'zos-master' });
    const descInput = h('input', {
      class: 'input',
      testid: 'profile-form-description',
      autocomplete: 'off',
      maxlength: 200,
      placeholder: 'Zero-OS master, development mode',
      value: existing ? existing.description || '' : '',
    });

    // kernel: asset or release
    const initialKind =
      existing && existing.kernel && typeof existing.kernel.release === 'string'
        ? 'release'
        : existing || assetList.length
          ? 'asset'
          : 'release';
    const kernelKind = segmented({
      label: 'Kernel',
      checked: initialKind,
      options: [
        { value: 'asset', label: 'Uploaded asset', testid: 'profile-kernel-kind-asset' },
        { value: 'release', label: 'Zero-OS release', testid: 'profile-kernel-kind-release' },
      ],
    });
    const kernelAsset = h('select', { class: 'input', testid: 'profile-form-kernel-asset', 'aria-label': 'Kernel asset' }, assetOptions(assetList.length ? 'Choose an asset…' : 'No assets uploaded yet'));
    if (existing && existing.kernel && typeof existing.kernel.asset === 'string') {
      ensureOption(kernelAsset, existing.kernel.asset);
      kernelAsset.value = existing.kernel.asset;
    }
    const source = settings.data && settings.data.kernelSource;
    const kernelRelease = h('input', {
      class: 'input input-mono',
      testid: 'profile-form-kernel-release',
      'aria-label': 'Zero-OS release',
      autocomplete: 'off',
      spellcheck: 'false',
      maxlength: 64,
      placeholder: 'master',
      value: existing && existing.kernel && typeof existing.kernel.release === 'string' ? existing.kernel.release : '',
    });
    const assetWrap = subField('kernel.asset', kernelAsset, assetList.length ? null : 'Upload a kernel on the Assets tab first.');
    const releaseWrap = subField(
      'kernel.release',
      kernelRelease,
      source ? `Boots ${source}/zero-os-<release>.efi (kernel source in Settings).` : 'Boots the asset zero-os-<release>.efi of this server (or set a kernel source in Settings).',
    );
    const kernelField = groupField({ name: 'kernel', label: 'Kernel' }, kernelKind.el, fieldMessage(), assetWrap, releaseWrap);
    const kind = kernelKind.value;
    const syncKind = () => {
      assetWrap.hidden = kind() !== 'asset';
      releaseWrap.hidden = kind() !== 'release';
    };
    kernelKind.el.addEventListener('change', () => {
      syncKind();
      (kind() === 'asset' ? kernelAsset : kernelRelease).focus();
    });
    syncKind();

    // initrds: ordered list
    const initrds = existing && Array.isArray(existing.initrds) ? [...existing.initrds] : [];
    const rows = h('ol', { class: 'order-list', testid: 'profile-initrds-list' });
    const noneText = h('p', { class: 'kv-empty muted' }, 'No initrds: the kernel boots on its own.');
    const addSelect = h('select', { class: 'input', testid: 'profile-initrd-select', 'aria-label': 'Initrd to add' }, assetOptions(assetList.length ? 'Choose an asset to add…' : 'No assets uploaded yet'));
    const addBtn = h(
      'button',
      {
        type: 'button',
        class: 'btn',
        testid: 'profile-initrd-add',
        onclick: () => {
          if (!addSelect.value) {
            addSelect.focus();
            return;
          }
          initrds.push(addSelect.value);
          addSelect.value = '';
          drawInitrds();
        },
      },
      icon('plus', { size: 15 }),
      h('span', { class: 'btn-label' }, 'Add'),
    );
    function drawInitrds() {
      noneText.hidden = initrds.length > 0;
      rows.hidden = initrds.length === 0;
      replace(
        rows,
        initrds.map((name, i) => {
          const asset = assetList.find((a) => a.name === name);
          const move = (delta) => {
            const j = i + delta;
            [initrds[i], initrds[j]] = [initrds[j], initrds[i]];
            drawInitrds();
            const btns = rows.children[j] && rows.children[j].querySelectorAll('button');
            if (btns) btns[delta < 0 ? 0 : 1].focus();
          };
          return h(
            'li',
            { class: 'order-row', testid: 'profile-initrd-row', dataset: { name } },
            h('span', { class: 'order-index' }, String(i + 1)),
            h('span', { class: 'mono order-name' }, name),
            h('span', { class: asset ? 'muted' : 'tone-danger' }, asset ? formatBytes(asset.size) : 'not uploaded'),
            h(
              'span',
              { class: 'order-actions' },
              h('button', { type: 'button', class: 'icon-btn icon-btn-sm', 'aria-label': `Move ${name} up`, title: 'Move up', disabled: i === 0, onclick: () => move(-1) }, glyph('up', { size: 15 })),
              h('button', { type: 'button', class: 'icon-btn icon-btn-sm', 'aria-label': `Move ${name} down`, title: 'Move down', disabled: i === initrds.length - 1, onclick: () => move(1) }, glyph('down', { size: 15 })),
              h(
                'button',
                {
                  type: 'button',
                  class: 'icon-btn icon-btn-sm',
                  testid: 'profile-initrd-remove',
                  'aria-label': `Remove ${name}`,
                  title: 'Remove',
                  onclick: () => {
                    initrds.splice(i, 1);
                    drawInitrds();
                  },
                },
                icon('x', { size: 15 }),
              ),
            ),
          );
        }),
      );
    }
    drawInitrds();
    const initrdField = groupField(
      { name: 'initrds', label: 'Initrds' },
      noneText,
      rows,
      fieldMessage(),
      h('div', { class: 'add-row' }, addSelect, addBtn),
      h('p', { class: 'field-hint' }, 'Loaded in this order.'),
    );

    // command line
    const cmdline = h('textarea', {
      class: 'input input-mono textarea',
      testid: 'profile-form-cmdline',
      rows: 3,
      spellcheck: 'false',
      placeholder: 'console=ttyS0 zerotier={zerotier}',
    });
    cmdline.value = existing ? existing.cmdline || '' : '';
    const preview = h('code', { class: 'cmdline-preview', testid: 'profile-cmdline-preview' });
    const syncPreview = () => {
      preview.textContent = renderCmdlineExample(cmdline.value, settings.data && settings.data.zerotierNetwork) || ' ';
    };
    cmdline.addEventListener('input', syncPreview);
    syncPreview();
    const vars = h(
      'div',
      { class: 'var-chips', role: 'group', 'aria-label': 'Insert a variable' },
      CMDLINE_VARS.map((v) =>
        h(
          'button',
          {
            type: 'button',
            class: 'var-chip',
            testid: 'cmdline-var',
            dataset: { var: v.text },
            title: v.title,
            onclick: () => {
              insertAtCursor(cmdline, v.text, v.select);
              syncPreview();
            },
          },
          v.text,
        ),
      ),
    );
    const cmdField = field({ label: 'Kernel command line', name: 'cmdline', control: cmdline });
    cmdField.insertBefore(vars, cmdField.querySelector('.field-message'));
    cmdField.appendChild(
      h(
        'p',
        { class: 'field-hint' },
        'Space-separated arguments; the variables are filled in for each machine as it boots. Click one to insert it.',
      ),
    );
    cmdField.appendChild(h('div', { class: 'preview' }, h('span', { class: 'preview-label' }, `Example for ${EXAMPLE_MAC}`), preview));

    openModal({
      title: editing ? 'Edit profile' : 'New boot profile',
      description: editing
        ? h('span', null, 'Profile ', h('span', { class: 'mono' }, existing.name), ' · the name cannot be changed.')
        : 'What a machine boots: a kernel, its initrds and a command line.',
      testid: 'profile-modal',
      size: 'lg',
      submitLabel: editing ? 'Save profile' : 'Create profile',
      fields: [
        nameInput
          ? field({ label: 'Name', name: 'name', control: nameInput, hint: 'Letters, digits, “.”, “_” and “-”, up to 64 characters. Cannot be changed later.' })
          : null,
        field({ label: 'Description (optional)', name: 'description', control: descInput }),
        kernelField,
        initrdField,
        cmdField,
      ],
      async onSubmit() {
        const name = editing ? existing.name : nameInput.value.trim();
        checkName(name, { field: 'name', what: 'profile name' });
        let kernel;
        if (kind() === 'asset') {
          if (!kernelAsset.value) throw new ApiError(400, 'invalid', 'Choose the kernel asset.', 'kernel.asset');
          kernel = { asset: kernelAsset.value };
        } else {
          const release = kernelRelease.value.trim();
          if (!release) throw new ApiError(400, 'invalid', 'Name the Zero-OS release, e.g. master.', 'kernel.release');
          kernel = { release };
        }
        const body = {
          name,
          description: descInput.value.trim(),
          kernel,
          initrds: [...initrds],
          cmdline: cmdline.value.replace(/\s+/g, ' ').trim(),
        };
        let saved;
        try {
          saved = editing ? await api.replaceBootProfile(name, body) : await api.createBootProfile(body);
        } catch (err) {
          throw mapIndexedField(err, 'initrds', rows, 'Initrd');
        }
        upsertItem(profiles, saved || body);
        toast(`Profile ${name} ${editing ? 'saved' : 'created'}.`, { type: 'success' });
      },
    });
  }

  function openDeleteProfile(p) {
    confirmDelete({
      title: 'Delete profile?',
      submitLabel: 'Delete profile',
      text: h('span', null, 'This removes the boot profile ', h('strong', { class: 'mono' }, p.name), '. Its assets stay uploaded.'),
      onConfirm: () => deleteItem(profiles, p.name, { what: 'Profile', call: () => api.deleteBootProfile(p.name) }),
    });
  }

  return { render };
}

/** A sub-field with its own inline error slot (its data-field is the API's field name). */
function subField(name, control, hint) {
  return h(
    'div',
    { class: 'field subfield', dataset: { field: name } },
    control,
    fieldMessage(),
    hint ? h('p', { class: 'field-hint' }, hint) : null,
  );
}

/** "initrds[2]" from the API → mark row 3 and report it on the "initrds" field. */
function mapIndexedField(err, name, rows, what) {
  const m = err && typeof err.field === 'string' ? err.field.match(new RegExp(`^${name}\\[(\\d+)\\]$`)) : null;
  if (!m) return err;
  const i = Number(m[1]);
  const row = rows.children[i];
  if (row) row.classList.add('order-invalid');
  return new ApiError(err.status, err.code, `${what} ${i + 1}: ${err.message}`, name);
}

function insertAtCursor(textarea, text, select = null) {
  const start = textarea.selectionStart ?? textarea.value.length;
  const end = textarea.selectionEnd ?? start;
  const before = textarea.value.slice(0, start);
  const after = textarea.value.slice(end);
  const pad = before && !/\s$/.test(before) ? ' ' : '';
  textarea.value = `${before}${pad}${text}${after}`;
  const at = start + pad.length;
  textarea.focus();
  if (select) textarea.setSelectionRange(at + select[0], at + select[1]);
  else textarea.setSelectionRange(at + text.length, at + text.length);
}

function renderCmdlineExample(template, zerotier) {
  const t = template.replace(/\s+/g, ' ').trim();
  if (!t) return '';
  return t.replace(/\{([^}]*)\}/g, (all, name) => {
    if (name === 'zerotier') return zerotier || '<zerotier: not set>';
    if (name === 'orchestrator') return location.origin;
    if (name === 'mac') return EXAMPLE_MAC;
    if (name === 'node') return EXAMPLE_MAC.replace(/:/g, '');
    if (name.startsWith('label:')) return `<${name.slice(6)}>`;
    return all;
  });
}
