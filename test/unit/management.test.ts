// Pure pieces of the management API: links, money, URL templates, ETags, keys, flow references.
import { describe, expect, it } from 'vitest';
import { Cost, flowReferences, generateCampaignKey } from '../../src/management/campaigns.js';
import { Currency, Flow, formatMoney, Money, templateUrl } from '../../src/management/fields.js';
import { ctaUrl, landerCtaUrls, networkPostbackUrl, trackingUrl } from '../../src/management/links.js';
import { etagOf, ifMatchAllows } from '../../src/management/managed-rows.js';
import { AFFILIATE_NETWORK_PRESETS, TRAFFIC_SOURCE_PRESETS } from '../../src/management/presets.js';
import { Params } from '../../src/management/traffic-sources.js';
import { DESTINATION_TOKENS } from '../../src/tracking/tokens.js';

describe('trackingUrl', () => {
  it('appends every param with its raw macro, skipping network-appended ones', () => {
    expect(
      trackingUrl('https://t.example', 'AbC123xy', [
        { name: 'cid', token: '{{campaign.id}}', role: 'campaign' },
        { name: 'fbclid', token: '', role: 'externalId' },
        { name: 'sub', token: '${SUBID}', role: 'custom' },
      ]),
    ).toBe('https://t.example/click/AbC123xy?cid={{campaign.id}}&sub=${SUBID}');
  });
  it('has no query string without params', () => {
    expect(trackingUrl('https://t.example', 'k', [])).toBe('https://t.example/click/k');
    expect(ctaUrl('https://t.example')).toBe('https://t.example/cta');
  });
  it('gives a multi-offer lander one CTA link per offer slot', () => {
    expect(landerCtaUrls('https://t.example', 1)).toEqual(['https://t.example/cta']);
    expect(landerCtaUrls('https://t.example', 2)).toEqual(['https://t.example/cta/1', 'https://t.example/cta/2']);
  });
});

describe('networkPostbackUrl', () => {
  it('leaves network macros raw and encodes our secret', () => {
    expect(
      networkPostbackUrl('https://t.example', { clickIdToken: '#s2#', payoutToken: '#price#', txidToken: null, statusToken: '{st}', postbackSecret: 'a&b=c' }),
    ).toBe('https://t.example/postback?cid=#s2#&payout=#price#&status={st}&secret=a%26b%3Dc');
  });
});

describe('templateUrl', () => {
  const url = templateUrl(DESTINATION_TOKENS);
  it.each(['https://o.example/p?c={clickid}', 'http://{var:host}.example/{country}', 'HTTPS://O.EXAMPLE/x'])('accepts %s', (u) => {
    expect(url.safeParse(u).success).toBe(true);
  });
  it.each(['javascript:alert(1)', 'data:text/html,x', 'ftp://o.example/', '/rel', 'o.example', 'https://o.example/{nope}', 'mailto:a@b.c', ''])(
    'rejects %s',
    (u) => {
      expect(url.safeParse(u).success).toBe(false);
    },
  );
});

describe('Money', () => {
  it.each([
    ['12.50', '12.50'],
    [3, '3'],
    [0.25, '0.25'],
    ['0', '0'],
    ['999999999999.999999', '999999999999.999999'],
  ])('keeps %s as the decimal string %s', (input, out) => {
    expect(Money.parse(input)).toBe(out);
  });
  it.each(['-1', -0.5, '1.2.3', '1e5', 1e21, 0.1 + 0.2, '1.1234567', '', ' ', 'NaN', Infinity])('rejects %s', (input) => {
    expect(Money.safeParse(input).success).toBe(false);
  });
  it.each([null, true, {}])('rejects %s with the amount message, not a bare "Invalid input"', (input) => {
    const r = Money.safeParse(input);
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.message)).toEqual(['expected a non-negative decimal amount such as "12.50" (up to 12 digits and 6 decimals)']);
  });
  it('formats stored NUMERIC without trailing zeros', () => {
    expect(formatMoney('12.500000')).toBe('12.5');
    expect(formatMoney('3.000000')).toBe('3');
    expect(formatMoney('10')).toBe('10');
    expect(formatMoney(null)).toBeNull();
  });
});

describe('Currency', () => {
  it('accepts ISO 4217 codes in any case and rejects the rest', () => {
    expect(Currency.parse('eur')).toBe('EUR');
    expect(Currency.parse('JPY')).toBe('JPY');
    for (const bad of ['XYZ', 'US', 'USDT', '$']) expect(Currency.safeParse(bad).success).toBe(false);
  });
});

describe('Cost', () => {
  it('requires a value exactly for the models that use one', () => {
    expect(Cost.parse({ model: 'cpm', value: 1.5 })).toEqual({ model: 'cpm', value: '1.5' });
    expect(Cost.parse({ model: 'auto' })).toEqual({ model: 'auto' });
    expect(Cost.safeParse({ model: 'cpa' }).success).toBe(false);
    expect(Cost.safeParse({ model: 'none', value: '1' }).success).toBe(false);
    expect(Cost.safeParse({ model: 'revshare', value: '100.01' }).success).toBe(false);
    expect(Cost.parse({ model: 'revshare', value: '100' }).value).toBe('100');
  });
});

