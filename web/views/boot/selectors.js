// The Boot page's Selectors tab: which machine (by MAC, SMBIOS UUID or a
// label of its node) boots which profile, the default for the others, and
// the create dialog.

import { api, ApiError } from '../../api.js';
import { h, icon, append, replace } from '../../dom.js';
import { openModal, field, groupField, segmented, checkName, toast, emptyState, createButton, dataTable, rowActions, deleteAction, confirmDelete, panelHead, textInput } from '../../ui.js';
import { asList, upsertItem, showLoadState, deleteItem } from '../../resource.js';
import { EXAMPLE_MAC, compareNames, byName, profileOptions } from './shared.js';

const SELECTOR_KINDS = {
  mac: {
    label: 'MAC',
    title: 'MAC address',
    placeholder: EXAMPLE_MAC,
    hint: 'The machine’s network card, in any common spelling (stored lower case, with colons).',
  },
  uuid: {
    label: 'UUID',
    title: 'SMBIOS UUID',
    placeholder: '4c4c4544-0042-4810-8056-b4c04f4d4e31',
    hint: 'The machine’s SMBIOS UUID, as iPXE reports it in ${uuid}.',
  },
  label: {
    label: 'Label',
    title: 'Node label',
    placeholder: 'rack=r1',
    hint: 'key=value, matched against the labels of the registered node with the booting MAC.',
  },
};

