// Sign-in screen: paste an API token, validated with GET /auth/whoami.

import { api } from '../api.js';
import { h, icon } from '../dom.js';
import { inputError } from '../ui.js';

export function mountSignIn(root, { message = null, onSignedIn }) {
  const error = h('div', { class: 'form-error', role: 'alert', testid: 'signin-error', hidden: true });
  const notice = message
    ? h('div', { class: 'form-notice', role: 'status', testid: 'signin-notice' }, icon('info', { size: 16 }), h('span', null, message))
    : null;

  const input = h('input', {
    type: 'password',
    id: 'signin-token',
    name: 'token',
    class: 'input input-mono',
    testid: 'signin-token',
    autocomplete: 'off',
    autocapitalize: 'off',
    spellcheck: 'false',
    placeholder: 'Paste your API token',
    required: true,
    'aria-describedby': 'signin-hint',
  });

  const toggle = h(
    'button',
    {
      type: 'button',
      class: 'input-addon',
      'aria-label': 'Show token',
      testid: 'signin-toggle',
      onclick: () => {
        const show = input.type === 'password';
        input.type = show ? 'text' : 'password';
        toggle.textContent = show ? 'Hide' : 'Show';
        toggle.setAttribute('aria-label', show ? 'Hide token' : 'Show token');
        input.focus();
      },
    },
    'Show',
  );

  const submit = h(
    'button',
    { type: 'submit', class: 'btn btn-primary btn-block', testid: 'signin-submit' },
    h('span', { class: 'spinner', 'aria-hidden': 'true' }),
    h('span', { class: 'btn-label' }, 'Sign in'),
  );

  const form = h(
    'form',
    { class: 'signin-form', testid: 'signin-form', novalidate: true },
    notice,
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'signin-token', class: 'field-label' }, 'API token'),
      h('div', { class: 'input-group' }, input, toggle),
      h(
        'p',
        { class: 'field-hint', id: 'signin-hint' },
        'The bootstrap admin token is in ',
        h('code', null, '<data-dir>/admin.token'),
        ' on the orchestrator host.',
      ),
    ),
    error,
    submit,
  );

  const { show: showError, clear: clearError } = inputError(input, error);
  let busy = false;
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (busy) return;
    const token = input.value.trim();
    clearError();
    if (!token) {
      showError('Enter a token to sign in.');
      return;
    }
    if (/\s/.test(token)) {
      showError('The token must not contain spaces or line breaks.');
      return;
    }
    busy = true;
    submit.disabled = true;
    submit.classList.add('is-busy');
    try {
      const user = await api.whoami(token);
      if (!user || typeof user !== 'object' || !user.role) {
        throw new Error('The server answered with an unexpected identity.');
      }
      input.value = '';
      onSignedIn(token, user);
    } catch (err) {
      if (err.status === 401) showError('This token was not accepted: it is invalid or has been revoked.');
      else showError(err.display || err.message || 'Sign-in failed.');
    } finally {
      busy = false;
      submit.disabled = false;
      submit.classList.remove('is-busy');
    }
  });


  const page = h(
    'div',
    { class: 'signin', testid: 'signin-page' },
    h(
      'div',
      { class: 'signin-card' },
      h(
        'div',
        { class: 'signin-brand' },
        h('img', { src: '/ui/logo.svg', alt: '', width: 44, height: 44 }),
        h('div', null, h('h1', null, 'zos-orchestrator'), h('p', null, 'Zero-OS cluster orchestrator')),
      ),
      h('h2', { class: 'signin-title' }, 'Sign in'),
      h('p', { class: 'signin-sub' }, 'Use an API token to manage your nodes.'),
      form,
    ),
    h('p', { class: 'signin-foot' }, 'Your token stays in this browser tab and is cleared when you sign out or close it.'),
  );
  root.appendChild(page);
  input.focus();

  return {
    unmount() {
      page.remove();
    },
  };
}
