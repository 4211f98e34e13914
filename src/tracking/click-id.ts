// Click IDs: letters and digits only (ClickBank and some networks drop anything else), 19
// characters, time-ordered so the visits primary key stays append-mostly, unique across instances.
//
// Layout, all base62 with the alphabet in ASCII order so string order == time order:
//   8 chars  milliseconds since the epoch (good until the year 8888)
//   6 chars  random per generator (instance/process), ~5.7e10 values
//   5 chars  counter within the millisecond (~9.2e8 per ms before it borrows the next ms)
import { randomInt } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const TIME_CHARS = 8;
const INSTANCE_CHARS = 6;
const COUNTER_CHARS = 5;
const COUNTER_LIMIT = 62 ** COUNTER_CHARS;

export const CLICK_ID_LENGTH = TIME_CHARS + INSTANCE_CHARS + COUNTER_CHARS;
export const CLICK_ID_RE = /^[0-9A-Za-z]{1,24}$/;

export function base62(n: number, width: number): string {
  let out = '';
  let v = Math.floor(n);
  for (let i = 0; i < width; i++) {
    out = ALPHABET[v % 62] + out;
    v = Math.floor(v / 62);
  }
  return out;
}

export interface ClickIdGenerator {
  next(): string;
}

/**
 * `now` is injectable so tests can stop or rewind the clock. A clock that steps back never
 * breaks ordering or uniqueness: the generator keeps using the last millisecond it issued.
 */
export function createClickIdGenerator(opts: { now?: () => number; instance?: string } = {}): ClickIdGenerator {
  const now = opts.now ?? Date.now;
  const instance = opts.instance ?? Array.from({ length: INSTANCE_CHARS }, () => ALPHABET[randomInt(62)]).join('');
  if (!/^[0-9A-Za-z]{6}$/.test(instance)) throw new Error('click ID instance part must be 6 letters or digits');
  let lastMs = 0;
  let counter = 0;
  // The time part and instance, encoded once per millisecond rather than once per click ID.
  let prefix = base62(lastMs, TIME_CHARS) + instance;
  return {
    next() {
      const ms = now();
      if (ms > lastMs) {
        lastMs = ms;
        counter = 0;
        prefix = base62(lastMs, TIME_CHARS) + instance;
      } else if (++counter >= COUNTER_LIMIT) {
        lastMs += 1;
        counter = 0;
        prefix = base62(lastMs, TIME_CHARS) + instance;
      }
      return prefix + base62(counter, COUNTER_CHARS);
    },
  };
}

/** The time a click ID was issued, or undefined for IDs this tracker did not make. */
export function clickIdTime(id: string): Date | undefined {
  if (id.length !== CLICK_ID_LENGTH || !CLICK_ID_RE.test(id)) return undefined;
  let ms = 0;
  for (const ch of id.slice(0, TIME_CHARS)) ms = ms * 62 + ALPHABET.indexOf(ch);
  return new Date(ms);
}
