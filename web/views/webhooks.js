// Webhooks page (#/webhooks): where the orchestrator's events are POSTed,
// each webhook with its filter, its queue (pending, dropped) and its last
// deliveries, kept current from the live feed (the engine records every
// delivery). Operators create (the secret is sent once and never shown again)
// and delete.

import { api, ApiError } from '../api.js';
import { h } from '../dom.js';
import { openModal, field, fieldMessage, groupField, checkName, toast, button, createButton, viewPage, readOnlyPill, tableOrNote, relativeTime, relativeTimeTicker, cardHead, textInput } from '../ui.js';
import { liveCards, asList, confirmDeleteItem } from '../resource.js';

// The event types a webhook may ask for (ork: every event, as the reference named it).
const EVENT_TYPES = [
  { value: 'node', label: 'Node states' },
  { value: 'job', label: 'Job outcomes' },
  { value: 'storage', label: 'Storage' },
  { value: 'boot', label: 'Boot' },
  { value: 'ork', label: 'Everything' },
];

export function mountWebhooks(root, ctx) {
  const hooks = liveCards({
    name: 'webhooks',
    // The list, then each webhook's detail (its deliveries): a handful of webhooks, one small request each.
    fetcher: async () => Promise.all(asList(await api.listWebhooks()).map((w) => api.getWebhook(w.name))),
    live: ctx.live,
    matches: (change) => change.collection === 'webhooks' || change.collection === 'webhook_status',
    body: h('div', { class: 'webhooks', testid: 'webhooks-body' }),
    what: 'webhooks',
    items: (data) => [...data].sort((a, b) => a.name.localeCompare(b.name)),
    empty: {
      iconName: 'activity',
      title: 'No webhooks yet',
      text: 'A webhook receives node state changes, job outcomes, storage and boot events as they happen.',
      testid: 'webhooks-empty',
    },
    card: hookCard,
  });
  const page = viewPage(
    {
      testid: 'webhooks-page',
      title: 'Webhooks',
      sub: 'Events POSTed to your receivers as JSON, signed with HMAC-SHA256 in X-Zos-Signature, in order and retried until the receiver answers 2xx.',
      actions: createButton(ctx, 'New webhook', { testid: 'webhook-create', onClick: openCreate }) || readOnlyPill(ctx, 'see webhooks, not change them'),
    },
    hooks.body,
  );
  root.appendChild(page);
  const stopTicker = relativeTimeTicker(page, 15_000);

  function hookCard(w) {
    const counts = h(
      'span',
      { class: 'muted', testid: 'webhook-counts' },
      `${w.pending} pending`,
      w.dropped ? h('span', { class: 'tone-danger' }, ` · ${w.dropped} dropped (queue full)`) : null,
    );
    return h(
      'section',
      { class: 'card table-card node-table-card', testid: 'webhook-card', dataset: { name: w.name, pending: w.pending, dropped: w.dropped } },
      cardHead(
        w.name,
        h('span', null, h('span', { class: 'mono', testid: 'webhook-url' }, w.url), ' · ', w.eventtypes.join(', '), ' · ', counts),
        ctx.canMutate
          ? button('Delete', { small: true, kind: 'ghost-danger', iconName: 'trash', testid: 'webhook-delete', title: `Delete ${w.name}`, onClick: () => openDelete(w) })
          : null,
      ),
      tableOrNote(w.deliveries.map(deliveryRow), {
        note: 'No delivery yet: the next event goes out at once.',
        noteTestid: 'webhook-no-deliveries',
        noteClass: 'table-foot',
        testid: 'webhook-deliveries',
        columns: ['Time', 'Event', 'Attempt', { label: 'Outcome', class: 'col-fill' }, 'Took'],
      }),
    );
  }

  function deliveryRow(d) {
    const outcome = d.delivered
      ? h('span', { class: 'tone-ok' }, `delivered (${d.status})`)
      : h('span', { class: 'tone-danger' }, d.error || `HTTP ${d.status}`);
    return h(
      'tr',
      { testid: 'webhook-delivery', dataset: { event: d.event, delivered: String(d.delivered) } },
      h('td', { dataset: { label: 'Time' }, class: 'nowrap' }, relativeTime(d.at)),
      h('td', { dataset: { label: 'Event' }, class: 'mono nowrap' }, `#${d.event} ${d.type}`),
      h('td', { dataset: { label: 'Attempt' } }, String(d.attempt)),
      h('td', { dataset: { label: 'Outcome' }, class: 'col-fill' }, outcome),
      h('td', { dataset: { label: 'Took' }, class: 'nowrap' }, `${d.durationMs} ms`),
    );
  }

  function openCreate() {
    const nameInput = textInput('webhook-form-name', { maxlength: 64, placeholder: 'alerts' });
    const urlInput = textInput('webhook-form-url', { placeholder: 'https://hooks.example.net/zos' });
    const secretInput = textInput('webhook-form-secret', { type: 'password', maxlength: 256 });
    const boxes = EVENT_TYPES.map((t) => {
      const box = h('input', { type: 'checkbox', value: t.value, testid: `webhook-form-type-${t.value}`, checked: t.value === 'node' });
      return { box, el: h('label', { class: 'check' }, box, h('span', { class: 'check-label' }, t.label)) };
    });
    openModal({
      title: 'New webhook',
      description: 'Events are POSTed as JSON; check X-Zos-Signature (sha256=HMAC of the body under the secret) before trusting one.',
      testid: 'webhook-modal',
      submitLabel: 'Create webhook',
      fields: [
        field({ label: 'Name', name: 'name', control: nameInput, hint: 'Letters, digits, “.”, “_” and “-”, up to 64 characters.' }),
        field({ label: 'Receiver URL', name: 'url', control: urlInput, hint: 'http:// or https://' }),
        field({ label: 'Secret', name: 'secret', control: secretInput, hint: '16 to 256 characters; it signs every delivery and is never shown again.' }),
        groupField({ name: 'eventtypes', label: 'Events' }, h('div', { class: 'st-devices' }, boxes.map((b) => b.el)), fieldMessage()),
      ],
      async onSubmit() {
        const name = nameInput.value.trim();
        checkName(name, { field: 'name', what: 'webhook name' });
        const eventtypes = boxes.filter((b) => b.box.checked).map((b) => b.box.value);
        if (eventtypes.length === 0) throw new ApiError(400, 'invalid', 'Choose at least one kind of event.', 'eventtypes');
        await api.createWebhook({ name, url: urlInput.value.trim(), eventtypes, secret: secretInput.value });
        hooks.load();
        toast(`Webhook ${name} created.`, { type: 'success' });
      },
    });
  }

  function openDelete(w) {
    confirmDeleteItem(hooks, w.name, {
      title: 'Delete webhook?',
      text: h('span', null, 'No more events go to ', h('strong', { class: 'mono' }, w.url), `; the ${w.pending} still pending are dropped.`),
      what: 'Webhook',
      call: () => api.deleteWebhook(w.name),
    });
  }

  return {
    unmount() {
      hooks.stop();
      stopTicker();
    },
  };
}
