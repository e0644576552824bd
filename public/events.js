// The keyspace's event stream (/v1/events) as an object that panels subscribe to: it owns one
// EventSource, tells its listeners each event, each gap and each change of connection state,
// and explains a stream the server refuses (a bad glob, say) with the server's own problem.

import { problemOf, ticket } from './api.js';
import { authorization } from './auth.js';

/** Every event type the gateway emits (KeyspaceEventType in openapi.yaml). */
export const EVENT_TYPES = [
  'set', 'del', 'expire', 'persist', 'expired', 'evicted', 'push', 'pop',
  'lease', 'ack', 'release', 'deadletter', 'policy',
];

/** The server's `retry:` delay, used when this code, not the browser, has to reconnect. */
const RETRY_MILLISECONDS = 3000;

/**
 * One subscription to /v1/events. Listeners are objects with any of `onEvent(event)`,
 * `onGap(gap)` and `onState(state, detail)`, where state is `connecting`, `live`,
 * `reconnecting` or `closed` (then `detail` is the ApiError that says why).
 */
export class EventStream {
  constructor() {
    this.listeners = new Set();
    this.source = null;
    this.retryTimer = null;
    this.filters = { keys: [], types: [] };
    /** The id of the last event received, from which a reconnection resumes. */
    this.lastId = null;
    this.state = 'closed';
  }

  /** Adds a listener; it hears the current state at once. */
  subscribe(listener) {
    this.listeners.add(listener);
    listener.onState?.(this.state, this.lastProblem);
  }

  /** Removes a listener. */
  unsubscribe(listener) {
    this.listeners.delete(listener);
  }

  /**
   * Opens the stream for `keys` (globs) and `types` (empty: all). A new filter starts from
   * now rather than replaying the history under it: the feed wants what happens next, not a
   * flood of old events. Reconnections of the same stream do resume, see `connect`.
   */
  open({ keys = [], types = [] } = {}) {
    this.filters = { keys, types };
    this.lastId = null;
    this.connect();
  }

  /** Closes the stream for good. */
  close() {
    // A connection still asking for its ticket gives up.
    this.attempt = (this.attempt ?? 0) + 1;
    clearTimeout(this.retryTimer);
    this.source?.close();
    this.source = null;
    this.setState('closed');
  }

  /** The URL of the stream, resuming after `lastId` when given, with a ticket when given. */
  url(lastId = null, withTicket = null) {
    const url = new URL('/v1/events', location.origin);
    for (const glob of this.filters.keys) url.searchParams.append('key', glob);
    // All types is the same as none, and shorter; an empty list would be a 400.
    if (this.filters.types.length > 0 && this.filters.types.length < EVENT_TYPES.length) {
      url.searchParams.set('type', this.filters.types.join(','));
    }
    if (lastId !== null) url.searchParams.set('last_event_id', lastId);
    if (withTicket !== null) url.searchParams.set('ticket', withTicket);
    return url;
  }

  /**
   * Opens the EventSource; signed in, with a fresh single-use ticket, since EventSource cannot
   * send the token. (A browser's own reconnection reuses the spent ticket, is refused, and
   * comes back here through `explainClosed`.)
   */
  async connect() {
    clearTimeout(this.retryTimer);
    this.source?.close();
    this.source = null;
    this.lastProblem = null;
    this.setState('connecting');
    const attempt = (this.attempt = (this.attempt ?? 0) + 1);
    let withTicket = null;
    try {
      withTicket = await ticket();
    } catch (problem) {
      if (attempt !== this.attempt) return;
      this.lastProblem = problem;
      this.setState('closed', problem);
      return;
    }
    if (attempt !== this.attempt) return;
    // When the browser reconnects by itself (the connection dropped) it sends Last-Event-ID.
    // When this code reconnects (the server answered an error, so EventSource gave up), the
    // query's last_event_id does the same: either way no event is missed or repeated.
    const source = new EventSource(this.url(this.lastId, withTicket));
    this.source = source;
    source.onopen = () => this.setState('live');
    source.onerror = () => {
      if (source !== this.source) return;
      if (source.readyState === EventSource.CLOSED) this.explainClosed();
      else this.setState('reconnecting');
    };
    const deliver = (message) => {
      this.lastId = message.lastEventId || this.lastId;
      const data = JSON.parse(message.data);
      for (const listener of this.listeners) {
        if (message.type === 'gap') listener.onGap?.(data);
        else listener.onEvent?.(data);
      }
    };
    for (const type of [...EVENT_TYPES, 'gap']) source.addEventListener(type, deliver);
  }

  /**
   * EventSource says nothing about why it gave up, so ask the same URL with fetch: a refused
   * request (4xx) is shown and not retried; anything else (a 503 while the server restarts,
   * no answer) is retried after the server's retry delay.
   */
  async explainClosed() {
    const source = this.source;
    const abort = new AbortController();
    let problem = null;
    try {
      const response = await fetch(this.url(this.lastId), {
        signal: abort.signal, cache: 'no-store', headers: authorization(),
      });
      if (!response.ok) problem = await problemOf(response);
    } catch {
      // No answer at all: retry below.
    } finally {
      abort.abort();
    }
    if (source !== this.source) return;
    this.source.close();
    if (problem && problem.status >= 400 && problem.status < 500) {
      this.lastProblem = problem;
      this.setState('closed', problem);
      return;
    }
    this.setState('reconnecting');
    this.retryTimer = setTimeout(() => this.connect(), RETRY_MILLISECONDS);
  }

  setState(state, detail = null) {
    this.state = state;
    for (const listener of this.listeners) listener.onState?.(state, detail);
  }
}
