// The Boot page's asset upload card: a drop zone or file picker, the asset's
// name (suggested from the file, warned when it replaces one), the upload's
// progress with Cancel, and the result with its SHA-256.

import { api, ApiError } from '../../api.js';
import { h, icon, replace, formatBytes } from '../../dom.js';
import { formErrors, field, toast, button, glyph, copyButton } from '../../ui.js';
import { asList } from '../../resource.js';
import { formatCount } from './shared.js';

const ASSET_RE = /^(?!\.)[A-Za-z0-9._-]{1,128}$/;

/**
 * assetUploader(assets, onUploaded) → {el, sync(), replace(name), stop()}
 * `assets`: the list resource (to warn about a name in use); onUploaded(asset) after each upload.
 */
export function assetUploader(assets, onUploaded) {
  let stopped = false;
  let file = null;
  let nameTouched = false;
  let controller = null;

  const fileInput = h('input', { type: 'file', class: 'sr-only', testid: 'asset-file', 'aria-label': 'Choose a file to upload' });
  const fileInfo = h('span', { class: 'dropzone-file', testid: 'asset-file-info', hidden: true });
  const dropText = h(
    'span',
    { class: 'dropzone-text' },
    h('strong', null, 'Drop a file here'),
    ' or ',
    h('span', { class: 'link' }, 'choose one'),
  );
  const dropzone = h(
    'label',
    { class: 'dropzone', testid: 'asset-dropzone' },
    fileInput,
    h('span', { class: 'dropzone-icon' }, glyph('upload', { size: 20 })),
    h('span', { class: 'dropzone-body' }, dropText, fileInfo, h('span', { class: 'dropzone-sub' }, 'A kernel, initramfs or image — up to 4 GiB.')),
  );
  const nameInput = h('input', {
    class: 'input input-mono',
    testid: 'asset-name',
    autocomplete: 'off',
    spellcheck: 'false',
    maxlength: 128,
    placeholder: 'vmlinuz',
  });
  const nameField = field({ label: 'Asset name', name: 'name', control: nameInput });
  const note = h('p', { class: 'field-hint', testid: 'asset-name-note' });
  nameField.appendChild(note);
  const submit = h(
    'button',
    { type: 'submit', class: 'btn btn-primary', testid: 'asset-upload-submit', disabled: true },
    h('span', { class: 'spinner', 'aria-hidden': 'true' }),
    glyph('upload', { size: 17 }),
    h('span', { class: 'btn-label' }, 'Upload'),
  );
  const errorBox = h('div', { class: 'form-error', role: 'alert', testid: 'asset-upload-error', hidden: true });
  const bar = h('span', { class: 'progress-bar' });
  const progressText = h('span', { class: 'progress-text', testid: 'asset-upload-progress-text' }, '');
  const cancel = button('Cancel', { small: true, kind: 'ghost', testid: 'asset-upload-cancel', onClick: () => controller && controller.abort() });
  const progress = h(
    'div',
    { class: 'upload-progress', testid: 'asset-upload-progress', hidden: true, role: 'status' },
    h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-label': 'Upload progress' }, bar),
    h('div', { class: 'progress-row' }, progressText, cancel),
  );
  const result = h('div', { class: 'upload-result', testid: 'asset-upload-result', hidden: true, role: 'status' });

  const form = h(
    'form',
    { class: 'card upload-card', testid: 'asset-upload-card', novalidate: true },
    dropzone,
    h('div', { class: 'upload-side' }, nameField, h('div', { class: 'upload-actions' }, submit)),
    h('div', { class: 'upload-status' }, errorBox, progress, result),
  );

  function setFile(f) {
    file = f || null;
    if (file) {
      fileInfo.hidden = false;
      replace(fileInfo, glyph('file', { size: 15 }), h('span', { class: 'mono' }, file.name), h('span', { class: 'muted' }, ` · ${formatBytes(file.size)}`));
      dropText.hidden = true;
      if (!nameTouched || !nameInput.value.trim()) {
        nameInput.value = suggestAssetName(file.name);
        nameTouched = false;
      }
    } else {
      fileInfo.hidden = true;
      dropText.hidden = false;
      fileInput.value = '';
    }
    clearErrors();
    sync();
  }

  function sync() {
    const name = nameInput.value.trim();
    const exists = name && asList(assets.data).find((a) => a.name === name);
    submit.disabled = !file || !!controller;
    submit.querySelector('.btn-label').textContent = exists ? 'Replace' : 'Upload';
    if (exists) {
      note.textContent = `An asset named ${name} exists (${formatBytes(exists.size)}); uploading replaces it.`;
      note.classList.add('tone-warn');
    } else {
      note.textContent = 'Letters, digits, “.”, “_” and “-”. Profiles refer to the asset by this name.';
      note.classList.remove('tone-warn');
    }
  }

  const { clear: clearErrors, show: showError } = formErrors(form, errorBox);

  function showProgress(loaded, total) {
    const pct = total > 0 ? Math.min(100, Math.round((loaded / total) * 100)) : 0;
    bar.style.width = `${pct}%`;
    progress.querySelector('.progress').setAttribute('aria-valuenow', String(pct));
    progressText.textContent = `${pct}% · ${formatBytes(loaded)} of ${formatBytes(total)}`;
  }

  fileInput.addEventListener('change', () => setFile(fileInput.files && fileInput.files[0]));
  nameInput.addEventListener('input', () => {
    nameTouched = true;
    clearErrors();
    sync();
  });
  for (const type of ['dragenter', 'dragover']) {
    dropzone.addEventListener(type, (ev) => {
      ev.preventDefault();
      dropzone.classList.add('is-over');
    });
  }
  for (const type of ['dragleave', 'drop']) {
    dropzone.addEventListener(type, () => dropzone.classList.remove('is-over'));
  }
  dropzone.addEventListener('drop', (ev) => {
    ev.preventDefault();
    const f = ev.dataTransfer && ev.dataTransfer.files && ev.dataTransfer.files[0];
    if (f) setFile(f);
  });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!file || controller) return;
    clearErrors();
    const name = nameInput.value.trim();
    if (!name) return showError(new ApiError(400, 'invalid', 'The asset name is required.', 'name'));
    if (!ASSET_RE.test(name)) {
      return showError(
        new ApiError(400, 'invalid', 'Use 1 to 128 letters, digits, “.”, “_” or “-”, not starting with “.”.', 'name'),
      );
    }
    controller = new AbortController();
    const sending = file;
    submit.classList.add('is-busy');
    submit.disabled = true;
    nameInput.disabled = true;
    fileInput.disabled = true;
    result.hidden = true;
    progress.hidden = false;
    showProgress(0, sending.size);
    try {
      const { status, body } = await api.uploadBootAsset(name, sending, {
        signal: controller.signal,
        onProgress: showProgress,
      });
      if (stopped) return;
      const asset = body && typeof body === 'object' ? body : { name, size: sending.size, sha256: '' };
      showResult(asset, status === 201 ? 'uploaded' : 'replaced');
      onUploaded(asset);
      setFile(null);
      nameInput.value = '';
      nameTouched = false;
    } catch (err) {
      if (stopped) return;
      if (err.code === 'aborted') toast('Upload cancelled.', { type: 'info' });
      else showError(err);
    } finally {
      controller = null;
      progress.hidden = true;
      submit.classList.remove('is-busy');
      nameInput.disabled = false;
      fileInput.disabled = false;
      sync();
    }
  });

  function showResult(asset, verb) {
    const sha = typeof asset.sha256 === 'string' ? asset.sha256 : '';
    result.dataset.name = asset.name;
    result.dataset.status = verb;
    replace(
      result,
      h('span', { class: 'result-icon' }, icon('check', { size: 16 })),
      h(
        'div',
        { class: 'result-text' },
        h('div', null, h('strong', { class: 'mono' }, asset.name), ` ${verb} · ${formatBytes(asset.size)} (${formatCount(asset.size)} bytes)`),
        h(
          'div',
          { class: 'sha' },
          h('span', { class: 'muted' }, 'SHA-256'),
          h('span', { class: 'mono sha-full', testid: 'asset-upload-sha256' }, sha || '—'),
          sha ? copyButton(sha, { label: 'Copy the SHA-256' }) : null,
        ),
      ),
      h(
        'button',
        { type: 'button', class: 'icon-btn', 'aria-label': 'Dismiss', title: 'Dismiss', onclick: () => { result.hidden = true; } },
        icon('x', { size: 16 }),
      ),
    );
    result.hidden = false;
  }

  sync();
  return {
    el: form,
    sync,
    replace(name) {
      nameInput.value = name;
      nameTouched = true;
      clearErrors();
      sync();
      form.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
      fileInput.click();
    },
    /** The page is going: cancels an upload under way, quietly. */
    stop() {
      stopped = true;
      if (controller) controller.abort();
    },
  };
}

function suggestAssetName(fileName) {
  const cleaned = String(fileName || '')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, 128);
  return cleaned;
}