/** mountSelectors(panel, ctx, {selectors, profiles, settings}) → {render()}: fills the tab's panel. */
export function mountSelectors(panel, ctx, { selectors, profiles, settings }) {
  const selectorsBody = h('div', { class: 'card table-card', testid: 'selectors-card' });
  append(panel, [
    panelHead(
      'Selectors',
      'Which machine boots which profile. A MAC match wins over a UUID match, which wins over a label match; machines no selector matches boot the default profile.',
      createButton(ctx, 'New selector', { testid: 'selector-create', onClick: () => openSelector() }),
    ),
    selectorsBody,
  ]);

  function render() {
    if (showLoadState(selectors, selectorsBody, 'selectors')) return;
    const all = [...selectors.data].sort((a, b) => {
      const rank = (s) => (s.mac ? 0 : s.uuid ? 1 : 2);
      return rank(a) - rank(b) || compareNames(a, b);
    });
    const def = settings.data ? settings.data.defaultProfile : null;
    const defaultFoot = h(
      'div',
      { class: 'table-foot default-foot', testid: 'selectors-default' },
      'Any other machine → ',
      def ? h('strong', null, def) : h('span', null, 'no profile: it waits and asks again every 30 s'),
      ' ',
      h('span', { class: 'muted' }, '(default profile, in Settings)'),
    );
    if (all.length === 0) {
      replace(
        selectorsBody,
        emptyState({
          iconName: 'target',
          title: 'No selectors yet',
          text: ctx.canMutate
            ? 'Map a machine to a profile by its MAC address, its SMBIOS UUID or a label of its node.'
            : 'No selector has been defined yet.',
          testid: 'selectors-empty',
          action: createButton(ctx, 'New selector', { onClick: () => openSelector() }),
        }),
        defaultFoot,
      );
      return;
    }
    replace(
      selectorsBody,
      dataTable({
        testid: 'selectors-table',
        columns: ['Name', 'Matches', 'Boots profile'],
        actions: ctx.canMutate,
        rows: all.map(selectorRow),
      }),
      defaultFoot,
    );
  }

  function selectorRow(s) {
    const kind = s.mac ? 'mac' : s.uuid ? 'uuid' : 'label';
    const value = s[kind] || '';
    const known = asList(profiles.data).some((p) => p.name === s.profile);
    return h(
      'tr',
      { testid: 'selector-row', dataset: { name: s.name, kind, value } },
      h('td', { dataset: { label: 'Name' } }, h('span', { class: 'mono strong' }, s.name)),
      h(
        'td',
        { dataset: { label: 'Matches' }, testid: 'selector-match' },
        h(
          'div',
          { class: 'kernel' },
          h('span', { class: 'tag tag-neutral' }, SELECTOR_KINDS[kind].label),
          h('span', { class: 'mono' }, value),
        ),
      ),
      h(
        'td',
        { dataset: { label: 'Profile' }, testid: 'selector-profile' },
        h('span', { class: known ? 'strong' : 'tone-danger', title: known ? null : 'This profile does not exist' }, '→ ', s.profile),
      ),
      ctx.canMutate ? rowActions(deleteAction(s.name, 'selector-delete', () => openDeleteSelector(s))) : null,
    );
  }
  // ---- selector modal -----------------------------------------------------

  function openSelector() {
    const profileList = byName(profiles.data);
    const nameInput = textInput('selector-form-name', { maxlength: 64, placeholder: 'rack1-node3' });
    let nameTouched = false;
    nameInput.addEventListener('input', () => {
      nameTouched = nameInput.value.trim() !== '';
    });
    const matchKind = segmented({
      label: 'Match by',
      checked: 'mac',
      options: Object.entries(SELECTOR_KINDS).map(([value, k]) => ({ value, label: k.label, testid: `selector-kind-${value}` })),
    });
    const valueInput = textInput('selector-form-value', { maxlength: 200 });
    const valueWrap = field({ label: 'MAC address', name: 'mac', control: valueInput, hint: ' ' });
    const valueLabel = valueWrap.querySelector('.field-label');
    const valueHint = valueWrap.querySelector('.field-hint');
    const kindField = groupField({ name: 'kind', label: 'Match machines by' }, matchKind.el);
    const kind = matchKind.value;
    const syncKind = () => {
      const k = SELECTOR_KINDS[kind()];
      valueWrap.dataset.field = kind();
      valueLabel.textContent = k.title;
      valueInput.placeholder = k.placeholder;
      valueHint.textContent = k.hint;
    };
    matchKind.el.addEventListener('change', () => {
      syncKind();
      valueInput.focus();
    });
    syncKind();
    valueInput.addEventListener('input', () => {
      if (nameTouched) return;
      const slug = valueInput.value.trim().toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '');
      nameInput.value = slug ? `${kind()}-${slug}`.slice(0, 64) : '';
    });

    const profileSelect = h(
      'select',
      { class: 'input', testid: 'selector-form-profile', disabled: profileList.length === 0 },
      h('option', { value: '' }, profileList.length ? 'Choose a profile…' : 'No profiles yet'),
      profileOptions(profileList),
    );
    if (profileList.length === 1) profileSelect.value = profileList[0].name;

    openModal({
      title: 'New selector',
      description: 'Boot a machine, or a group of machines, with a given profile.',
      testid: 'selector-modal',
      submitLabel: 'Create selector',
      fields: [
        profileList.length === 0
          ? h('div', { class: 'form-notice' }, icon('info', { size: 16 }), h('span', null, 'There is no boot profile yet: create one on the Profiles tab first.'))
          : null,
        kindField,
        valueWrap,
        field({ label: 'Selector name', name: 'name', control: nameInput, hint: 'Letters, digits, “.”, “_” and “-”, up to 64 characters. Suggested from what it matches.' }),
        field({ label: 'Boots profile', name: 'profile', control: profileSelect }),
      ],
      async onSubmit() {
        const name = nameInput.value.trim();
        const k = kind();
        const value = valueInput.value.trim();
        checkName(name, { field: 'name', what: 'selector name' });
        if (!value) throw new ApiError(400, 'invalid', `The ${SELECTOR_KINDS[k].label} to match is required.`, k);
        if (!profileSelect.value) throw new ApiError(400, 'invalid', 'Choose the profile to boot.', 'profile');
        const body = { name, [k]: value, profile: profileSelect.value };
        const saved = await api.createBootSelector(body);
        upsertItem(selectors, saved || body);
        toast(`Selector ${name} created.`, { type: 'success' });
      },
    });
  }

  function openDeleteSelector(s) {
    const kind = s.mac ? 'mac' : s.uuid ? 'uuid' : 'label';
    confirmDelete({
      title: 'Delete selector?',
      submitLabel: 'Delete selector',
      text: h(
        'span',
        null,
        'Machines matching ',
        h('strong', { class: 'mono' }, `${SELECTOR_KINDS[kind].label} ${s[kind]}`),
        ' will no longer boot ',
        h('strong', null, s.profile),
        ' through ',
        h('strong', { class: 'mono' }, s.name),
        '; they fall back to another selector or the default profile.',
      ),
      onConfirm: () => deleteItem(selectors, s.name, { what: 'Selector', call: () => api.deleteBootSelector(s.name) }),
    });
  }

  return { render };
}
