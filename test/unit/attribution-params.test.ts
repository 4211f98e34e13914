import { describe, expect, it } from 'vitest';
import { csvObjects, parseCsv } from '../../src/attribution/csv.js';
import { isMoney, multiply, normalizeMoney, percentOf, sum } from '../../src/attribution/decimal.js';
import { fillPostbackUrl, type ForwardValues } from '../../src/attribution/forward-url.js';
import { checkOutboundUrl } from '../../src/attribution/outbound.js';
import { flattenParams, mapStatus, parsePostbackParams } from '../../src/attribution/params.js';
import { conversionCost, secretMatches, hashSecret } from '../../src/attribution/record.js';
import { fieldOf } from '../helpers/api-error.js';

describe('decimal money', () => {
  it('accepts plain decimals only', () => {
    for (const ok of ['0', '5', '12.5', '0.000001', '999999999999.99']) expect(isMoney(ok), ok).toBe(true);
    for (const bad of ['abc', '-5', '1e400', 'NaN', 'Infinity', '+5', '0x10', '1,5', '12.', '.5', ' 5', '1234567890123', '']) expect(isMoney(bad), bad).toBe(false);
  });

  it('multiplies, takes percentages and sums exactly, rounding half up to 6 places', () => {
    expect(multiply('10.05', '1.1')).toBe('11.055');
    expect(multiply('1', '0.0000005')).toBe('0.000001');
    expect(multiply('0.1', '0.0000004')).toBe('0');
    expect(percentOf('12.5', '40')).toBe('5');
    expect(sum(['0.1', '0.2'])).toBe('0.3');
    expect(normalizeMoney('007.500000')).toBe('7.5');
    expect(normalizeMoney('1.0000005')).toBe('1.000001');
    for (const [raw, canonical] of [['0', '0'], ['12.5', '12.5'], ['0.000001', '0.000001'], ['10', '10'], ['12.50', '12.5'], ['00', '0'], ['0.0000001', '0'], ['1.9999995', '2']]) {
      expect(normalizeMoney(raw), raw).toBe(canonical);
    }
  });
});

describe('postback parameters', () => {
  it('reads the aliases and defaults', () => {
    const p = parsePostbackParams({ subid: 'abc', rev: '3.50', tid: 'T1', ct: 'lead', currency: 'eur', secret: 'x', zone: '7' });
    expect(p).toMatchObject({ clickId: 'abc', payout: '3.5', txid: 'T1', type: 'lead', currency: 'EUR', secret: 'x' });
    expect(p.raw).toEqual({ subid: 'abc', rev: '3.50', tid: 'T1', ct: 'lead', currency: 'eur', zone: '7' });
    expect(parsePostbackParams({ cid: 'a' })).toMatchObject({ type: 'conversion', payout: undefined, txid: undefined });
  });

  it('names the offending parameter', () => {
    expect(fieldOf(() => parsePostbackParams({ cid: 'a', amount: '-5' }))).toBe('amount');
    expect(fieldOf(() => parsePostbackParams({ cid: 'a', currency: 'dollars' }))).toBe('currency');
    expect(fieldOf(() => parsePostbackParams({ cid: 'a', payout: '1', sum: '2' }))).toBe('sum');
    expect(fieldOf(() => parsePostbackParams({ cid: 'a', type: 'a b' }))).toBe('type');
    expect(fieldOf(() => parsePostbackParams({ cid: 'a', txid: 'a\u0000b' }))).toBe('txid');
    expect(fieldOf(() => parsePostbackParams({ cid: 'a', note: 'x'.repeat(513) }))).toBe('note');
    expect(fieldOf(() => flattenParams({ cid: ['a', 'b'] }))).toBe('cid');
    expect(fieldOf(() => flattenParams({ cid: { $gt: '' } }))).toBe('cid');
    expect(fieldOf(() => flattenParams({ cid: 'a' }, { cid: 'b' }))).toBe('cid');
    expect(fieldOf(() => flattenParams({ payout: ['1', '1000'] }))).toBe('payout');
  });

  it("keeps a network's own parameters whatever their shape, so they never cost the conversion", () => {
    expect(flattenParams({ cid: ['a', 'a'], sub: ['x', 'y'], meta: { offer: 7 } }, { sub: 'z', n: 1 })).toEqual({
      cid: 'a',
      sub: 'x,y,z',
      meta: '{"offer":7}',
      n: '1',
    });
    expect(flattenParams({ constructor: 'c', toString: ['1', '2'] })).toEqual({ constructor: 'c', toString: '1,2' });
  });

  it('maps statuses: network words first, then the defaults, absent is approved, unknown is undefined', () => {
    expect(mapStatus(undefined)).toBe('approved');
    expect(mapStatus('SALE')).toBe('approved');
    expect(mapStatus('hold')).toBe('pending');
    expect(mapStatus('chargeback')).toBe('declined');
    expect(mapStatus('2', { '2': 'declined' })).toBe('declined');
    expect(mapStatus('Paid', { paid: 'approved' })).toBe('approved');
    expect(mapStatus('sale', { sale: 'pending' })).toBe('pending');
    expect(mapStatus('maybe')).toBeUndefined();
    expect(mapStatus('constructor')).toBeUndefined();
  });
});

