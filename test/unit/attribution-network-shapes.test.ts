// What affiliate networks really send to /postback: unfilled macros, names in other cases, float
// payouts, text/plain bodies, their status words. The pure readers, without HTTP.
import { describe, expect, it } from 'vitest';
import { aliasOf, flattenParams, isUnfilledMacro, mapStatus, parsePostbackParams, parseTextBody } from '../../src/attribution/params.js';
import { fieldOf } from '../helpers/api-error.js';

describe('isUnfilledMacro', () => {
  it('recognises a placeholder left as it is, in every syntax networks use', () => {
    for (const macro of [
      '{payout}', '{transaction_id}', '{aff_sub2}', '{status:mapping}', '{_revenue}',
      '{{payout}}', '{{ conversion.payout }}',
      '%payout%', '%TXID%',
      '[payout]', '[TRANSACTION_ID]',
      '#price#', '#s2#',
      '__PAYOUT__', '__TRANSACTION_ID__',
      '${PAYOUT}', '${transaction.id}',
    ]) {
      expect(isUnfilledMacro(macro), macro).toBe(true);
    }
  });

  it('leaves real values alone, including IDs that merely contain the delimiters', () => {
    for (const value of [
      '12.50', '0', 'approved', 'USD', 'ORD-1001', 'abc_def', '_x', '__', '{}', '{{}}', '%%', '[]', '##', '${}',
      // Unbalanced or mixed delimiters are a garbled value, not a macro.
      '{payout', 'payout}', '{{payout}', '{payout}}', '%payout', '[payout}', '#price', '__PAYOUT_', '$PAYOUT',
      // Names start with a letter or underscore: these look like real IDs.
      '{1}', '[2024]', '#12345#', '%20%', '{{7*7}}',
      // Something around it: not a bare placeholder.
      'x{payout}', '{payout}x', '{payout} {sum}', '{a/b}', '${jndi:ldap://127.0.0.1/a}',
      `{${'a'.repeat(80)}}`,
    ]) {
      expect(isUnfilledMacro(value), value).toBe(false);
    }
  });
});

describe('unfilled macros in a postback', () => {
  it('count as absent for payout, txid, status, type and currency, and stay in the raw parameters', () => {
    const raw = { cid: 'c1', payout: '{payout}', txid: '{transaction_id}', status: '%status%', type: '[goal]', currency: '#currency#', zone: '{zone}' };
    const p = parsePostbackParams(raw);
    expect(p).toMatchObject({ clickId: 'c1', payout: undefined, txid: undefined, status: undefined, type: 'conversion', currency: undefined });
    expect(p.raw).toEqual(raw);
    expect(mapStatus(p.status)).toBe('approved');
  });

  it('let another alias that carries a value be read', () => {
    expect(parsePostbackParams({ cid: 'c1', payout: '{payout}', sum: '4.20' })).toMatchObject({ payout: '4.2', names: { payout: 'sum' } });
    expect(parsePostbackParams({ cid: 'c1', tid: '__TID__', transaction_id: 'T-9' }).txid).toBe('T-9');
  });

  it('are kept as they are in the click ID and the secret', () => {
    const p = parsePostbackParams({ cid: '{aff_sub}', payout: '{payout}', secret: '{secret}' });
    expect(p.clickId).toBe('{aff_sub}');
    expect(p.secret).toBe('{secret}');
    expect(p.raw).toEqual({ cid: '{aff_sub}', payout: '{payout}' });
  });

  it('do not excuse a malformed value', () => {
    expect(fieldOf(() => parsePostbackParams({ cid: 'c1', payout: '{payout' }))).toBe('payout');
    expect(fieldOf(() => parsePostbackParams({ cid: 'c1', currency: '{cur' }))).toBe('currency');
    expect(fieldOf(() => parsePostbackParams({ cid: 'c1', type: '{goal} x' }))).toBe('type');
  });
});

