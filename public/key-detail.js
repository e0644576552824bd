// The selected key: its value (as text, hex or base64), media type, entity tag and live TTL;
// saving an edited value, changing or removing the TTL, deleting the key. Events about the
// key keep it current: an `expired`, `evicted` or `del` says it is gone, a `set` reloads it.

import { request, requestJSON, segment } from './api.js';
import { formatBytes, formatSize, parseBytes, utf8OrNull } from './bytes.js';
import { Notice, background, byId, guard, setCountdown, timeLeft } from './ui.js';

/** The detail panel of one key. */
export class KeyDetail {
  /** `onGone(key)` is told when this panel deletes the key; `openQueue(name)` shows a queue. */
  constructor({ onGone, onClose, openQueue }) {
    this.onGone = onGone;
    this.openQueue = openQueue;
    this.key = null;
    this.type = 'string';
    this.bytes = new Uint8Array();
    this.etag = null;
    this.format = 'text';
    this.isDirty = false;
    this.isSaving = false;
    this.section = byId('key-detail');
    this.notice = new Notice(byId('detail-notice'));
    this.text = byId('detail-text');
    this.formatSelect = byId('detail-format');
    this.contentType = byId('detail-content-type');
    this.ttl = byId('detail-ttl');
    this.valueForm = byId('detail-value');

    this.text.addEventListener('input', () => { this.isDirty = true; });
    this.formatSelect.addEventListener('change', () => this.changeFormat());
    this.valueForm.addEventListener('submit', (event) => {
      event.preventDefault();
      guard(this.notice, () => this.save(), byId('detail-save'));
    });
    byId('detail-ttl-form').addEventListener('submit', (event) => {
      event.preventDefault();
      guard(this.notice, () => this.setTTL(byId('detail-ttl-input').value.trim()), byId('detail-ttl-set'));
    });
    byId('detail-ttl-remove').addEventListener('click', (event) =>
      guard(this.notice, () => this.setTTL(null), event.currentTarget));
    byId('detail-delete').addEventListener('click', (event) =>
      guard(this.notice, () => this.delete(), event.currentTarget));
    byId('detail-close').addEventListener('click', () => {
      this.close();
      onClose();
    });
  }

  /** Shows `key`, of `type` (`string` or `queue`). */
  async show(key, type) {
    this.key = key;
    this.type = type;
    this.section.hidden = false;
    this.setGone(false);
    byId('detail-key').textContent = key;
    byId('detail-type').textContent = type;
    this.valueForm.hidden = type === 'queue';
    await guard(this.notice, () => this.load());
    if (type === 'queue') this.openQueue(key);
    this.section.scrollIntoView({ block: 'nearest' });
  }

  /** Hides the panel. */
  close() {
    this.key = null;
    this.section.hidden = true;
  }

  async load() {
    if (this.type === 'queue') {
      const state = await requestJSON('GET', `/v1/queues/${segment(this.key)}`);
      byId('detail-media').textContent = '—';
      byId('detail-size').textContent = `${state.length} messages, ${state.consumers} consumers waiting`;
      byId('detail-etag').textContent = '—';
      this.notice.info('A queue: push, pop and peek in the Queues panel.');
    } else {
      await this.loadValue();
    }
    await this.loadTTL();
  }