describe('secrets and cost', () => {
  it('compares secrets, given or as a stored hash', () => {
    expect(secretMatches('s3cret', 's3cret')).toBe(true);
    expect(secretMatches('s3cret', 's3cre')).toBe(false);
    expect(secretMatches('s3cret', undefined)).toBe(false);
    expect(secretMatches('s3cret', undefined, hashSecret('s3cret'))).toBe(true);
    expect(secretMatches('s3cret', undefined, hashSecret('other'))).toBe(false);
    expect(secretMatches('s3cret', undefined, 'not-a-hash')).toBe(false);
  });

  it('books cpa per approved conversion and revshare as a percent of the payout', () => {
    expect(conversionCost({ costModel: 'cpa', costValue: '2.5' }, 'approved', '10')).toBe('2.5');
    expect(conversionCost({ costModel: 'cpa', costValue: '2.5' }, 'pending', '10')).toBe('0');
    expect(conversionCost({ costModel: 'revshare', costValue: '33.3' }, 'approved', '10')).toBe('3.33');
    expect(conversionCost({ costModel: 'cpc', costValue: '0.1' }, 'approved', '10')).toBe('0');
  });
});

describe('forward URL', () => {
  const values: ForwardValues = {
    clickId: 'CID', externalId: 'ext 1/2', payout: '1.5', currency: 'USD', txid: 'a&b=c', type: 'sale', status: 'approved',
    campaignId: 7, campaignName: 'C', offerId: null, trafficSourceId: 3, country: 'DE', tsCampaign: null, tsAdset: 'as', tsAd: null, tsPlacement: null,
    params: { zone: 'x#y', 'sub.1': 'v' },
  };
  it('substitutes and URL-encodes every token; unknown ones become empty', () => {
    const url = fillPostbackUrl('https://ts.example/pb?e={externalid}&t={txid}&z={var:zone}&s={var:sub.1}&o={offer.id}&x={nope}&c={campaign.id}&p={payout}', values);
    expect(url).toBe('https://ts.example/pb?e=ext%201%2F2&t=a%26b%3Dc&z=x%23y&s=v&o=&x=&c=7&p=1.5');
    expect(new URL(url).searchParams.get('t')).toBe('a&b=c');
  });

  it('never fills a token in the host: a visit parameter cannot choose where a conversion is sent', () => {
    const hostile = { ...values, params: { ...values.params, zone: 'attacker.example', sub: 'attacker.example/x?' } };
    for (const template of ['https://{var:zone}/pb?p={payout}', 'https://{var:sub}.ts.example/pb', 'https://ts.example@{var:zone}/pb', 'http://{var:zone}:8080/pb']) {
      const url = fillPostbackUrl(template, hostile);
      expect(url).not.toContain('attacker');
      // Refused when sent, not sent elsewhere.
      expect(() => checkOutboundUrl(url)).toThrow();
    }
    expect(fillPostbackUrl('https://ts.example/{var:zone}/pb?z={var:zone}', hostile)).toBe('https://ts.example/attacker.example/pb?z=attacker.example');
  });

  it('reads only the visit\'s own parameters', () => {
    expect(fillPostbackUrl('https://ts.example/pb?a={var:constructor}&b={var:__proto__}&c={var:toString}', values)).toBe('https://ts.example/pb?a=&b=&c=');
  });
});

describe('CSV', () => {
  it('reads quoted fields, doubled quotes, CRLF and a BOM', () => {
    expect(parseCsv('\ufeffa,b\r\n"x, y","say ""hi"""\r\n\r\n1,\n')).toEqual([['a', 'b'], ['x, y', 'say "hi"'], ['1', '']]);
    expect(csvObjects('clickId,payout\nc1,2\n')).toEqual([{ clickId: 'c1', payout: '2' }]);
    expect(() => parseCsv('a\n"open')).toThrow();
  });
});
