// The /click shortcuts give the same answers as the general code they bypass: a destination filled
// without the checking URL parse equals the parsed one, encodeTokenValue's unreserved fast path
// equals full encoding, and visitParams keeps the same parameters in the same order.
import proxyAddr from '@fastify/proxy-addr';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cachedProxyTrust } from '../../src/http/ip.js';
import { visitParams } from '../../src/tracking/click.js';
import { buildDestination, buildDestinationByParsing, encodeTokenValue } from '../../src/tracking/destination.js';
import { chooseFlow } from '../../src/tracking/flow.js';

const value = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.stringMatching(/^[A-Za-z0-9_.~-]{0,30}$/),
  fc.constantFrom('..', '.', '%2e%2E', '//evil.example', '@evil', '#x', '?a=b', '\r\n', '\ud800', 'é', ''),
);
const templates = [
  'https://offer.example.com/lp?sub1={clickid}&sub2={campaign.id}&sub3={country}&adset={var:adset_id}',
  'http://lp.example.net:8443/a/b?x={var:a}#frag-{var:b}',
  'https://offer.example.com/{var:a}/x?c={clickid}',
  'https://Offer.Example.com?x={var:a}',
  'https://offer.example.com/lp?x={var:a}&unknown={nope}',
  'https://offer.example.com/lp#{var:a}?{var:b}',
  'https://offer.example.com/lp?a=%{var:a}&b=%7{var:b}',
  'https://offer.example.com/lp?plain=1',
];

describe('/click shortcuts agree with the general path', () => {
  it('a destination is the same with or without the URL-parse shortcut', () => {
    fc.assert(
      fc.property(fc.constantFrom(...templates), value, value, value, (template, a, b, clickid) => {
        const values = (name: string) => (name === 'var:a' ? a : name === 'var:b' ? b : name === 'clickid' ? clickid : name.startsWith('var:') ? '' : name === 'nope' ? undefined : 'US');
        expect(buildDestination(template, values)).toEqual(buildDestinationByParsing(template, values));
      }),
      { numRuns: 2000 },
    );
  });

  it('the shortcut is taken only where it is safe, and still stays on the host', () => {
    const d = buildDestination('https://offer.example.com/{var:a}/x?c=1', () => '..');
    expect(d).toEqual({ ok: true, url: 'https://offer.example.com/x?c=1', host: 'offer.example.com' });
    const q = buildDestination('https://offer.example.com/lp?x={var:a}', () => '//evil.example/..');
    expect(q).toEqual({ ok: true, url: 'https://offer.example.com/lp?x=%2F%2Fevil.example%2F..', host: 'offer.example.com' });
  });

  it('encodeTokenValue equals percent-encoding of everything but unreserved characters', () => {
    fc.assert(
      fc.property(value, (v) => {
        const full = encodeURIComponent((v as string & { toWellFormed(): string }).toWellFormed()).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
        expect(encodeTokenValue(v)).toBe(full);
      }),
      { numRuns: 2000 },
    );
  });

  it('visitParams keeps names, order, NUL removal and length limits', () => {
    const q = { b: 'x\0y', a: ['1', '2'], ['n\0ame']: 'v', long: 'z'.repeat(600), ['k'.repeat(65)]: 'dropped', empty: '', '': 'no name' };
    const out = visitParams(q);
    expect(Object.entries(out)).toEqual([
      ['b', 'xy'],
      ['a', '1'],
      ['name', 'v'],
      ['long', 'z'.repeat(512)],
      ['empty', ''],
    ]);
    const many = Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`p${i}`, String(i)]));
    expect(Object.keys(visitParams(many))).toHaveLength(64);
    // Past the bound, the traffic source's own parameters are still taken (a click ID appended last).
    const late = visitParams({ ...many, gclid: 'G1', other: 'x' }, [{ name: 'gclid' }, { name: 'absent' }]);
    expect(Object.keys(late)).toHaveLength(65);
    expect(late.gclid).toBe('G1');
    expect(late.other).toBeUndefined();
  });

  it('chooseFlow draws lander then offer, and handles a flow without rules', () => {
    const draws = [0.1, 0.9, 0.2];
    const random = () => draws.shift()!;
    const flow = { paths: [{ name: 'p', landers: [{ id: 1 }, { id: 2 }], offers: [{ id: 3 }, { id: 4 }] }] } as never;
    expect(chooseFlow(flow, { country: null, device: null, os: null, browser: null, language: null, params: {} }, random)).toMatchObject({
      ruleIndex: -1,
      pathIndex: 0,
      landerId: 2,
      offerId: 3,
    });
  });

  it('the cached proxy trust answers as proxy-addr does, asked once or many times', () => {
    const cidrs = ['127.0.0.1/32', '10.0.0.0/8', '::1/128', 'fd00::/8'];
    const cached = cachedProxyTrust(cidrs);
    const plain = proxyAddr.compile(cidrs);
    const addresses = ['127.0.0.1', '::ffff:127.0.0.1', '10.1.2.3', '::ffff:10.1.2.3', '11.0.0.1', '::1', 'fd00::5', 'fe80::1', '0x7f.0.0.1', 'not an ip', '', '127.0.0.1 '];
    for (let round = 0; round < 3; round++) {
      for (const a of addresses) expect([a, cached(a, round)]).toEqual([a, plain(a, round)]);
    }
  });
});
