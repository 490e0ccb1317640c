// The Boot page's Media tab: bootable images for machines no PXE reaches. The
// user picks a kind, a ZeroTier network, a release (or a profile) and extra
// kernel arguments; the panel shows the download link, the URL its iPXE
// chains to and what the image cannot do alone — all as the server says it
// (a HEAD of the image's URL), so the page never guesses at --boot-url — and,
// for a USB stick, the `dd` line that writes it.

import { bootMediaUrl, bootMediaInfo } from '../../api.js';
import { h, replace, formatBytes } from '../../dom.js';
import { field, formErrors, segmented, copyButton, glyph, textInput } from '../../ui.js';
import { byName, profileOptions } from './shared.js';

const KINDS = [
  { value: 'iso', label: 'ISO', what: 'A hybrid image: burn it to a CD, attach it to a VM, or write it to a USB stick. BIOS and UEFI.' },
  { value: 'usb', label: 'USB', what: 'The same hybrid image, named for a USB stick or a raw disk. BIOS and UEFI.' },
  { value: 'uefimg', label: 'EFI disk', what: 'A FAT disk image with EFI/BOOT/BOOTX64.EFI (iPXE) and autoexec.ipxe. UEFI only.' },
  { value: 'krn', label: 'lkrn', what: 'ipxe.lkrn alone, for a boot loader you already have (GRUB, syslinux). BIOS only.' },
  { value: 'uefi', label: 'EFI binary', what: 'ipxe.efi alone, for an EFI system partition you already have. UEFI only.' },
];

/** Releases whose kernel is among the boot assets (zero-os-<release>.efi), else the usual one. */
function knownReleases(assets) {
  const names = (assets.data || []).map((a) => /^zero-os-(.+)\.efi$/.exec(a.name)).filter(Boolean);
  return names.length ? names.map((m) => m[1]) : ['master'];
}

/** mountMedia(panel, ctx, {settings, profiles, assets}) → {render()}: fills the tab's panel. */
export function mountMedia(panel, ctx, { settings, profiles, assets }) {
  const kind = segmented({
    label: 'Kind of image',
    options: KINDS.map((k) => ({ value: k.value, label: k.label, testid: `media-kind-${k.value}` })),
    checked: 'iso',
  });
  const networks = h('datalist', { id: 'media-networks' });
  const network = h('input', {
    class: 'input input-mono',
    testid: 'media-network',
    list: 'media-networks',
    autocomplete: 'off',
    spellcheck: 'false',
    maxlength: 16,
    placeholder: '16 hex digits; empty: none',
  });
  const releases = h('datalist', { id: 'media-releases' });
  const release = textInput('media-release', { list: 'media-releases' });
  const profile = h('select', { class: 'input', testid: 'media-profile' });
  const args = textInput('media-args', { placeholder: 'e.g. development console=ttyS0' });
  const form = h(
    'form',
    { class: 'form-grid', testid: 'media-form', onsubmit: (ev) => ev.preventDefault() },
    h('div', { class: 'field', dataset: { field: 'kind', multi: 'true' } }, h('span', { class: 'field-label' }, 'Kind'), kind.el),
    field({ label: 'ZeroTier network', name: 'network', control: network, hint: 'The network the machine joins (zerotier=… on its command line).' }),
    field({ label: 'Release', name: 'release', control: release, hint: 'The Zero-OS kernel zero-os-<release>.efi.' }),
    field({ label: 'Boot profile', name: 'profile', control: profile, hint: 'A profile’s kernel, initrds and command line instead of the release’s kernel.' }),
    field({ label: 'Kernel arguments', name: 'args', control: args, hint: 'Appended to the command line, space-separated.' }),
    networks,
    releases,
  );
  const errorBox = h('div', { class: 'form-error', hidden: true, role: 'alert', testid: 'media-error' });
  const errors = formErrors(form, errorBox);
  const result = h('div', { class: 'media-result', testid: 'media-result', 'aria-live': 'polite' });
  panel.appendChild(
    h(
      'div',
      { class: 'boot-cols' },
      h('section', { class: 'card', testid: 'media-card' }, cardTitle('Boot media', 'For machines no PXE reaches: an image whose iPXE chains to this server.'), form, errorBox),
      h('section', { class: 'card', testid: 'media-download-card' }, result),
    ),
  );
  kind.el.addEventListener('change', update);
  for (const input of [network, release, args]) input.addEventListener('input', update);
  profile.addEventListener('change', update);

  let prefilled = false;
  let asked = 0; // the newest request; older answers are dropped

  function render() {
    replace(networks, settings.data && settings.data.zerotierNetwork ? h('option', { value: settings.data.zerotierNetwork }, 'Boot settings’ network') : null);
    replace(releases, knownReleases(assets).map((r) => h('option', { value: r })));
    const chosen = profile.value;
    replace(profile, h('option', { value: '' }, 'None — the release’s kernel'), profileOptions(byName(profiles.data)));
    profile.value = [...profile.options].some((o) => o.value === chosen) ? chosen : '';
    if (prefilled && profile.value !== chosen) update(); // the chosen profile was deleted
    if (!prefilled && settings.data !== null && assets.data !== null) {
      prefilled = true;
      network.value = settings.data.zerotierNetwork || '';
      release.value = knownReleases(assets)[0];
      update();
    }
  }

  async function update() {
    const choice = {
      kind: kind.value(),
      release: release.value.trim(),
      network: network.value.trim(),
      args: args.value.trim(),
      profile: profile.value,
    };
    const request = ++asked;
    errors.clear();
    if (!choice.release) {
      replace(result, h('p', { class: 'muted' }, 'Name a release to get its image.'));
      return;
    }
    const url = bootMediaUrl(choice);
    try {
      const info = await bootMediaInfo(url);
      if (request === asked) showImage(choice.kind, url, info);
    } catch (err) {
      if (request !== asked) return;
      replace(result, h('p', { class: 'muted' }, 'Fix the choice on the left to get an image.'));
      errors.show(err);
    }
  }

  function showImage(kindName, url, info) {
    const absolute = new URL(url, location.origin).href;
    const filename = info.filename || `zos.${kindName}`;
    const what = KINDS.find((k) => k.value === kindName).what;
    replace(
      result,
      cardTitle('Download', what),
      h(
        'div',
        { class: 'media-file' },
        h(
          'a',
          { class: 'btn btn-primary', testid: 'media-download', href: url, download: filename, dataset: { kind: kindName } },
          glyph('download', { size: 16 }),
          h('span', { class: 'btn-label' }, `Download (${formatBytes(info.bytes)})`),
        ),
        h('code', { testid: 'media-filename' }, filename),
      ),
      line('Image URL', absolute, 'media-url'),
      line('Its iPXE chains to', info.script, 'media-script'),
      kindName === 'iso' || kindName === 'usb'
        ? line('Write it to a USB stick (all data on it is lost)', `dd if=${filename} of=/dev/sdX bs=4M conv=fsync status=progress`, 'media-dd')
        : null,
      info.note ? h('div', { class: 'form-notice', testid: 'media-note' }, glyph('info', { size: 16 }), h('span', null, info.note)) : null,
    );
  }

  return { render };
}

function cardTitle(title, sub) {
  return h('div', { class: 'card-head' }, h('div', null, h('h2', null, title), h('p', { class: 'card-sub' }, sub)));
}

/** A labelled line of text to copy (a URL, a command). */
function line(label, text, testid) {
  return h('div', { class: 'media-line' }, h('span', { class: 'field-label' }, label), h('div', { class: 'url-line' }, h('code', { testid }, text), copyButton(text, { label: `Copy: ${label}` })));
}
