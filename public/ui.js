// Small DOM helpers shared by the panels: building elements (always as text, never as HTML,
// since keys and values are anyone's data), panel notices, and the TTL countdowns.

import { formatTimeLeft } from './bytes.js';

/** The element with `id`. */
export const byId = (id) => document.getElementById(id);

/**
 * Creates an element: `props` are attributes (`class`, `dataset`, `on<event>` listeners,
 * booleans for valueless attributes), `children` nodes or strings (added as text).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === 'class') node.className = value;
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, '');
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(name, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

/** The message line of a panel: errors show the problem's title and detail, infos plain text. */
export class Notice {
  /** `element` is an `aria-live` container, empty while there is nothing to say. */
  constructor(element) {
    this.element = element;
  }

  /** Shows an error: an ApiError's title and detail, or any other Error's message. */
  error(error) {
    const title = error.title ?? 'Error';
    const detail = error.title ? error.detail : error.message;
    // A fresh role=alert node is what screen readers announce at once.
    this.element.replaceChildren(el('span', { role: 'alert' }, el('strong', {}, title), detail ? ` ${detail}` : ''));
    this.element.dataset.kind = 'error';
    this.element.dataset.status = error.status ?? '';
  }

  /** Shows a warning: something the user should know that is not a failed request. */
  warn(text) {
    this.element.replaceChildren(el('span', { role: 'alert' }, el('strong', {}, 'Warning'), ` ${text}`));
    this.element.dataset.kind = 'warn';
    delete this.element.dataset.status;
  }

  /** Shows a short success or progress message. */
  info(text) {
    this.element.replaceChildren(text);
    this.element.dataset.kind = 'info';
    delete this.element.dataset.status;
  }

  /** Says nothing. */
  clear() {
    this.element.replaceChildren();
    delete this.element.dataset.kind;
    delete this.element.dataset.status;
  }
}

/**
 * Runs a user action so that it can never fail silently: its error goes to `notice`, and
 * `button` (if any) is disabled while it runs so a double click does not send it twice.
 */
export async function guard(notice, action, button = null) {
  if (button) button.disabled = true;
  try {
    notice.clear();
    return await action();
  } catch (error) {
    notice.error(error);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

/** Runs a background refresh: unlike `guard` it leaves the notice alone unless it fails. */
export async function background(notice, action) {
  try {
    return await action();
  } catch (error) {
    notice.error(error);
    return undefined;
  }
}

/**
 * Returns a function that runs `action` once, `delay` ms after the first of a burst of calls;
 * calls meanwhile join that run. Unlike a debounce, a steady stream of calls still runs it
 * every `delay` ms, so a busy keyspace cannot starve a refresh.
 */
export function coalesce(action, delay) {
  let timer = null;
  return () => {
    if (timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      action();
    }, delay);
  };
}

/**
 * Makes `node` count down to `seconds` from now (`null`: never expires). One ticker updates
 * every countdown on the page; the clock is the browser's monotonic one, so a TTL counts from
 * when its answer arrived, whatever the server's clock says.
 */
export function setCountdown(node, seconds) {
  if (seconds === null || seconds === undefined) {
    delete node.dataset.deadline;
    delete node.dataset.left;
    node.textContent = 'never';
    node.classList.remove('expiring');
    return;
  }
  node.dataset.deadline = String(performance.now() + seconds * 1000);
  tick(node, performance.now());
}

/** The milliseconds a countdown has left, or `null` for none. */
export function timeLeft(node) {
  return node.dataset.deadline ? Number(node.dataset.deadline) - performance.now() : null;
}

function tick(node, now) {
  const left = Math.max(0, Number(node.dataset.deadline) - now);
  node.dataset.left = String(Math.round(left));
  node.textContent = formatTimeLeft(left);
  node.classList.toggle('expiring', left < 5000);
}

// Tenths of a second are shown, so ten updates a second; a few dozen rows cost nothing.
setInterval(() => {
  const now = performance.now();
  for (const node of document.querySelectorAll('[data-deadline]')) tick(node, now);
}, 100);
