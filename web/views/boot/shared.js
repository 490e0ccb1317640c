// What the Boot page's tabs share: the example MAC of previews, ordering by
// name, a profile's <option>, the boot part of /health, byte counts, and a
// delete that counts a 404 as done.

import { h } from '../../dom.js';
import { asList } from '../../resource.js';

export const EXAMPLE_MAC = '52:54:00:12:34:56';

export const compareNames = (a, b) => String(a.name).localeCompare(String(b.name));

/** A copy of the list (null: empty), sorted by name. */
export function byName(list) {
  return [...asList(list)].sort(compareNames);
}

/** One <option> a profile, its description after the name. */
export function profileOptions(list) {
  return list.map((p) => h('option', { value: p.name }, p.description ? `${p.name} — ${p.description}` : p.name));
}

/** Keeps a select able to show a value that is not among its options (e.g. a deleted asset). */
export function ensureOption(select, value) {
  if (![...select.options].some((o) => o.value === value)) {
    select.appendChild(h('option', { value }, `${value} (missing)`));
  }
}

/** The boot part of /health (TFTP, proxyDHCP, iPXE binaries), or null while it is unknown. */
export function bootInfo(health) {
  const boot = health.data && health.data.boot;
  return boot && typeof boot === 'object' ? boot : null;
}

/** "1,234,567" (for titles that give the exact number of bytes). */
export function formatCount(n) {
  return typeof n === 'number' && Number.isFinite(n) ? n.toLocaleString('en-US') : '—';
}
