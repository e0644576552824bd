// The dashboard's entry point: one unfiltered event stream keeps the keys and queues panels
// in step with the keyspace (and feeds the events panel while it has no filter); this file
// wires the panels to it and to each other.

import { onChange, signIn, signOut, token } from './auth.js';
import { EventStream } from './events.js';
import { Feed, showState } from './feed.js';
import { KeyBrowser } from './keys.js';
import { KeyDetail } from './key-detail.js';
import { QueuePanel } from './queues.js';
import { Notice, byId, guard } from './ui.js';

const pageNotice = new Notice(byId('page-notice'));
// Nothing may fail silently: whatever a handler did not catch is shown at the top.
window.addEventListener('unhandledrejection', (event) => pageNotice.error(event.reason));
window.addEventListener('error', (event) => pageNotice.error(event.error ?? new Error(event.message)));

const stream = new EventStream();
const queues = new QueuePanel();
const detail = new KeyDetail({
  onGone: (key) => keys.remove(key),
  onClose: () => keys.select(null),
  openQueue: (name) => queues.select(name),
});
const keys = new KeyBrowser({ onSelect: (key, type) => detail.show(key, type) });
const syncState = byId('sync-state');
let hasBeenLive = false;

stream.subscribe({
  onEvent(event) {
    keys.onEvent(event);
    detail.onEvent(event);
    queues.onEvent(event);
  },
  onGap(gap) {
    // Events were lost, so the lists may be stale: read them again.
    pageNotice.warn(`Missed events ${gap.from}–${gap.to} (no longer in the server's history); the lists were reloaded.`);
    loadLists();
  },
  onState(state, problem) {
    showState(syncState, 'Keyspace', state, stream, problem);
    // The lists are read at once, and again when the stream is first live, so that no change
    // between the first listing and the stream's start goes unseen. Reconnections need no
    // reload: they resume after the last event received.
    if (state === 'live' && !hasBeenLive) {
      hasBeenLive = true;
      loadLists();
    }
  },
});
const feed = new Feed(stream);

// Signing in or out: the streams open again with the new token (resuming after the last event
// seen), and the lists are read again with it.
const signInForm = byId('sign-in');
const tokenInput = byId('sign-in-token');
function showSignIn() {
  const isSignedIn = token() !== null;
  byId('sign-in-state').textContent = isSignedIn ? 'Signed in' : 'Not signed in';
  byId('sign-out').hidden = !isSignedIn;
  signInForm.dataset.signedIn = String(isSignedIn);
}
signInForm.addEventListener('submit', (event) => {
  event.preventDefault();
  signIn(tokenInput.value);
  tokenInput.value = '';
});
byId('sign-out').addEventListener('click', () => signOut());
onChange(() => {
  showSignIn();
  pageNotice.clear();
  stream.connect();
  feed.reconnect();
  loadLists();
});
showSignIn();

function loadLists() {
  keys.reload();
  guard(queues.listNotice, () => queues.discover());
}

stream.open();
loadLists();