describe('parameter names', () => {
  it('are read whatever their case, and through an HTML-escaped &amp;', () => {
    expect(aliasOf('cid')).toBe('cid');
    expect(aliasOf('CID')).toBe('cid');
    expect(aliasOf('ClickId')).toBe('clickid');
    expect(aliasOf('amp;payout')).toBe('payout');
    expect(aliasOf('AMP;TXID')).toBe('txid');
    expect(aliasOf('zone')).toBeUndefined();
    expect(aliasOf('amp;zone')).toBeUndefined();
    const p = parsePostbackParams({ CID: 'c1', Payout: '3', 'amp;TXID': 'T1', Status: 'Sale', SECRET: 's', Zone: 'z' });
    expect(p).toMatchObject({ clickId: 'c1', payout: '3', txid: 'T1', status: 'Sale', secret: 's', names: { clickId: 'CID', payout: 'Payout' } });
    // The secret is never stored, whatever its spelling.
    expect(p.raw).toEqual({ CID: 'c1', Payout: '3', 'amp;TXID': 'T1', Status: 'Sale', Zone: 'z' });
    expect(parsePostbackParams({ cid: 'c1', 'amp;secret': 's' }).raw).toEqual({ cid: 'c1' });
  });

  it('read a template escaped twice (&amp;amp;) too, so its secret is checked and never stored', () => {
    expect(aliasOf('amp;amp;secret')).toBe('secret');
    expect(aliasOf('AMP;amp;Payout')).toBe('payout');
    const p = parsePostbackParams({ cid: 'c1', 'amp;amp;secret': 's', 'amp;amp;payout': '2' });
    expect(p).toMatchObject({ secret: 's', payout: '2' });
    expect(p.raw).toEqual({ cid: 'c1', 'amp;amp;payout': '2' });
  });

  it('in two spellings must agree', () => {
    expect(parsePostbackParams({ cid: 'c1', CID: 'c1' }).clickId).toBe('c1');
    expect(fieldOf(() => parsePostbackParams({ payout: '1', PAYOUT: '1000' }))).toBe('PAYOUT');
    expect(fieldOf(() => parsePostbackParams({ cid: 'a', 'amp;cid': 'b' }))).toBe('amp;cid');
    expect(fieldOf(() => flattenParams({ CID: ['a', 'b'] }))).toBe('CID');
    expect(fieldOf(() => parsePostbackParams({ cid: 'c1', PAYOUT: 'abc' }))).toBe('PAYOUT');
  });
});

describe('payout values', () => {
  it('are trimmed, and 0 is a payout of 0, not the offer default', () => {
    expect(parsePostbackParams({ cid: 'c', payout: ' 5.00 ' }).payout).toBe('5');
    expect(parsePostbackParams({ cid: 'c', payout: '0' }).payout).toBe('0');
    expect(parsePostbackParams({ cid: 'c', payout: '0.00' }).payout).toBe('0');
    expect(parsePostbackParams({ cid: 'c', payout: '' }).payout).toBeUndefined();
  });

  it('printed from floats are rounded to 6 places; anything but a plain decimal is still refused', () => {
    expect(parsePostbackParams({ cid: 'c', payout: '0.30000000000000004' }).payout).toBe('0.3');
    expect(parsePostbackParams(flattenParams({ cid: 'c', amount: 4.35 * 3 })).payout).toBe('13.05');
    for (const bad of ['-5', '1e-7', '+5', '5,00', '$5', '5 USD', '.5', '12.', '0.' + '1'.repeat(21)]) {
      expect(fieldOf(() => parsePostbackParams({ cid: 'c', payout: bad })), bad).toBe('payout');
    }
  });
});

describe('text/plain bodies', () => {
  it('are read as a form or, when they are one, a JSON object', () => {
    expect(parseTextBody('cid=c1&payout=2.5&note=a+b')).toEqual({ cid: 'c1', payout: '2.5', note: 'a b' });
    expect(parseTextBody(' {"cid":"c1","payout":2.5} \n')).toEqual({ cid: 'c1', payout: 2.5 });
    expect(parseTextBody('')).toBeUndefined();
    expect(parseTextBody('  \r\n')).toBeUndefined();
    expect(fieldOf(() => parseTextBody('{"cid":'))).toBe('body');
  });

  it('keep repeats for flattenParams to judge', () => {
    expect(fieldOf(() => flattenParams(parseTextBody('cid=a&cid=b')))).toBe('cid');
  });
});

describe('status words', () => {
  it('map the words networks use', () => {
    const cases: [string, string][] = [
      ['paid', 'approved'], ['success', 'approved'], ['Completed', 'approved'], ['complete', 'approved'], ['accepted', 'approved'],
      ['trash', 'declined'], ['fraud', 'declined'], ['refund', 'declined'], ['refunded', 'declined'], ['cancelled', 'declined'],
      ['canceled', 'declined'], ['invalid', 'declined'], ['reject', 'declined'], ['REJECTED', 'declined'],
    ];
    for (const [word, status] of cases) expect(mapStatus(word), word).toBe(status);
  });

  it('never guess a numeric code: it means different things at different networks', () => {
    for (const code of ['0', '1', '2', '3', '5']) expect(mapStatus(code), code).toBeUndefined();
    expect(mapStatus('2', { '2': 'pending' })).toBe('pending');
    // The network's own words still come first.
    expect(mapStatus('paid', { paid: 'pending' })).toBe('pending');
  });
});
