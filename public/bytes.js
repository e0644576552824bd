// Values and messages are bytes: these turn them into text a person can read and edit (UTF-8,
// hex or base64) and back, and format sizes and durations.

const strictUTF8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** The formats a value can be shown and edited in. */
export const FORMATS = ['text', 'hex', 'base64'];

/** The bytes as UTF-8 text, or `null` when they are not valid UTF-8. */
export function utf8OrNull(bytes) {
  try {
    return strictUTF8.decode(bytes);
  } catch {
    return null;
  }
}

/** Writes bytes in `format`; `text` assumes they are UTF-8 (check with `utf8OrNull`). */
export function formatBytes(bytes, format) {
  switch (format) {
    case 'text': return strictUTF8.decode(bytes);
    case 'hex': return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join(' ');
    case 'base64': {
      // btoa takes a "binary string", one character per byte; chunks keep the argument list short.
      let binary = '';
      for (let start = 0; start < bytes.length; start += 0x8000) {
        binary += String.fromCharCode(...bytes.subarray(start, start + 0x8000));
      }
      return btoa(binary);
    }
    default: throw new Error(`Unknown format ${format}`);
  }
}

/** Reads bytes written in `format`; throws an Error naming the problem when they are malformed. */
export function parseBytes(text, format) {
  switch (format) {
    case 'text': return encoder.encode(text);
    case 'hex': {
      const digits = text.replace(/\s+/g, '');
      if (!/^([0-9a-fA-F]{2})*$/.test(digits)) throw new Error('Hex needs pairs of the digits 0-9 and a-f.');
      return Uint8Array.from(digits.match(/../g) ?? [], (pair) => parseInt(pair, 16));
    }
    case 'base64': {
      let binary;
      try {
        binary = atob(text.replace(/\s+/g, ''));
      } catch {
        throw new Error('That is not base64 (RFC 4648: A-Z, a-z, 0-9, + and /, with = padding).');
      }
      return Uint8Array.from(binary, (character) => character.charCodeAt(0));
    }
    default: throw new Error(`Unknown format ${format}`);
  }
}

/** A size for people: `512 B`, `1.5 KiB`, `2.0 MiB`. */
export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** Time left for people: tenths of a second under a minute (so a short TTL visibly counts down), then m:ss, then hours. */
export function formatTimeLeft(milliseconds) {
  if (milliseconds <= 0) return 'expiring…';
  const seconds = milliseconds / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.ceil(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, '0')}`;
  if (whole < 86400 * 2) return `${Math.floor(whole / 3600)} h ${Math.floor((whole % 3600) / 60)} min`;
  return `${Math.floor(whole / 86400)} days`;
}
