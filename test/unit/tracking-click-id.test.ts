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
});
