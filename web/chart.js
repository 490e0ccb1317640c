// A small live line chart drawn as plain SVG (no library): a fixed number of
// slots with the newest sample at the right edge, values from 0 to `max`.
// The SVG stretches to its box; the strokes keep their width (non-scaling),
// the axis labels and the "latest value" dots are HTML around it.

import { h } from './dom.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
const STEP = 10; // viewBox units from one sample to the next
const HEIGHT = 100;
const GRID = [0, 0.25, 0.5, 0.75, 1];

function svg(tag, attrs) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

const finite = (v) => typeof v === 'number' && Number.isFinite(v);

/**
 * liveChart({series: [{key, label}], capacity, max, unit, label, since, testid})
 * → {el, render(points)}. points: the samples, oldest first, each {key: value
 * or null}; the last `capacity` are drawn, a null leaves a gap in its line.
 * The chart's data-samples and each line's data-points count what is drawn;
 * a line has the testid `<testid>-<key>` and the class `chart-<key>` (its colour).
 */
export function liveChart({ series, capacity, max = 100, unit = '%', label, since, testid }) {
  const width = (capacity - 1) * STEP;
  const plot = svg('svg', {
    class: 'chart-svg',
    viewBox: `0 0 ${width} ${HEIGHT}`,
    preserveAspectRatio: 'none',
    role: 'img',
    'aria-label': label,
  });
  for (const f of GRID) plot.appendChild(svg('line', { class: 'chart-grid', x1: 0, x2: width, y1: f * HEIGHT, y2: f * HEIGHT }));
  const lines = series.map((s) => {
    const area = svg('path', { class: `chart-area chart-${s.key}`, d: '' });
    const line = svg('path', { class: `chart-line chart-${s.key}`, d: '', 'data-testid': `${testid}-${s.key}`, 'data-points': 0 });
    plot.append(area, line);
    const dot = h('span', { class: `chart-dot chart-${s.key}`, hidden: true, 'aria-hidden': 'true' });
    return { key: s.key, area, line, dot };
  });
  const empty = h('div', { class: 'chart-empty', testid: `${testid}-empty` }, 'Waiting for the first sample…');
  const el = h(
    'div',
    { class: 'chart', testid, dataset: { samples: 0 } },
    h(
      'div',
      { class: 'chart-axis', 'aria-hidden': 'true' },
      GRID.map((f) => h('span', null, `${Math.round(max * (1 - f))}${unit}`)),
    ),
    h('div', { class: 'chart-plot' }, plot, lines.map((l) => l.dot), empty),
    h('div', { class: 'chart-time', 'aria-hidden': 'true' }, h('span', null, since), h('span', null, 'now')),
  );

  const y = (v) => HEIGHT - (Math.min(Math.max(v, 0), max) / max) * HEIGHT;

  function render(points) {
    const shown = points.slice(-capacity);
    const offset = capacity - shown.length;
    el.dataset.samples = String(shown.length);
    empty.hidden = shown.length > 0;
    for (const l of lines) {
      // Runs of consecutive values; a missing one starts a new run.
      const runs = [];
      let run = null;
      shown.forEach((p, i) => {
        const v = p[l.key];
        if (!finite(v)) {
          run = null;
          return;
        }
        if (!run) runs.push((run = []));
        run.push(`${(offset + i) * STEP},${y(v).toFixed(2)}`);
      });
      l.line.setAttribute('d', runs.map((r) => `M${r.join('L')}`).join(''));
      l.line.setAttribute('data-points', String(runs.reduce((n, r) => n + r.length, 0)));
      l.area.setAttribute(
        'd',
        runs.map((r) => `M${r[0].split(',')[0]},${HEIGHT}L${r.join('L')}L${r[r.length - 1].split(',')[0]},${HEIGHT}Z`).join(''),
      );
      const last = shown.length ? shown[shown.length - 1][l.key] : null;
      l.dot.hidden = !finite(last);
      if (finite(last)) l.dot.style.top = `${(y(last) / HEIGHT) * 100}%`;
    }
  }

  return { el, render };
}
