import { describe, expect, it } from 'vitest';
import { CLICK_ID_LENGTH, CLICK_ID_RE, clickIdTime, createClickIdGenerator } from '../../src/tracking/click-id.js';

describe('click IDs', () => {
  it('are letters and digits only, at most 24 characters, and carry their time', () => {
    const id = createClickIdGenerator({ now: () => Date.UTC(2030, 0, 2, 3, 4, 5, 6) }).next();
    expect(id).toMatch(/^[0-9A-Za-z]+$/);
    expect(id.length).toBe(CLICK_ID_LENGTH);
    expect(id.length).toBeLessThanOrEqual(24);
    expect(CLICK_ID_RE.test(id)).toBe(true);
    expect(clickIdTime(id)?.toISOString()).toBe('2030-01-02T03:04:05.006Z');
  });

  it('are unique and in issue order within one generator, even on a stopped or rewound clock', () => {
    let t = 1_800_000_000_000;
    const steps = [0, 0, 0, 1, -5, 0, 3, -100, 0];
    let i = 0;
    const gen = createClickIdGenerator({ now: () => (t += steps[i++ % steps.length]) });
    const ids = Array.from({ length: 50_000 }, () => gen.next());
    expect(new Set(ids).size).toBe(ids.length);
    // Plain string comparison is issue order: the alphabet is in ASCII order and widths are fixed.
    const outOfOrder = ids.findIndex((id, k) => k > 0 && !(id > ids[k - 1]));
    expect(outOfOrder).toBe(-1);
  });

  it('are unique across instances issuing in the same millisecond', () => {
    const now = () => 1_800_000_000_000;
    const gens = Array.from({ length: 50 }, () => createClickIdGenerator({ now }));
    const ids = gens.flatMap((g) => Array.from({ length: 500 }, () => g.next()));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('sort by time across instances', () => {
    const a = createClickIdGenerator({ now: () => 1_800_000_000_000 }).next();
    const b = createClickIdGenerator({ now: () => 1_800_000_000_001 }).next();
    expect(b > a).toBe(true);
  });

  // A click ID is the only credential of /cta (the visit's offer URL, with its {externalid},
  // {ip}... filled in) and /pixel (a conversion): one seen ID must not give away the others.
  it('cannot be guessed from another one: no shared tail across milliseconds, no +1 within one', () => {
    let t = 1_800_000_000_000;
    const gen = createClickIdGenerator({ now: () => t++ });
    const tails = Array.from({ length: 1000 }, () => gen.next().slice(8));
    // Before: every ID of an instance ended in the same 6 characters and "00000".
    expect(new Set(tails).size).toBe(tails.length);

    const sameMs = createClickIdGenerator({ now: () => 1_800_000_000_000 });
    const ids = Array.from({ length: 1000 }, () => sameMs.next());
    const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    const low = (id: string) => [...id.slice(-5)].reduce((n, c) => n * 62 + ALPHABET.indexOf(c), 0);
    // Before: consecutive IDs in one millisecond counted up by exactly 1.
    const plusOne = ids.filter((id, k) => k > 0 && id.slice(0, 14) === ids[k - 1].slice(0, 14) && low(id) === low(ids[k - 1]) + 1);
    expect(plusOne.length).toBeLessThan(5);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
