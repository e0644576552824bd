// Events per second by type over the last few minutes, as stacked bars on a <canvas>. Counts
// are kept per second of the browser's clock (when each event arrived), not the server's, so
// a clock difference between the two cannot push bars off the chart.

import { EVENT_TYPES } from './events.js';
import { el } from './ui.js';

/** Seconds the chart spans. */
export const WINDOW_SECONDS = 180;

/** A stacked bar chart of event rates, redrawn once a second. */
export class RateChart {
  /** Draws on `canvas` and writes the colour key into `legend`. */
  constructor(canvas, legend) {
    this.canvas = canvas;
    this.counts = new Map(); // second → { type → count }
    legend.replaceChildren(...EVENT_TYPES.map((type) =>
      el('span', { class: 'key' }, el('span', { class: `swatch type-${type}`, 'aria-hidden': 'true' }), type)));
    new ResizeObserver(() => this.draw()).observe(canvas);
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => this.draw());
    setInterval(() => this.draw(), 1000);
  }

  /** Counts one event of `type`, now. */
  count(type) {
    const second = Math.floor(Date.now() / 1000);
    const bucket = this.counts.get(second) ?? {};
    bucket[type] = (bucket[type] ?? 0) + 1;
    this.counts.set(second, bucket);
  }

  /** Forgets every count. */
  clear() {
    this.counts.clear();
    this.draw();
  }

  /** Redraws the chart at the canvas's current size. O(WINDOW_SECONDS × types). */
  draw() {
    const now = Math.floor(Date.now() / 1000);
    for (const second of this.counts.keys()) if (second <= now - WINDOW_SECONDS) this.counts.delete(second);

    const ratio = window.devicePixelRatio || 1;
    const width = this.canvas.clientWidth;
    const height = this.canvas.clientHeight;
    if (width === 0 || height === 0) return;
    this.canvas.width = Math.round(width * ratio);
    this.canvas.height = Math.round(height * ratio);
    const context = this.canvas.getContext('2d');
    context.scale(ratio, ratio);

    const style = getComputedStyle(this.canvas);
    const colours = Object.fromEntries(EVENT_TYPES.map((type) => [type, style.getPropertyValue(`--type-${type}`).trim()]));
    const ink = style.getPropertyValue('--muted').trim();
    const totals = [...this.counts.values()].map((bucket) => Object.values(bucket).reduce((sum, n) => sum + n, 0));
    const peak = Math.max(1, ...totals);
    const top = niceCeiling(peak);

    const axis = 28; // room for the scale on the left
    const plotWidth = width - axis;
    const plotHeight = height - 16; // and the time marks below
    const barWidth = plotWidth / WINDOW_SECONDS;

    context.font = '11px system-ui, sans-serif';
    context.fillStyle = ink;
    context.strokeStyle = ink;
    context.globalAlpha = 0.35;
    context.beginPath();
    context.moveTo(axis, 0.5);
    context.lineTo(width, 0.5);
    context.moveTo(axis, plotHeight + 0.5);
    context.lineTo(width, plotHeight + 0.5);
    context.stroke();
    context.globalAlpha = 1;
    context.textBaseline = 'top';
    context.fillText(`${top}/s`, 0, 0);
    context.textBaseline = 'alphabetic';
    context.fillText('0', 0, plotHeight);
    context.fillText(`−${WINDOW_SECONDS / 60} min`, axis, height - 2);
    context.textAlign = 'right';
    context.fillText('now', width, height - 2);

    let total = 0;
    for (const [second, bucket] of this.counts) {
      const x = axis + (WINDOW_SECONDS - 1 - (now - second)) * barWidth;
      let y = plotHeight;
      for (const type of EVENT_TYPES) {
        const count = bucket[type] ?? 0;
        if (count === 0) continue;
        total += count;
        const barHeight = (count / top) * plotHeight;
        y -= barHeight;
        context.fillStyle = colours[type];
        context.fillRect(x, y, Math.max(1, barWidth - 0.5), barHeight);
      }
    }
    this.canvas.setAttribute('aria-label',
      `Events per second by type over the last ${WINDOW_SECONDS / 60} minutes: ${total} in all, at most ${peak} in one second.`);
  }
}

/** The smallest of 1, 2, 5 × 10ⁿ at or above `value`, so the scale reads as a round number. */
function niceCeiling(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((step) => step * power).find((candidate) => candidate >= value);
}
