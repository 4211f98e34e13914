// Click IDs: letters and digits only (ClickBank and some networks drop anything else), 19
// characters, time-ordered so the visits primary key stays append-mostly, unique across instances,
// and not guessable: a click ID is the bearer token for /cta (which answers the visit's offer URL
// with its tokens: external ID, IP...) and /pixel (a conversion), so knowing one must not give
// away the others.
//
// Layout, all base62 with the alphabet in ASCII order so string order == time order:
//   8 chars  milliseconds since the epoch (good until the year 8888)
//   11 chars a random point (~65 bits) drawn for each millisecond, then moved up by a random step
//            (1 to 2^24) for each further ID in that millisecond, so IDs stay in issue order
//   Before, the 11 chars were a per-process constant and a counter: one click ID of an instance
//   gave every other as "time + the same 6 chars + 00000".
import { randomBytes, randomInt } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const TIME_CHARS = 8;
const HIGH_CHARS = 6;
const LOW_CHARS = 5;
const HIGH_LIMIT = 62 ** HIGH_CHARS;
const LOW_LIMIT = 62 ** LOW_CHARS;
/** A millisecond starts in the lower half of the high part, so its steps never run out of room. */
const HIGH_START_LIMIT = Math.floor(HIGH_LIMIT / 2);

export const CLICK_ID_LENGTH = TIME_CHARS + HIGH_CHARS + LOW_CHARS;
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

/** Random bytes drawn 4 KiB at a time: one randomBytes call per ~1,300 click IDs, not one per ID. */
function randomSteps(): () => number {
  let pool = Buffer.alloc(0);
  let pos = 0;
  return () => {
    if (pos + 3 > pool.length) {
      pool = randomBytes(4096);
      pos = 0;
    }
    const step = 1 + (pool[pos] | (pool[pos + 1] << 8) | (pool[pos + 2] << 16));
    pos += 3;
    return step;
  };
}

/**
 * `now` is injectable so tests can stop or rewind the clock. A clock that steps back never
 * breaks ordering or uniqueness: the generator keeps using the last millisecond it issued.
 */
export function createClickIdGenerator(opts: { now?: () => number } = {}): ClickIdGenerator {
  const now = opts.now ?? Date.now;
  const step = randomSteps();
  let lastMs = -1;
  let high = 0;
  let low = 0;
  // The time part and high part, encoded when either changes rather than once per click ID.
  let prefix = '';
  const startMs = (ms: number) => {
    lastMs = ms;
    high = randomInt(HIGH_START_LIMIT);
    low = randomInt(LOW_LIMIT);
    prefix = base62(lastMs, TIME_CHARS) + base62(high, HIGH_CHARS);
  };
  return {
    next() {
      const ms = now();
      if (ms > lastMs) startMs(ms);
      else {
        low += step();
        if (low >= LOW_LIMIT) {
          low -= LOW_LIMIT;
          if (++high >= HIGH_LIMIT) startMs(lastMs + 1);
          else prefix = base62(lastMs, TIME_CHARS) + base62(high, HIGH_CHARS);
        }
      }
      return prefix + base62(low, LOW_CHARS);
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
