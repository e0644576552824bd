// The live-events panel: the filter form, the connection state, the scrolling feed and the
// rate chart. With no filter the feed shares the page's stream (one connection per tab, which
// matters since a browser opens at most six to one host over HTTP/1.1); with a filter it opens
// its own, so that the keys and queues panels keep hearing every event.

import { EventStream, EVENT_TYPES } from './events.js';
import { RateChart } from './chart.js';
import { byId, el, Notice } from './ui.js';

/** Entries the feed keeps; older ones scroll away for good. */
const FEED_LIMIT = 200;

const STATE_TEXT = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  closed: 'Closed',
};

/** Writes a stream's state into a status element (`data-state` carries it for styling and tests). */
export function showState(element, label, state, stream, problem = null) {
  element.dataset.state = state;
  let text = `${label}: ${STATE_TEXT[state]}`;
  if (state === 'reconnecting' && stream.lastId) text += ` (resuming after event ${stream.lastId})`;
  if (problem) text += ` — ${problem.title}: ${problem.detail}`;
  element.textContent = text;
}

/** The live-events panel. */
export class Feed {
  /** `shared` is the page's unfiltered stream. */
  constructor(shared) {
    this.shared = shared;
    this.own = new EventStream();
    this.current = null;
    this.list = byId('feed');
    this.stateElement = byId('feed-state');
    this.notice = new Notice(byId('feed-notice'));
    this.chart = new RateChart(byId('feed-chart'), byId('chart-legend'));
    this.keyInput = byId('feed-key');
    this.typeBoxes = EVENT_TYPES.map((type) => el('input', { type: 'checkbox', id: `feed-type-${type}`, value: type, checked: true }));
    byId('feed-types').replaceChildren(...this.typeBoxes.map((box) =>
      el('label', { class: 'check' }, box, el('span', { class: `badge type-${box.value}` }, box.value))));
    byId('feed-filters').addEventListener('submit', (event) => {
      event.preventDefault();
      this.apply();
    });
    byId('feed-clear').addEventListener('click', () => {
      this.list.replaceChildren();
      this.chart.clear();
    });
    this.listener = {
      onEvent: (event) => this.add(event),
      onGap: (gap) => this.gap(gap),
      onState: (state, problem) => {
        showState(this.stateElement, 'Feed', state, this.current, problem);
        if (problem) this.notice.error(problem);
      },
    };
    this.apply();
  }

  /** Follows the filters of the form: the shared stream when there are none, else its own. */
  apply() {
    const glob = this.keyInput.value.trim();
    const types = this.typeBoxes.filter((box) => box.checked).map((box) => box.value);
    this.notice.clear();
    if (types.length === 0) {
      this.notice.error(new Error('Choose at least one event type.'));
      return;
    }
    this.current?.unsubscribe(this.listener);
    const filtered = glob !== '' || types.length < EVENT_TYPES.length;
    if (filtered) {
      this.current = this.own;
      // Opened first, so that the new listener hears `connecting`, not the last refusal.
      this.own.open({ keys: [glob].filter(Boolean), types });
      this.own.subscribe(this.listener);
    } else {
      this.own.close();
      this.current = this.shared;
      this.shared.subscribe(this.listener);
    }
  }

  /** Opens its own stream again (the shared one reconnects by itself): after a sign-in. */
  reconnect() {
    if (this.current === this.own) this.own.connect();
  }

  /** Puts an event at the top of the feed and counts it on the chart. */
  add(event) {
    this.chart.count(event.type);
    const time = new Date(event.time);
    const item = el('li', { class: `entry type-${event.type}`, dataset: { type: event.type, key: event.key, id: String(event.id) } },
      el('time', { datetime: time.toISOString() }, clock(time)),
      el('span', { class: `badge type-${event.type}` }, event.reason ? `${event.type} (${event.reason})` : event.type),
      el('code', { class: 'key' }, event.key));
    this.prepend(item);
  }

  /** Warns that events were lost: they had left the server's history before this page got them. */
  gap(gap) {
    const text = `Missed events ${gap.from}–${gap.to}: the server no longer holds them.`;
    this.notice.warn(text);
    this.prepend(el('li', { class: 'entry gap', dataset: { type: 'gap' } }, el('span', { class: 'badge gap' }, 'gap'), text));
  }

  prepend(item) {
    this.list.prepend(item);
    while (this.list.childElementCount > FEED_LIMIT) this.list.lastElementChild.remove();
  }
}

/** hh:mm:ss.mmm in local time: events come faster than once a second. */
function clock(time) {
  const pad = (value, size = 2) => String(value).padStart(size, '0');
  return `${pad(time.getHours())}:${pad(time.getMinutes())}:${pad(time.getSeconds())}.${pad(time.getMilliseconds(), 3)}`;
}
