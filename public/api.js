// The one module that talks HTTP to the gateway: every request goes through `request`, which
// sends the signed-in token and turns an error answer (application/problem+json, RFC 9457)
// into an ApiError the panels show.

import { authorization } from './auth.js';

/** An error answer of the API, or a failure to reach it: what a panel shows to the user. */
export class ApiError extends Error {
  /** `title` and `detail` as the problem has them; `status` 0 when no answer came. */
  constructor({ title, detail = '', status = 0, type = '' }) {
    super(detail ? `${title}: ${detail}` : title);
    this.name = 'ApiError';
    this.title = title;
    this.detail = detail;
    this.status = status;
    this.type = type;
  }
}

/** The path segment of a key: one segment whatever it holds (`a/b` is sent as `a%2Fb`). */
export function segment(key) {
  return encodeURIComponent(key);
}

/**
 * Sends one request and answers the Response when its status is 2xx or 304 (Not Modified,
 * for a conditional read); throws an ApiError otherwise. `query` members that are `undefined` or `null` are left out, since the gateway
 * refuses parameters it does not expect and empty ones it cannot parse.
 */
export async function request(method, path, { query = {}, body, headers = {} } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null) url.searchParams.append(name, String(value));
  }
  let response;
  try {
    response = await fetch(url, { method, body, headers: { ...authorization(), ...headers }, cache: 'no-store' });
  } catch (error) {
    throw new ApiError({ title: 'Network error', detail: `The gateway did not answer (${error.message}).` });
  }
  if (!response.ok && response.status !== 304) throw await problemOf(response);
  return response;
}

/**
 * A single-use ticket for an event stream, when signed in (POST /v1/tickets); null when not,
 * for a server without access control.
 */
export async function ticket() {
  if (!authorization().Authorization) return null;
  const answer = await requestJSON('POST', '/v1/tickets');
  return answer.ticket;
}

/** Sends a request and answers its JSON body. */
export async function requestJSON(method, path, options) {
  const response = await request(method, path, options);
  return response.json();
}

/** The ApiError of an error answer: its problem when it has one, else its status line and text. */
export async function problemOf(response) {
  const text = await response.text().catch(() => '');
  if ((response.headers.get('Content-Type') ?? '').includes('json')) {
    try {
      const problem = JSON.parse(text);
      return new ApiError({
        title: problem.title ?? response.statusText,
        detail: problem.detail ?? '',
        status: problem.status ?? response.status,
        type: problem.type ?? '',
      });
    } catch {
      // Not JSON after all: fall through to the raw text.
    }
  }
  return new ApiError({ title: `${response.status} ${response.statusText}`.trim(), detail: text.slice(0, 300), status: response.status });
}
