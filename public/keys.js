// The keys panel's list: a page of /v1/keys under a prefix, with paging, live TTL countdowns,
// rows that vanish on the `expired`, `evicted` or `del` event of their key, and the form that creates a
// key. The selected key's details live in key-detail.js.

import { request, requestJSON, segment } from './api.js';
import { formatSize, parseBytes } from './bytes.js';
import { el, Notice, byId, guard, coalesce, setCountdown } from './ui.js';

/** Keys on one page. */
const PAGE_SIZE = 50;

/** The list of keys, its pager and the create form. */
export class KeyBrowser {
  /** `onSelect(key, type)` is called when a key is chosen. */
  constructor({ onSelect }) {
    this.onSelect = onSelect;
    this.prefix = '';
    this.pageStarts = [null]; // the cursor each page visited so far starts from
    this.nextCursor = null;
    this.rows = new Map(); // key → <tr>
    this.selected = null;
    this.generation = 0;
    // Keys removed by events while a page is loading: the answer may predate their removal.
    this.goneDuringLoad = new Set();
    this.body = byId('key-rows');
    this.empty = byId('keys-empty');
    this.notice = new Notice(byId('keys-notice'));
    this.previous = byId('keys-previous');
    this.next = byId('keys-next');
    this.pageLabel = byId('keys-page');
    // New keys, new sizes and new TTLs come from reloading the page, at most every 300 ms.
    this.reloadSoon = coalesce(() => this.reload(), 300);

    byId('key-filter').addEventListener('submit', (event) => {
      event.preventDefault();
      this.prefix = byId('key-prefix').value;
      this.pageStarts = [null];
      this.reload();
    });
    this.previous.addEventListener('click', () => {
      this.pageStarts.pop();
      this.reload();
    });
    this.next.addEventListener('click', () => {
      this.pageStarts.push(this.nextCursor);
      this.reload();
    });
    this.setUpCreateForm();
  }

  /** Loads the current page again. */
  reload() {
    return guard(this.notice, () => this.load());
  }

  async load() {
    const generation = ++this.generation;
    this.goneDuringLoad.clear();
    const cursor = this.pageStarts.at(-1);
    const page = await requestJSON('GET', '/v1/keys', {
      query: { prefix: this.prefix || undefined, limit: PAGE_SIZE, cursor: cursor ?? undefined },
    });
    if (generation !== this.generation) return; // a later load owns the list
    this.nextCursor = page.cursor;
    this.render(page.keys.filter((info) => !this.goneDuringLoad.has(info.key)));
  }

  render(keys) {
    const rows = new Map();
    for (const info of keys) {
      const row = this.rows.get(info.key) ?? this.makeRow(info.key);
      this.fill(row, info);
      rows.set(info.key, row);
    }
    this.rows = rows;
    this.body.replaceChildren(...rows.values());
    this.empty.hidden = rows.size > 0;
    this.previous.disabled = this.pageStarts.length === 1;
    this.next.disabled = this.nextCursor === null;
    this.pageLabel.textContent = `Page ${this.pageStarts.length}`;
  }

  makeRow(key) {
    const button = el('button', { type: 'button', class: 'link', onclick: () => this.select(key) }, key);
    return el('tr', { dataset: { key } },
      el('th', { scope: 'row' }, button),
      el('td', { class: 'type' }),
      el('td', { class: 'num size' }),
      el('td', { class: 'num ttl' }));
  }

  fill(row, info) {
    row.dataset.type = info.type;
    const [, type, size, ttl] = row.children;
    type.replaceChildren(el('span', { class: `badge kind-${info.type}` }, info.type));
    size.textContent = info.type === 'queue'
      ? `${info.length} msg${info.length === 1 ? '' : 's'}, ${formatSize(info.bytes)}`
      : formatSize(info.bytes);
    setCountdown(ttl, info.ttl);
    row.classList.toggle('selected', info.key === this.selected);
    row.querySelector('button').setAttribute('aria-pressed', String(info.key === this.selected));
  }

  /** Selects `key` (or nothing, for `null`) and tells the detail panel. */
  select(key) {
    this.selected = key;
    for (const [rowKey, row] of this.rows) {
      row.classList.toggle('selected', rowKey === key);
      row.querySelector('button').setAttribute('aria-pressed', String(rowKey === key));
    }
    if (key !== null) this.onSelect(key, this.rows.get(key)?.dataset.type ?? 'string');
  }

  /** Takes a key's row away at once (its key expired, was evicted or was deleted). */
  remove(key) {
    this.goneDuringLoad.add(key);
    this.rows.get(key)?.remove();
    this.rows.delete(key);
    this.empty.hidden = this.rows.size > 0;
  }

  /** Follows one keyspace event: removals at once, anything else through a reload of the page. */
  onEvent(event) {
    if (!event.key.startsWith(this.prefix)) return;
    if (event.type === 'expired' || event.type === 'evicted' || event.type === 'del') {
      this.remove(event.key);
    } else {
      this.goneDuringLoad.delete(event.key);
      this.reloadSoon();
    }
  }

  setUpCreateForm() {
    const form = byId('key-create');
    const notice = new Notice(byId('create-notice'));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const key = form.elements.key.value;
      // The TTL goes to the server as typed: it is the judge of what a TTL is, and its
      // problem says what is wrong better than a second set of rules here would.
      const ttl = form.elements.ttl.value.trim();
      const contentType = form.elements.contentType.value.trim();
      guard(notice, async () => {
        await request('PUT', `/v1/cache/${segment(key)}`, {
          query: { ttl: ttl === '' ? undefined : ttl },
          body: parseBytes(form.elements.value.value, 'text'),
          // Create only: replacing a key that exists is the detail panel's job.
          headers: { 'If-None-Match': '*', ...(contentType ? { 'Content-Type': contentType } : {}) },
        });
        const expiry = ttl === '' ? 'never expires' : `expires in ${ttl} s`;
        const shown = key.startsWith(this.prefix) ? '' : ` (not listed: outside the prefix “${this.prefix}”)`;
        notice.info(`Created “${key}”, which ${expiry}${shown}.`);
        await this.load();
      }, byId('create-submit'));
    });
  }
}
