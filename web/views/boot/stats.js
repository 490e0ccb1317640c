// The Boot page's stat cards above the tabs: the TFTP server, the cluster's
// ZeroTier network, the default profile, the last boot request.

import { h, replace } from '../../dom.js';
import { statCard, relativeTime } from '../../ui.js';
import { bootInfo } from './shared.js';

/** mountStats({events, settings, health}) → {el, render()} */
export function mountStats({ events, settings, health }) {
  const stats = h('div', { class: 'stats boot-stats', testid: 'boot-stats' });

  function stat(label, value, options) {
    return statCard(label, value, { ...options, small: true });
  }

  function render() {
    const s = settings.data;
    const boot = bootInfo(health);
    const tftp = boot ? boot.tftp : null;
    const files = boot && Array.isArray(boot.ipxeFiles) ? boot.ipxeFiles : [];
    const last = events.data && events.data.length ? events.data[0] : null;
    const notSet = (text) => h('span', { class: 'muted' }, text);
    replace(
      stats,
      stat('TFTP', tftp === null ? '…' : tftp === 'off' ? notSet('Off') : tftp, {
        testid: 'boot-stat-tftp',
        iconName: 'network',
        mono: tftp !== null && tftp !== 'off',
        sub: boot ? `${files.length} iPXE binar${files.length === 1 ? 'y' : 'ies'} served` : 'GET /health',
      }),
      stat('ZeroTier network', s === null ? '…' : s.zerotierNetwork ? s.zerotierNetwork : notSet('Not set'), {
        testid: 'boot-stat-zerotier',
        iconName: 'target',
        mono: !!(s && s.zerotierNetwork),
        sub: 'Used as {zerotier} in command lines',
      }),
      stat('Default profile', s === null ? '…' : s.defaultProfile ? s.defaultProfile : notSet('None'), {
        testid: 'boot-stat-default',
        iconName: 'layers',
        sub: s && s.defaultProfile ? 'When no selector matches' : 'Unmatched machines wait',
      }),
      stat(
        'Last boot request',
        events.data === null
          ? '…'
          : last
            ? relativeTime(last.at)
            : notSet('None yet'),
        {
          testid: 'boot-stat-last',
          iconName: 'activity',
          sub: last ? `${last.file} · ${last.mac || last.client}` : 'No machine has asked yet',
        },
      ),
    );
  }

  return { el: stats, render };
}
