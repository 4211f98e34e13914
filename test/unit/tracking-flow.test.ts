import { describe, expect, it } from 'vitest';
import type { Flow } from '../../src/db/schema.js';
import { chooseFlow, chooseWeighted, ruleMatches, type FlowFacts } from '../../src/tracking/flow.js';

/** A seeded PRNG (mulberry32), so a failing split can be replayed. */
function seeded(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const facts = (over: Partial<FlowFacts> = {}): FlowFacts => ({ country: 'US', device: 'mobile', os: 'android', browser: 'chrome', language: 'en', params: {}, ...over });

describe('flow', () => {
  it('splits 70/30 within 3 points over 5,000 visits', () => {
    for (const seed of [1, 2, 3]) {
      const random = seeded(seed);
      let first = 0;
      for (let i = 0; i < 5000; i++) if (chooseWeighted([{ weight: 70 }, { weight: 30 }], random) === 0) first++;
      expect(Math.abs(first / 5000 - 0.7)).toBeLessThan(0.03);
    }
  });

  it('never picks weight 0, defaults a missing weight to 1, and gives -1 when nothing can be picked', () => {
    const random = seeded(7);
    for (let i = 0; i < 1000; i++) expect(chooseWeighted([{ weight: 0 }, {}, { weight: 0 }], random)).toBe(1);
    expect(chooseWeighted([], random)).toBe(-1);
    expect(chooseWeighted([{ weight: 0 }], random)).toBe(-1);
    expect(chooseWeighted([{ weight: 1 }], () => 0.9999999999)).toBe(0);
  });

  it('matches rules case-insensitively on words and exactly on parameter values', () => {
    expect(ruleMatches({ when: { country: ['us'] }, paths: [] }, facts())).toBe(true);
    expect(ruleMatches({ when: { country: ['DE'] }, paths: [] }, facts())).toBe(false);
    expect(ruleMatches({ when: { country: ['US'] }, paths: [] }, facts({ country: null }))).toBe(false);
    expect(ruleMatches({ when: { os: ['Android'], device: ['MOBILE'] }, paths: [] }, facts())).toBe(true);
    expect(ruleMatches({ when: { param: { zone: ['A1'] } }, paths: [] }, facts({ params: { zone: 'A1' } }))).toBe(true);
    expect(ruleMatches({ when: { param: { zone: ['A1'] } }, paths: [] }, facts({ params: { zone: 'a1' } }))).toBe(false);
    expect(ruleMatches({ when: {}, paths: [] }, facts())).toBe(true);
  });

  it('takes the first matching rule, else the default paths', () => {
    const flow: Flow = {
      rules: [
        { when: { country: ['DE'] }, paths: [{ offers: [{ id: 1 }] }] },
        { when: { device: ['mobile'] }, paths: [{ offers: [{ id: 2 }] }] },
        { when: { country: ['US'] }, paths: [{ offers: [{ id: 3 }] }] },
      ],
      paths: [{ landers: [{ id: 9 }], offers: [{ id: 4 }] }],
    };
    expect(chooseFlow(flow, facts(), Math.random)).toMatchObject({ ruleIndex: 1, pathIndex: 0, offerId: 2, landerId: null });
    expect(chooseFlow(flow, facts({ device: 'desktop', country: 'FR' }), Math.random)).toMatchObject({ ruleIndex: -1, offerId: 4, landerId: 9 });
    expect(chooseFlow({ rules: [], paths: [] }, facts(), Math.random)).toBeUndefined();
  });
});