describe('ETag and If-Match', () => {
  const etag = etagOf('campaign', { id: 7, version: 3 });
  it('changes with the version', () => {
    expect(etag).toBe('"campaign-7-v3"');
    expect(etagOf('campaign', { id: 7, version: 4 })).not.toBe(etag);
  });
  it('matches absent, *, weak, and lists; refuses others', () => {
    expect(ifMatchAllows(undefined, etag)).toBe(true);
    expect(ifMatchAllows('*', etag)).toBe(true);
    expect(ifMatchAllows('W/"campaign-7-v3"', etag)).toBe(true);
    expect(ifMatchAllows('"campaign-7-v2", "campaign-7-v3"', etag)).toBe(true);
    expect(ifMatchAllows('"campaign-7-v2"', etag)).toBe(false);
    expect(ifMatchAllows('campaign-7-v3', etag)).toBe(false);
  });
});

describe('generateCampaignKey', () => {
  it('makes 8-character base62 keys that do not repeat', () => {
    const keys = new Set(Array.from({ length: 2000 }, () => generateCampaignKey()));
    expect(keys.size).toBe(2000);
    for (const k of keys) expect(k).toMatch(/^[0-9A-Za-z]{8}$/);
  });
});

describe('flow', () => {
  it('names every reference by its field path', () => {
    const flow = Flow.parse({
      rules: [{ when: { param: { src: ['a'] } }, paths: [{ landers: [{ id: 5 }], offers: [{ id: 1 }] }] }],
      paths: [{ offers: [{ id: 1 }, { id: 2, weight: 0.5 }] }],
    });
    expect(flowReferences(flow)).toEqual({
      offers: [
        { field: 'flow.rules[0].paths[0].offers[0].id', id: 1 },
        { field: 'flow.paths[0].offers[0].id', id: 1 },
        { field: 'flow.paths[0].offers[1].id', id: 2 },
      ],
      landers: [{ field: 'flow.rules[0].paths[0].landers[0].id', id: 5 }],
    });
  });
  it('validates schedule rules and defaults their zone to UTC', () => {
    const parse = (schedule: unknown) => Flow.safeParse({ rules: [{ when: { schedule }, paths: [{ offers: [{ id: 1 }] }] }], paths: [{ offers: [{ id: 1 }] }] });
    const ok = parse({ days: [6, 7] });
    expect(ok.success && ok.data.rules[0].when.schedule).toEqual({ tz: 'UTC', days: [6, 7] });
    const issuePath = (schedule: unknown) => {
      const r = parse(schedule);
      return r.success ? null : r.error.issues[0].path.join('.');
    };
    expect(issuePath({ tz: 'Mars/Base', hours: [9] })).toBe('rules.0.when.schedule.tz');
    expect(issuePath({ days: [0] })).toBe('rules.0.when.schedule.days.0');
    expect(issuePath({ hours: [24] })).toBe('rules.0.when.schedule.hours.0');
    expect(issuePath({ tz: 'UTC' })).toBe('rules.0.when.schedule');
    expect(issuePath({ days: [1], minutes: [5] })).toBe('rules.0.when.schedule');
  });
  it('validates IP and referrer conditions', () => {
    const parse = (when: unknown) => Flow.safeParse({ rules: [{ when, paths: [{ offers: [{ id: 1 }] }] }], paths: [{ offers: [{ id: 1 }] }] });
    const ok = parse({ ip: ['203.0.113.9', '2001:DB8::/32'], referrer: ['Facebook.com'] });
    expect(ok.success && ok.data.rules[0].when).toEqual({ ip: ['203.0.113.9/32', '2001:db8::/32'], referrer: ['facebook.com'] });
    const bad = (when: unknown) => {
      const r = parse(when);
      return r.success ? null : r.error.issues[0].path.join('.');
    };
    expect(bad({ ip: ['300.1.1.1'] })).toBe('rules.0.when.ip.0');
    expect(bad({ referrer: ['https://facebook.com/x'] })).toBe('rules.0.when.referrer.0');
  });
  it('rejects unknown keys so a typo never matches everything', () => {
    const r = Flow.safeParse({ rules: [{ when: { countries: ['US'] }, paths: [{ offers: [{ id: 1 }] }] }], paths: [{ offers: [{ id: 1 }] }] });
    expect(r.success).toBe(false);
  });
});

describe('presets', () => {
  it('give every traffic source valid params with one external ID', () => {
    for (const [name, preset] of Object.entries(TRAFFIC_SOURCE_PRESETS)) {
      expect(Params.safeParse(preset.params).success, name).toBe(true);
      expect(preset.params.filter((p) => p.role === 'externalId'), name).toHaveLength(1);
    }
  });
  it('give every affiliate network a click ID macro', () => {
    for (const preset of Object.values(AFFILIATE_NETWORK_PRESETS)) expect(preset.clickIdToken).toBeTruthy();
  });
});
