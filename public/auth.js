// The dashboard's sign-in: a bearer token kept for this tab only (sessionStorage: it leaves
// with the tab, and no other site reads it), sent with every request, and traded for a
// single-use ticket before each event stream opens (EventSource cannot send a header).

const STORAGE_KEY = 'keygate.token';
const listeners = new Set();

/** The token signed in with, or null. */
export function token() {
  return sessionStorage.getItem(STORAGE_KEY);
}

/** Signs in with `value` (an empty one signs out) and tells the listeners. */
export function signIn(value) {
  const trimmed = value.trim();
  if (trimmed) sessionStorage.setItem(STORAGE_KEY, trimmed);
  else sessionStorage.removeItem(STORAGE_KEY);
  for (const listener of listeners) listener(token());
}

/** Signs out. */
export function signOut() {
  signIn('');
}

/** Calls `listener(token)` after each sign-in or sign-out. */
export function onChange(listener) {
  listeners.add(listener);
}

/** The `Authorization` header of the token, or none. */
export function authorization() {
  const current = token();
  return current ? { Authorization: `Bearer ${current}` } : {};
}
