// The queues panel: the queues present with their messages by state (visible, in flight,
// delayed) and waiting consumers, kept current by events (each event about a queue refetches its
// state); a form to push (now or delayed), pop, receive on a lease and peek; and the leases this
// page holds, each with its acknowledgement and release.

import { request, requestJSON, segment } from './api.js';
import { formatBytes, formatSize, parseBytes, utf8OrNull } from './bytes.js';
import { el, Notice, background, byId, guard, coalesce } from './ui.js';

/** Pages of 1000 keys scanned to find the queues when the page opens; later ones come by event. */
const SCAN_PAGES = 10;
/** Messages a peek shows. */
const PEEK_LIMIT = 10;
/** The events that change a queue's counts. */
const QUEUE_EVENTS = new Set(['push', 'pop', 'lease', 'ack', 'release', 'deadletter']);
/** How often the leases' time left is redrawn, in milliseconds. */
const LEASE_TICK = 250;

/** The queues panel. */
export class QueuePanel {
  constructor() {
    this.rows = new Map(); // name → <tr>
    this.pending = new Set(); // queues whose state an event made stale
    this.leases = new Map(); // receipt → { queue, visibleUntil, item }
    this.body = byId('queue-rows');
    this.empty = byId('queues-empty');
    this.listNotice = new Notice(byId('queues-notice'));
    this.notice = new Notice(byId('queue-notice'));
    this.form = byId('queue-form');
    this.nameInput = byId('queue-name');
    this.popped = byId('queue-popped');
    this.messages = byId('queue-messages');
    this.leaseList = byId('queue-leases');
    this.refreshSoon = coalesce(() => this.refreshPending(), 200);
    this.peekSoon = coalesce(() => background(this.notice, () => this.peek()), 200);
    this.ticker = null;

    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      guard(this.notice, () => this.push(), byId('queue-push'));
    });
    byId('queue-pop').addEventListener('click', (event) => this.whenNamed(() => this.pop(), event.currentTarget));
    byId('queue-receive').addEventListener('click', (event) => this.whenNamed(() => this.receive(), event.currentTarget));
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
        el('td', { class: 'num visible' }),
        el('td', { class: 'num in-flight' }),
        el('td', { class: 'num delayed' }),
        el('td', { class: 'num consumers' }));
      this.rows.set(state.name, row);
      const sorted = [...this.rows.keys()].sort();
      this.body.replaceChildren(...sorted.map((name) => this.rows.get(name)));
    }
    row.querySelector('.length').textContent = String(state.length);
    row.querySelector('.visible').textContent = String(state.visible);
    row.querySelector('.in-flight').textContent = String(state.inFlight);
    row.querySelector('.delayed').textContent = String(state.delayed);
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
    // Other events matter only for queues already listed (a TTL change, an expiry, a delete).
    if (QUEUE_EVENTS.has(event.type) || this.rows.has(event.key)) {
      this.pending.add(event.key);
      this.refreshSoon();
    }
    if (event.key === this.name && this.messages.dataset.queue === event.key) this.peekSoon();
  }

  async push() {
    const contentType = byId('queue-content-type').value.trim();
    const delay = byId('queue-delay').value.trim();
    const name = this.name;
    const response = await requestJSON('POST', `/v1/queues/${segment(name)}`, {
      query: { delay: delay === '' ? null : delay },
      body: parseBytes(byId('queue-message').value, 'text'),
      headers: contentType ? { 'Content-Type': contentType } : {},
    });
    const holds = `holds ${response.length} message${response.length === 1 ? '' : 's'}`;
    if (delay !== '') this.notice.info(`Pushed to “${name}”, visible in ${delay} s; it now ${holds}.`);
    else if (response.length === 0) this.notice.info(`Pushed to “${name}”: handed straight to a waiting consumer.`);
    else this.notice.info(`Pushed to “${name}”, which now ${holds}.`);
    await this.peek();
  }

  async pop() {
    const name = this.name;
    const response = await request('POST', `/v1/queues/${segment(name)}/pop`);
    if (response.status === 204) {
      this.popped.hidden = true;
      this.notice.info(`“${name}” has no visible message: nothing to pop.`);
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

  /** Receives the oldest visible message on a lease, which this page then holds. */
  async receive() {
    const name = this.name;
    const visibility = byId('queue-visibility').value.trim();
    const response = await request('POST', `/v1/queues/${segment(name)}/receive`, {
      query: { visibility: visibility === '' ? null : visibility },
    });
    if (response.status === 204) {
      this.notice.info(`“${name}” has no visible message: nothing to receive.`);
      return;
    }
    const { messages } = await response.json();
    for (const message of messages) this.addLease(name, message);
    this.notice.info(`Received from “${name}” on a lease: acknowledge it once done, or release it.`);
    await this.peek();
  }

  /** Lists a leased message with its acknowledgement and release. */
  addLease(queue, message) {
    const meta = el('span', { class: 'meta' });
    const item = el('li', { class: 'lease', dataset: { id: message.id, queue } },
      meta,
      el('pre', {}, message.text ?? `base64: ${message.base64}`),
      el('p', { class: 'actions' },
        el('button', { type: 'button', class: 'ack', onclick: (event) => guard(this.notice, () => this.acknowledge(message.receipt), event.currentTarget) }, 'Acknowledge'),
        el('button', { type: 'button', class: 'secondary release', onclick: (event) => guard(this.notice, () => this.release(message.receipt), event.currentTarget) }, 'Release')));
    const lease = { queue, message, item, meta };
    this.leases.set(message.receipt, lease);
    this.leaseList.querySelector('li.empty')?.remove();
    this.leaseList.prepend(item);
    this.drawLease(lease);
    this.ticker ??= setInterval(() => this.tick(), LEASE_TICK);
  }

  /** The lease's facts, with the time left until its message is visible again. */
  drawLease(lease) {
    const { message, queue } = lease;
    const left = message.visibleUntil - Date.now();
    const when = left > 0 ? `visible again in ${(left / 1000).toFixed(1)} s` : 'lease ended: the message is visible again';
    lease.meta.textContent = `“${queue}” · attempt ${message.attempts} · ${message.contentType}, ${formatSize(message.bytes)} · ${when}`;
    lease.item.classList.toggle('ended', left <= 0);
  }

  tick() {
    for (const lease of this.leases.values()) this.drawLease(lease);
    if (this.leases.size === 0) {
      clearInterval(this.ticker);
      this.ticker = null;
    }
  }

  /** Takes a lease off the list, once acknowledged, released or found ended. */
  forget(receipt) {
    this.leases.get(receipt)?.item.remove();
    this.leases.delete(receipt);
    if (this.leases.size === 0) this.leaseList.replaceChildren(el('li', { class: 'empty' }, 'None: receive one to acknowledge or release it.'));
  }

  /** Acknowledges a leased message: it is gone for good. A lease that ended is a 410, shown. */
  async acknowledge(receipt) {
    const { queue } = this.leases.get(receipt);
    try {
      await request('DELETE', `/v1/queues/${segment(queue)}/leases/${receipt}`);
    } catch (error) {
      if (error.status === 410) this.forget(receipt);
      throw error;
    }
    this.forget(receipt);
    this.notice.info(`Acknowledged: the message is gone from “${queue}” for good.`);
  }

  /** Releases a leased message: visible again at once, at its place in line. */
  async release(receipt) {
    const { queue } = this.leases.get(receipt);
    try {
      await request('PUT', `/v1/queues/${segment(queue)}/leases/${receipt}`, {
        body: JSON.stringify({ visibility: 0 }),
        headers: { 'Content-Type': 'application/json' },
      });
    } catch (error) {
      if (error.status === 410) this.forget(receipt);
      throw error;
    }
    this.forget(receipt);
    this.notice.info(`Released: the message is visible again in “${queue}”.`);
    if (queue === this.name) await this.peek();
  }

  /** Shows the oldest visible messages of the queue the form names, left in place. */
  async peek() {
    const name = this.name;
    const result = await requestJSON('GET', `/v1/queues/${segment(name)}/messages`, { query: { limit: PEEK_LIMIT } });
    this.messages.dataset.queue = name;
    byId('queue-peek-title').textContent = `of “${name}”: ${result.length} in all`;
    this.messages.replaceChildren(...result.messages.map((message) =>
      el('li', {},
        el('span', { class: 'meta' }, `${message.contentType}, ${formatSize(message.bytes)}${message.attempts > 0 ? ` · received ${message.attempts}×` : ''}`),
        el('pre', {}, message.text ?? `base64: ${message.base64}`))));
    if (result.messages.length === 0) this.messages.append(el('li', { class: 'empty' }, 'No visible messages.'));
  }
}
