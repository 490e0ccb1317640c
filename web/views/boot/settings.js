// The Boot page's Settings tab: the cluster-wide values every boot script
// uses (with their dialog), and how machines boot through this server, from
// PXE to the boot script, with the URLs to give them.

import { api } from '../../api.js';
import { h, replace } from '../../dom.js';
import { openModal, field, toast, button, copyButton } from '../../ui.js';
import { showLoadState } from '../../resource.js';
import { byName, profileOptions, ensureOption, bootInfo } from './shared.js';

/** mountSettings(panel, ctx, {settings, profiles, health}) → {render()}: fills the tab's panel. */
export function mountSettings(panel, ctx, { settings, profiles, health }) {
  const settingsCard = h('section', { class: 'card settings-card', testid: 'settings-card' });
  const howtoCard = h('section', { class: 'card howto', testid: 'boot-howto' });
  panel.appendChild(h('div', { class: 'boot-cols' }, settingsCard, howtoCard));

  function render() {
    renderHowto();
    const head = h(
      'div',
      { class: 'card-head' },
      h('div', null, h('h2', null, 'Settings'), h('p', { class: 'card-sub' }, 'Cluster-wide values every boot script uses.')),
      ctx.canMutate && settings.data
        ? button('Edit settings', { iconName: 'edit', testid: 'settings-edit', onClick: () => openSettings() })
        : null,
    );
    if (settings.data === null) {
      const holder = h('div');
      replace(settingsCard, head, holder);
      showLoadState(settings, holder, 'settings');
      return;
    }
    const s = settings.data;
    const unset = (text) => h('span', { class: 'muted' }, text);
    const boot = bootInfo(health);
    const proxyDhcp = boot && typeof boot.proxyDhcp === 'string' ? boot.proxyDhcp : null;
    replace(
      settingsCard,
      head,
      h(
        'dl',
        { class: 'kv-list settings-list' },
        h('dt', null, 'ZeroTier network'),
        h(
          'dd',
          { testid: 'settings-zerotier' },
          s.zerotierNetwork ? h('span', { class: 'mono' }, s.zerotierNetwork) : unset('Not set — {zerotier} cannot be used'),
        ),
        h('dt', null, 'Kernel source'),
        h(
          'dd',
          { testid: 'settings-kernel-source' },
          s.kernelSource ? h('span', { class: 'mono' }, s.kernelSource) : unset('This server’s boot assets'),
        ),
        h('dt', null, 'Default profile'),
        h(
          'dd',
          { testid: 'settings-default-profile' },
          s.defaultProfile ? h('strong', null, s.defaultProfile) : unset('None — unmatched machines wait'),
        ),
        h('dt', { title: 'Set when the server starts (--proxy-dhcp), not here' }, 'Proxy DHCP'),
        h('dd', { testid: 'settings-proxy-dhcp' }, proxyDhcp === null ? '…' : proxyDhcp === 'off' ? unset('Off — your DHCP server names the boot files') : h('span', { class: 'mono' }, proxyDhcp)),
      ),
    );
  }

  function renderHowto() {
    const boot = bootInfo(health);
    const files = boot && Array.isArray(boot.ipxeFiles) ? boot.ipxeFiles : null;
    const origin = location.origin;
    const zt = settings.data && settings.data.zerotierNetwork;
    const binary = (name, what) => {
      const available = files ? files.includes(name) : null;
      return h(
        'li',
        { testid: 'howto-ipxe-file', dataset: { file: name, available: available === null ? 'unknown' : String(available) } },
        h('code', null, name),
        h('span', { class: 'howto-what' }, what),
        available === null
          ? null
          : available
            ? h('span', { class: 'tag tag-ok', title: `Served over TFTP and at /boot/ipxe/${name}` }, 'available')
            : h('span', { class: 'tag tag-danger', title: 'Not among the iPXE binaries of this server' }, 'missing'),
      );
    };
    const urlLine = (url, testid) =>
      h('div', { class: 'url-line' }, h('code', { testid }, url), copyButton(url, { label: 'Copy the URL' }));
    replace(
      howtoCard,
      h('div', { class: 'card-head' }, h('div', null, h('h2', null, 'How machines boot'), h('p', { class: 'card-sub' }, 'From the network card to Zero-OS, through this server.'))),
      h(
        'ol',
        { class: 'steps' },
        h(
          'li',
          null,
          h('h3', null, 'PXE over TFTP'),
          h(
            'p',
            null,
            'Point your DHCP server’s next-server at this host (TFTP ',
            h('code', { testid: 'howto-tftp' }, boot ? String(boot.tftp) : '…'),
            ') and its boot file name at:',
          ),
          boot && boot.proxyDhcp && boot.proxyDhcp !== 'off'
            ? h('p', { testid: 'howto-proxy-dhcp' }, 'Or nothing: proxyDHCP on ', h('code', null, boot.proxyDhcp), ' tells PXE clients which file to load, beside your DHCP server.')
            : null,
          h(
            'ul',
            { class: 'filelist' },
            binary('undionly.kpxe', 'BIOS (legacy PXE)'),
            binary('ipxe.efi', 'UEFI'),
            binary('snponly.efi', 'UEFI, with the firmware’s network driver'),
          ),
        ),
        h(
          'li',
          null,
          h('h3', null, 'Handover to HTTP'),
          h(
            'p',
            null,
            'Once iPXE runs, DHCP should hand it the TFTP script ',
            h('code', null, 'boot.ipxe'),
            ', which continues over HTTP. ',
            h('code', null, 'undionly.ipxe'),
            ' does the same, but first chain-loads our ',
            h('code', null, 'undionly.kpxe'),
            ' on BIOS machines whose ROM should not be used.',
          ),
        ),
        h(
          'li',
          null,
          h('h3', null, 'Boot script'),
          h('p', null, 'The machine asks for its script; the selectors choose its profile, whose kernel and initrds come from ', h('code', null, '/boot/assets'), ':'),
          urlLine(`${origin}/boot.ipxe?mac=\${net0/mac}`, 'howto-bootipxe'),
        ),
        h(
          'li',
          null,
          h('h3', null, '0-bootstrap URLs'),
          h('p', null, 'Compatible with Zero-OS 0-bootstrap: chain-load a release straight into a ZeroTier network.'),
          urlLine(`${origin}/ipxe/<release>/<zerotier-network>/<args>`, 'howto-bootstrap'),
          h('p', { class: 'muted small' }, 'e.g. ', h('code', null, `/ipxe/master/${zt || '<network>'}/development`)),
        ),
      ),
      h(
        'p',
        { class: 'howto-foot', testid: 'howto-origin' },
        'iPXE binaries: ',
        boot && boot.ipxeOrigin ? boot.ipxeOrigin : '—',
        '. URLs as this browser reaches the server; machines may use another address.',
      ),
    );
  }

  // ---- settings modal -----------------------------------------------------

  function openSettings() {
    const s = settings.data || {};
    const profileList = byName(profiles.data);
    const zt = h('input', {
      class: 'input input-mono',
      testid: 'settings-form-zerotier',
      autocomplete: 'off',
      spellcheck: 'false',
      maxlength: 16,
      placeholder: '16 hex digits, e.g. 8056c2e21c000001',
      value: s.zerotierNetwork || '',
    });
    const source = h('input', {
      class: 'input input-mono',
      testid: 'settings-form-kernel-source',
      type: 'url',
      autocomplete: 'off',
      spellcheck: 'false',
      placeholder: 'https://bootstrap.grid.tf/kernel',
      value: s.kernelSource || '',
    });
    const def = h(
      'select',
      { class: 'input', testid: 'settings-form-default-profile' },
      h('option', { value: '' }, 'None — unmatched machines wait and retry'),
      profileOptions(profileList),
    );
    if (s.defaultProfile) {
      ensureOption(def, s.defaultProfile);
      def.value = s.defaultProfile;
    }
    openModal({
      title: 'Boot settings',
      description: 'Cluster-wide values every boot script uses.',
      testid: 'settings-modal',
      submitLabel: 'Save settings',
      fields: [
        field({
          label: 'ZeroTier network',
          name: 'zerotierNetwork',
          control: zt,
          hint: 'The cluster’s network id; command lines use it as {zerotier}. Empty: not set.',
        }),
        field({
          label: 'Kernel source',
          name: 'kernelSource',
          control: source,
          hint: 'Base URL for Zero-OS release kernels (<url>/zero-os-<release>.efi). Empty: this server’s boot assets.',
        }),
        field({
          label: 'Default profile',
          name: 'defaultProfile',
          control: def,
          hint: 'Booted by machines no selector matches.',
        }),
      ],
      async onSubmit() {
        const body = {
          zerotierNetwork: zt.value.trim() || null,
          kernelSource: source.value.trim() || null,
          defaultProfile: def.value || null,
        };
        const saved = await api.putBootSettings(body);
        settings.set(saved && typeof saved === 'object' ? saved : body);
        toast('Boot settings saved.', { type: 'success' });
      },
    });
  }

  return { render };
}
