// The queues panel: the queues present with their length and parked consumers, kept current
// by events (each event about a queue refetches its state); a form to push, pop and peek.

import { request, requestJSON, segment } from './api.js';
import { formatBytes, formatSize, parseBytes, utf8OrNull } from './bytes.js';
import { el, Notice, background, byId, guard, coalesce } from './ui.js';

/** Pages of 1000 keys scanned to find the queues when the page opens; later ones come by event. */
const SCAN_PAGES = 10;
/** Messages a peek shows. */
const PEEK_LIMIT = 10;

/** The queues panel. */
export class QueuePanel {
  constructor() {
    this.rows = new Map(); // name → <tr>
    this.pending = new Set(); // queues whose state an event made stale
    this.body = byId('queue-rows');
    this.empty = byId('queues-empty');
    this.listNotice = new Notice(byId('queues-notice'));
    this.notice = new Notice(byId('queue-notice'));
    this.form = byId('queue-form');
    this.nameInput = byId('queue-name');
    this.popped = byId('queue-popped');
    this.messages = byId('queue-messages');
    this.refreshSoon = coalesce(() => this.refreshPending(), 200);
    this.peekSoon = coalesce(() => background(this.notice, () => this.peek()), 200);

    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      guard(this.notice, () => this.push(), byId('queue-push'));
    });
    byId('queue-pop').addEventListener('click', (event) => this.whenNamed(() => this.pop(), event.currentTarget));
    byId('queue-peek').addEventListener('click', (event) => this.whenNamed(() => this.peek(), event.currentTarget));
    byId('queue-refresh').addEventListener('click', (event) => guard(this.listNotice, () => this.discover(), event.currentTarget));
  }

  /** The queue the form names. */
  get name() {
    return this.nameInput.value;
  }

  /** Runs a queue action once the form names a queue (the browser says what is missing). */
  whenNamed(action, button) {
    if (!this.form.reportValidity()) return;
    guard(this.notice, action, button);
  }

  /** Finds the queues in the keyspace, then their consumers. O(keys scanned), capped by SCAN_PAGES. */
  async discover() {
    const names = [];
    let cursor;
    for (let page = 0; page < SCAN_PAGES; page += 1) {
      const result = await requestJSON('GET', '/v1/keys', { query: { limit: 1000, cursor } });
      names.push(...result.keys.filter((info) => info.type === 'queue').map((info) => info.key));
      cursor = result.cursor;
      if (cursor === null) break;
    }
    // Queues listed before but gone now; the ones still here get a fresh state below.
    for (const name of this.rows.keys()) if (!names.includes(name)) this.pending.add(name);
    for (const name of names) this.pending.add(name);
    await this.refreshPending();
  }

  /** Refetches the state of every queue an event touched. */
  async refreshPending() {
    const names = [...this.pending];
    this.pending.clear();
    await background(this.listNotice, () => Promise.all(names.map((name) => this.refresh(name))));
  }

  async refresh(name) {
    let state;
    try {
      state = await requestJSON('GET', `/v1/queues/${segment(name)}`);
    } catch (error) {
      if (error.status === 409) return this.removeRow(name); // the key holds a string now
      throw error;
    }
    // An absent queue reads as length 0; keep it listed only while consumers wait on it.
    if (state.length === 0 && state.consumers === 0) this.removeRow(name);
    else this.upsertRow(state);
  }

  upsertRow(state) {
    let row = this.rows.get(state.name);
    if (!row) {
      row = el('tr', { dataset: { queue: state.name } },
        el('th', { scope: 'row' }, el('button', { type: 'button', class: 'link', onclick: () => this.select(state.name) }, state.name)),
        el('td', { class: 'num length' }),
        el('td', { class: 'num consumers' }));
      this.rows.set(state.name, row);
      const sorted = [...this.rows.keys()].sort();
      this.body.replaceChildren(...sorted.map((name) => this.rows.get(name)));
    }
    row.querySelector('.length').textContent = String(state.length);
    row.querySelector('.consumers').textContent = String(state.consumers);
    this.empty.hidden = true;
  }

  removeRow(name) {
    this.rows.get(name)?.remove();
    this.rows.delete(name);
    this.empty.hidden = this.rows.size > 0;
  }

  /** Puts `name` in the form and peeks at it. */
  select(name) {
    this.nameInput.value = name;
    guard(this.notice, () => this.peek());
  }

  /** Follows one keyspace event. */
  onEvent(event) {
    const isQueueEvent = event.type === 'push' || event.type === 'pop';
    // Other events matter only for queues already listed (a TTL change, an expiry, a delete).
    if (isQueueEvent || this.rows.has(event.key)) {
      this.pending.add(event.key);
      this.refreshSoon();
    }
    if (event.key === this.name && this.messages.dataset.queue === event.key) this.peekSoon();
  }

  async push() {
    const contentType = byId('queue-content-type').value.trim();
    const name = this.name;
    const response = await requestJSON('POST', `/v1/queues/${segment(name)}`, {
      body: parseBytes(byId('queue-message').value, 'text'),
      headers: contentType ? { 'Content-Type': contentType } : {},
    });
    this.notice.info(response.length === 0
      ? `Pushed to “${name}”: handed straight to a waiting consumer.`
      : `Pushed to “${name}”, which now holds ${response.length} message${response.length === 1 ? '' : 's'}.`);
    await this.peek();
  }

  async pop() {
    const name = this.name;
    const response = await request('POST', `/v1/queues/${segment(name)}/pop`);
    if (response.status === 204) {
      this.popped.hidden = true;
      this.notice.info(`“${name}” is empty: nothing to pop.`);
      return;
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    const text = utf8OrNull(bytes);
    this.popped.replaceChildren(
      el('p', {}, `Popped from “${name}” (${response.headers.get('Content-Type')}, ${formatSize(bytes.length)}):`),
      el('pre', { id: 'queue-popped-body', dataset: { encoding: text === null ? 'hex' : 'text' } }, text ?? formatBytes(bytes, 'hex')));
    this.popped.hidden = false;
    await this.peek();
  }

  /** Shows the oldest messages of the queue the form names, left in place. */
  async peek() {
    const name = this.name;
    const result = await requestJSON('GET', `/v1/queues/${segment(name)}/messages`, { query: { limit: PEEK_LIMIT } });
    this.messages.dataset.queue = name;
    byId('queue-peek-title').textContent = `of “${name}”: ${result.length} in all`;
    this.messages.replaceChildren(...result.messages.map((message) =>
      el('li', {},
        el('span', { class: 'meta' }, `${message.contentType}, ${formatSize(message.bytes)}`),
        el('pre', {}, message.text ?? `base64: ${message.base64}`))));
    if (result.messages.length === 0) this.messages.append(el('li', { class: 'empty' }, 'No messages.'));
  }
}