  /**
   * Reads the value. With `ifChanged`, only when it changed since it was read: a `set` event
   * that is this panel's own save answers 304, and an edit in progress is not overwritten.
   */
  async loadValue({ ifChanged = false } = {}) {
    const key = this.key;
    const headers = ifChanged && this.etag ? { 'If-None-Match': this.etag } : {};
    const response = await request('GET', `/v1/cache/${segment(key)}`, { headers });
    if (response.status === 304 || key !== this.key) return;
    if (ifChanged && this.isDirty) {
      this.notice.info('The value changed on the server meanwhile: saving would be refused. Reopen the key to see it.');
      return;
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    this.bytes = bytes;
    this.etag = response.headers.get('ETag');
    const mediaType = response.headers.get('Content-Type') ?? '';
    byId('detail-media').textContent = mediaType;
    byId('detail-size').textContent = formatSize(bytes.length);
    byId('detail-etag').textContent = this.etag ?? '—';
    this.contentType.value = mediaType;
    const isText = utf8OrNull(bytes) !== null;
    this.formatSelect.querySelector('option[value="text"]').disabled = !isText;
    // Binary values open as hex, which shows their bytes; base64 is one choice away. A value
    // read again keeps the format chosen, when it still fits.
    this.showValue(ifChanged && (isText || this.format !== 'text') ? this.format : isText ? 'text' : 'hex');
  }

  async loadTTL() {
    const { ttl } = await requestJSON('GET', `/v1/cache/${segment(this.key)}/ttl`);
    setCountdown(this.ttl, ttl);
  }

  showValue(format) {
    this.format = format;
    this.formatSelect.value = format;
    this.text.value = formatBytes(this.bytes, format);
    this.isDirty = false;
  }

  changeFormat() {
    const wanted = this.formatSelect.value;
    try {
      // Convert what is in the box, edits included, so switching never loses them.
      const bytes = parseBytes(this.text.value, this.format);
      if (wanted === 'text' && utf8OrNull(bytes) === null) throw new Error('These bytes are not UTF-8 text.');
      const isDirty = this.isDirty;
      this.text.value = formatBytes(bytes, wanted);
      this.format = wanted;
      this.isDirty = isDirty;
    } catch (error) {
      this.formatSelect.value = this.format;
      this.notice.error(error);
    }
  }

  async save() {
    const bytes = parseBytes(this.text.value, this.format);
    const headers = {};
    const contentType = this.contentType.value.trim();
    if (contentType) headers['Content-Type'] = contentType;
    // Refuse to overwrite a change made since the value was read (412 then).
    if (this.etag) headers['If-Match'] = this.etag;
    // A PUT without ttl makes the key persistent: send the time left so an edit keeps it.
    const left = timeLeft(this.ttl);
    const ttl = left === null ? undefined : (Math.max(1, Math.ceil(left)) / 1000).toFixed(3);
    this.isSaving = true;
    try {
      await request('PUT', `/v1/cache/${segment(this.key)}`, { query: { ttl }, body: bytes, headers });
      this.isDirty = false;
      await this.loadValue();
    } finally {
      this.isSaving = false;
    }
    this.notice.info('Saved.');
  }

  /** Sets the TTL to `raw` seconds (as typed) or removes it (`null`). */
  async setTTL(raw) {
    // A number goes as a number; anything else goes as typed, for the server to explain.
    const number = Number(raw);
    const ttl = raw === null ? null : raw !== '' && Number.isFinite(number) ? number : raw;
    await request('PUT', `/v1/cache/${segment(this.key)}/ttl`, { body: JSON.stringify({ ttl }) });
    this.notice.info(ttl === null ? 'The key no longer expires.' : `The key expires in ${ttl} s.`);
    await this.loadTTL();
  }

  async delete() {
    const path = this.type === 'queue' ? `/v1/queues/${segment(this.key)}` : `/v1/cache/${segment(this.key)}`;
    await request('DELETE', path);
    this.onGone(this.key);
    this.setGone(true, 'Deleted.');
  }

  /** Greys the forms out once the key is gone, and says why; `false` brings them back. */
  setGone(isGone, why = '') {
    for (const form of this.section.querySelectorAll('form, #detail-delete')) {
      form.inert = isGone;
      form.classList.toggle('gone', isGone);
    }
    if (isGone) {
      setCountdown(this.ttl, null);
      this.ttl.textContent = '—';
      this.notice.info(why);
    }
  }

  /** Follows an event about the shown key. */
  onEvent(event) {
    if (event.key !== this.key) return;
    const time = new Date(event.time).toLocaleTimeString();
    switch (event.type) {
      case 'expired':
      case 'evicted':
      case 'del': {
        const why = { expired: 'expired', evicted: 'was evicted for memory', del: 'was deleted' }[event.type];
        this.setGone(true, `This key ${why} at ${time}.`);
        break;
      }
      case 'expire':
      case 'persist':
        background(this.notice, () => this.loadTTL());
        break;
      case 'set':
        // A save reads the value back itself once it is stored.
        if (this.isSaving) break;
        this.setGone(false);
        background(this.notice, async () => {
          await this.loadValue({ ifChanged: true });
          await this.loadTTL();
        });
        break;
      case 'push':
      case 'pop':
        background(this.notice, () => this.load());
        break;
    }
  }
}
