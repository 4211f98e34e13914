import { describe, expect, it } from 'vitest';
import type { Flow } from '../../src/db/schema.js';
import { isTimeZone } from '../../src/time-zone.js';
import { parseLanguageTag } from '../../src/tracking/visitor.js';
import { chooseFlow, chooseWeighted, localDayHour, ruleMatches, type FlowFacts } from '../../src/tracking/flow.js';

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

  it('reads the local weekday and hour across a DST change and in a quarter-hour zone', () => {
    // 2026-03-08 is a Sunday; New York springs forward at 02:00 local (07:00 UTC).
    expect(localDayHour('America/New_York', new Date('2026-03-08T06:59:00Z'))).toMatchObject({ day: 7, hour: 1 });
    expect(localDayHour('America/New_York', new Date('2026-03-08T07:00:00Z'))).toMatchObject({ day: 7, hour: 3 });
    // Kathmandu is UTC+5:45: its hours turn at :15 UTC. 2026-11-23 is a Monday.
    expect(localDayHour('Asia/Kathmandu', new Date('2026-11-23T00:14:59Z'))).toMatchObject({ day: 1, hour: 5 });
    expect(localDayHour('Asia/Kathmandu', new Date('2026-11-23T00:15:00Z'))).toMatchObject({ day: 1, hour: 6 });
    expect(localDayHour('Asia/Kathmandu', new Date('2026-11-22T18:14:00Z'))).toMatchObject({ day: 7, hour: 23 });
    expect(localDayHour('Asia/Kathmandu', new Date('2026-11-22T18:15:00Z'))).toMatchObject({ day: 1, hour: 0 });
    expect(localDayHour('UTC', new Date('2026-11-22T23:59:59Z'))).toMatchObject({ day: 7, hour: 23 });
  });

  it('matches schedule rules (dayparting) on the local weekday and hour of the visit', () => {
    const office = { when: { schedule: { tz: 'America/New_York', days: [1, 2, 3, 4, 5], hours: [9, 10, 11, 12, 13, 14, 15, 16] } }, paths: [] };
    // Monday 2026-11-23 10:30 in New York (EST, UTC-5).
    expect(ruleMatches(office, facts({ at: new Date('2026-11-23T15:30:00Z') }))).toBe(true);
    // The same instant is already Tuesday somewhere else, but the rule's zone decides.
    expect(ruleMatches(office, facts({ at: new Date('2026-11-23T21:59:00Z') }))).toBe(true);
    expect(ruleMatches(office, facts({ at: new Date('2026-11-23T22:00:00Z') }))).toBe(false);
    // Saturday 2026-11-21 10:30 in New York.
    expect(ruleMatches(office, facts({ at: new Date('2026-11-21T15:30:00Z') }))).toBe(false);
    // Hours alone, and a schedule stored without a zone, read UTC.
    expect(ruleMatches({ when: { schedule: { tz: 'UTC', hours: [0] } }, paths: [] }, facts({ at: new Date('2026-11-21T00:30:00Z') }))).toBe(true);
    expect(ruleMatches({ when: { schedule: { hours: [0] } as { tz: string; hours: number[] } }, paths: [] }, facts({ at: new Date('2026-11-21T01:30:00Z') }))).toBe(false);
    // Other conditions still apply.
    expect(ruleMatches({ when: { country: ['DE'], schedule: { tz: 'UTC', days: [6] } }, paths: [] }, facts({ at: new Date('2026-11-21T12:00:00Z') }))).toBe(false);
  });

  it('matches the visitor IP against CIDR ranges and the referrer by domain or subdomain', () => {
    const office = { when: { ip: ['203.0.113.0/24', '2001:db8::/32'] }, paths: [] };
    expect(ruleMatches(office, facts({ ip: '203.0.113.77' }))).toBe(true);
    expect(ruleMatches(office, facts({ ip: '::ffff:203.0.113.77' }))).toBe(true);
    expect(ruleMatches(office, facts({ ip: '2001:db8:1::5' }))).toBe(true);
    expect(ruleMatches(office, facts({ ip: '198.51.100.1' }))).toBe(false);
    expect(ruleMatches(office, facts({ ip: 'not an ip' }))).toBe(false);
    expect(ruleMatches(office, facts())).toBe(false);
    const fb = { when: { referrer: ['facebook.com'] }, paths: [] };
    expect(ruleMatches(fb, facts({ referrerDomain: 'facebook.com' }))).toBe(true);
    expect(ruleMatches(fb, facts({ referrerDomain: 'l.facebook.com' }))).toBe(true);
    expect(ruleMatches(fb, facts({ referrerDomain: 'notfacebook.com' }))).toBe(false);
    expect(ruleMatches(fb, facts({ referrerDomain: null }))).toBe(false);
  });

  it('matches a language rule as a range: en takes every English visitor, pt-br only Brazilian Portuguese', () => {
    const br = { when: { language: ['pt-br'] }, paths: [] };
    expect(ruleMatches(br, facts({ language: 'pt', languageTag: parseLanguageTag('pt-BR,pt;q=0.9') }))).toBe(true);
    expect(ruleMatches(br, facts({ language: 'pt', languageTag: parseLanguageTag('pt-PT') }))).toBe(false);
    expect(ruleMatches(br, facts({ language: 'pt', languageTag: parseLanguageTag('pt') }))).toBe(false);
    expect(ruleMatches(br, facts({ language: null, languageTag: null }))).toBe(false);
    const en = { when: { language: ['EN'] }, paths: [] };
    expect(ruleMatches(en, facts({ language: 'en', languageTag: 'en-us' }))).toBe(true);
    expect(ruleMatches(en, facts({ language: 'en' }))).toBe(true);
    expect(ruleMatches(en, facts({ language: 'es', languageTag: 'es-419' }))).toBe(false);
  });

  it('skips offers at their daily cap, unless every offer of the path is', () => {
    const flow: Flow = { rules: [], paths: [{ offers: [{ id: 1, weight: 1000 }, { id: 2 }] }] };
    const random = seeded(11);
    for (let i = 0; i < 500; i++) expect(chooseFlow(flow, facts(), random, new Set([1]))?.offerId).toBe(2);
    const both = new Set<number | null | undefined>();
    const even: Flow = { rules: [], paths: [{ offers: [{ id: 1 }, { id: 2 }] }] };
    for (let i = 0; i < 200; i++) both.add(chooseFlow(even, facts(), random, new Set([1, 2]))?.offerId);
    expect([...both].sort()).toEqual([1, 2]);
    expect(chooseFlow({ rules: [], paths: [{ offers: [{ id: 1 }, { id: 2, weight: 0 }] }] }, facts(), random, new Set([1]))?.offerId).toBe(1);
  });

  it('knows IANA zones and refuses offsets', () => {
    expect(isTimeZone('Europe/Berlin')).toBe(true);
    expect(isTimeZone('UTC')).toBe(true);
    expect(isTimeZone('+05:30')).toBe(false);
    expect(isTimeZone('Mars/Base')).toBe(false);
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
