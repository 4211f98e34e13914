import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attributionFor } from '../../src/attribution/service.js';
import { sum } from '../../src/attribution/decimal.js';
import { PARAM_ALIASES } from '../../src/attribution/params.js';
import { rows } from '../../src/db/client.js';
import { conversions, conversionStatusHistory, pendingPostbacks } from '../../src/db/schema.js';
import { createFixture, newClickId, seedVisit, visitFor, type Fixture } from '../helpers/attribution-fixtures.js';
import { authHeaders, BACKENDS, setupTestApp } from '../helpers/test-app.js';

const JSON_ACCEPT = { accept: 'application/json' };

describe.each(BACKENDS)('postback attribution on %s', (backend) => {
  let t: Awaited<ReturnType<typeof setupTestApp>>;
  const deps = () => ({ db: t.app.ctx.db, store: t.app.ctx.store });
  const db = () => t.app.ctx.db;
  const conversionsOf = (clickId: string) => db().select().from(conversions).where(eq(conversions.clickId, clickId));
  const countAll = async () => Number((await rows<{ n: string }>(db(), sql`select count(*)::text as n from conversions`))[0].n);
  const postback = (query: Record<string, string>, headers: Record<string, string> = JSON_ACCEPT, remoteAddress?: string) =>
    t.app.inject({ method: 'GET', url: '/postback', query, headers, ...(remoteAddress ? { remoteAddress } : {}) });

  let plain: Fixture;
  beforeAll(async () => {
    // Workers off: each test drives retries itself with a moved clock.
    t = await setupTestApp(backend, { env: { POSTBACK_WORKER_MS: '0', ATTRIBUTION_RETRY_MINUTES: '60' } });
    plain = await createFixture(db(), { offer: { payout: '7.5' } });
  });
  afterAll(async () => t?.close());

  it('accepts every alias of click ID, payout, transaction ID and type, over GET, POST form and POST JSON', async () => {
    const n = Math.max(...Object.values(PARAM_ALIASES).map((a) => a.length));
    for (let i = 0; i < n; i++) {
      const v = await seedVisit(deps(), plain);
      const pick = (field: keyof typeof PARAM_ALIASES) => PARAM_ALIASES[field][i % PARAM_ALIASES[field].length];
      const query = { [pick('clickId')]: v.clickId, [pick('payout')]: `1${i}.25`, [pick('txid')]: `tx-${i}`, [pick('type')]: 'sale' };
      const res = await postback(query);
      expect(res.statusCode, JSON.stringify(query)).toBe(200);
      expect(res.json()).toMatchObject({ status: 'ok', outcome: 'recorded' });
      const [c] = await conversionsOf(v.clickId);
      expect(c).toMatchObject({ payout: `1${i}.250000`, txid: `tx-${i}`, type: 'sale', status: 'approved' });
    }
    const form = await seedVisit(deps(), plain);
    const viaForm = await t.app.inject({ method: 'POST', url: '/postback', payload: `subid=${form.clickId}&sum=3&tid=f1`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(viaForm.statusCode).toBe(200);
    expect(viaForm.body).toBe('OK');
    const json = await seedVisit(deps(), plain);
    const viaJson = await t.app.inject({ method: 'POST', url: '/postback', payload: { click_id: json.clickId, amount: 4.5, transaction_id: 'j1', et: 'lead', status: 'lead' } });
    expect(viaJson.statusCode).toBe(200);
    expect((await conversionsOf(form.clickId))[0]).toMatchObject({ payout: '3.000000', txid: 'f1', type: 'conversion' });
    expect((await conversionsOf(json.clickId))[0]).toMatchObject({ payout: '4.500000', txid: 'j1', type: 'lead', status: 'pending' });
  });

  it('maps statuses through the network statusMap, then the defaults; unknown is a 400', async () => {
    const f = await createFixture(db(), { network: { statusMap: { '1': 'approved', '2': 'declined', WAIT: 'pending' } } });
    const cases: [string, string][] = [
      ['1', 'approved'], ['2', 'declined'], ['wait', 'pending'], ['sale', 'approved'], ['confirmed', 'approved'],
      ['hold', 'pending'], ['rejected', 'declined'], ['chargeback', 'declined'], ['reversed', 'declined'],
    ];
    for (const [word, status] of cases) {
      const v = await seedVisit(deps(), f);
      expect((await postback({ cid: v.clickId, status: word })).statusCode).toBe(200);
      expect((await conversionsOf(v.clickId))[0].status, word).toBe(status);
    }
    const v = await seedVisit(deps(), f);
    const bad = await postback({ cid: v.clickId, status: 'maybe' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.field).toBe('status');
    expect(await conversionsOf(v.clickId)).toHaveLength(0);
  });

  it('copies the visit dimensions and keeps both times; absent payout is the offer payout', async () => {
    const v = await seedVisit(deps(), plain, 'postgres');
    const res = await postback({ clickid: v.clickId }, {});
    expect(res.body).toBe('OK');
    const [c] = await conversionsOf(v.clickId);
    expect(c).toMatchObject({
      payout: '7.500000', originalCurrency: 'USD', status: 'approved', type: 'conversion', txid: '',
      campaignId: plain.campaignId, offerId: plain.offerId, trafficSourceId: plain.trafficSourceId, affiliateNetworkId: plain.networkId,
      country: 'DE', device: 'mobile', os: 'Android', browser: 'Chrome', pathName: 'main', tsCampaign: 'spring sale', tsAd: 'ad/1', externalId: v.externalId,
      params: v.params,
    });
    expect(c.visitedAt.getTime()).toBe(v.visitedAt.getTime());
    expect(Math.abs(c.convertedAt.getTime() - Date.now())).toBeLessThan(60_000);
  });

  it('does not count a repeat twice; answers 200 with outcome duplicate', async () => {
    const v = await seedVisit(deps(), plain);
    expect((await postback({ cid: v.clickId, payout: '5' })).json().outcome).toBe('recorded');
    const again = await postback({ cid: v.clickId, payout: '5' });
    expect(again.statusCode).toBe(200);
    expect(again.json().outcome).toBe('duplicate');
    expect((await postback({ cid: v.clickId, payout: '5' }, {})).body).toBe('OK');
    expect(await conversionsOf(v.clickId)).toHaveLength(1);
    // Another type on the same click is its own conversion.
    expect((await postback({ cid: v.clickId, type: 'deposit' })).json().outcome).toBe('recorded');
    expect(await conversionsOf(v.clickId)).toHaveLength(2);
  });

  it('200 concurrent identical postbacks give exactly one conversion', async () => {
    const v = await seedVisit(deps(), plain);
    const answers = await Promise.all(Array.from({ length: 200 }, () => postback({ cid: v.clickId, payout: '2.5', txid: 'same' })));
    expect(answers.map((a) => a.statusCode)).toEqual(Array(200).fill(200));
    const outcomes = answers.map((a) => a.json().outcome);
    expect(outcomes.filter((o) => o === 'recorded')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(199);
    expect(await conversionsOf(v.clickId)).toHaveLength(1);
  });

  it('50 distinct txids on one click give 50 conversions with the exact revenue', async () => {
    const v = await seedVisit(deps(), plain);
    const payouts = Array.from({ length: 50 }, (_, i) => `0.${String(i + 1).padStart(2, '0')}`);
    const answers = await Promise.all(payouts.map((p, i) => postback({ cid: v.clickId, payout: p, txid: `up-${i}` })));
    expect(answers.map((a) => a.json().outcome)).toEqual(Array(50).fill('recorded'));
    const [r] = await rows<{ n: string; revenue: string }>(db(), sql`select count(*)::text as n, sum(payout)::text as revenue from conversions where click_id = ${v.clickId}`);
    expect(r.n).toBe('50');
    expect(sum([r.revenue])).toBe(sum(payouts));
    expect(sum(payouts)).toBe('12.75');
  });

  it('without a txid, repeats count only when the offer allows duplicates', async () => {
    const f = await createFixture(db(), { offer: { allowDuplicates: true, payout: '1' } });
    const v = await seedVisit(deps(), f);
    for (let i = 0; i < 3; i++) expect((await postback({ cid: v.clickId })).json().outcome).toBe('recorded');
    const list = await conversionsOf(v.clickId);
    expect(list).toHaveLength(3);
    expect(new Set(list.map((c) => c.txid)).size).toBe(3);
  });

  it('approved -> declined updates the row, keeps the history and takes the revenue out', async () => {
    const v = await seedVisit(deps(), plain);
    expect((await postback({ cid: v.clickId, payout: '20', txid: 'order-1', status: 'approved' })).json().outcome).toBe('recorded');
    const changed = await postback({ cid: v.clickId, txid: 'order-1', status: 'chargeback' });
    expect(changed.json()).toMatchObject({ outcome: 'status_changed', conversionStatus: 'declined' });
    const list = await conversionsOf(v.clickId);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ status: 'declined', payout: '20.000000' });
    const history = await db().select().from(conversionStatusHistory).where(eq(conversionStatusHistory.conversionId, list[0].id));
    expect(history.map((h) => h.status)).toEqual(['approved', 'declined']);
    const [r] = await rows<{ revenue: string | null }>(
      db(),
      sql`select coalesce(sum(payout) filter (where status <> 'declined'), 0)::text as revenue from conversions where click_id = ${v.clickId}`,
    );
    expect(Number(r.revenue)).toBe(0);
    // The same status again is a duplicate, not another history row.
    expect((await postback({ cid: v.clickId, txid: 'order-1', status: 'declined' })).json().outcome).toBe('duplicate');
    expect(await db().select().from(conversionStatusHistory).where(eq(conversionStatusHistory.conversionId, list[0].id))).toHaveLength(2);

    // The API shows the conversion with its history.
    const one = await t.app.inject({ url: `/api/conversions/${list[0].id}`, headers: authHeaders() });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject({ id: list[0].id, clickId: v.clickId, txid: 'order-1', status: 'declined', payout: '20.000000' });
    expect(one.json().history.map((h: { status: string; payout: string }) => [h.status, h.payout])).toEqual([
      ['approved', '20.000000'],
      ['declined', '20.000000'],
    ]);
    expect(one.json().history[0].changedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect((await t.app.inject({ url: '/api/conversions/99999999', headers: authHeaders() })).statusCode).toBe(404);
    expect((await t.app.inject({ url: '/api/conversions/abc', headers: authHeaders() })).json().error.field).toBe('id');
  });

  it('attributes a postback whose click is only in the hot record (not flushed to Postgres)', async () => {
    const v = await seedVisit(deps(), plain, 'hot');
    expect((await postback({ cid: v.clickId, payout: '3' })).json().outcome).toBe('recorded');
    const [c] = await conversionsOf(v.clickId);
    expect(c).toMatchObject({ campaignId: plain.campaignId, country: 'DE', payout: '3.000000' });
  });

  it("attributes a postback whose click is only in this instance's unflushed buffer", async () => {
    const writer = t.app.ctx.clickWriter;
    expect(writer, 'the tracking plugin sets ctx.clickWriter').toBeDefined();
    const v = visitFor(plain);
    writer!.add(v);
    // peek may answer with a promise (a recording thread holds the buffer): a bare toBeDefined() passed on the promise itself.
    expect((await writer!.peek(v.clickId))?.clickId).toBe(v.clickId);
    const res = await postback({ cid: v.clickId, payout: '4' });
    expect(res.json().outcome).toBe('recorded');
    expect((await conversionsOf(v.clickId))[0]).toMatchObject({ campaignId: plain.campaignId, payout: '4.000000' });
    await writer!.flush();
  });

  it('keeps a postback for an unknown click pending, attributes it when the click appears, else shows it unattributed', async () => {
    const retry = async (minutesAhead: number) => (await attributionFor(t.app.ctx)).retryPending(new Date(Date.now() + minutesAhead * 60_000));
    const late = visitFor(plain);
    const first = await postback({ cid: late.clickId, payout: '9', txid: 'L1', secret: 'not-stored', zone: 'abc' });
    expect(first.statusCode).toBe(200);
    expect(first.json().outcome).toBe('pending');
    const never = newClickId();
    expect((await postback({ cid: never, payout: '1' })).json().outcome).toBe('pending');

    await retry(1);
    expect(await conversionsOf(late.clickId)).toHaveLength(0);
    // Another instance flushes the click; the next retry finds it.
    await seedVisit(deps(), plain, 'postgres', { clickId: late.clickId });
    await retry(2);
    await retry(3);
    const attributed = await conversionsOf(late.clickId);
    expect(attributed).toHaveLength(1);
    expect(attributed[0]).toMatchObject({ payout: '9.000000', txid: 'L1' });
    const [lateRow] = await db().select().from(pendingPostbacks).where(eq(pendingPostbacks.clickId, late.clickId));
    expect(lateRow).toMatchObject({ state: 'attributed', conversionId: attributed[0].id });
    expect(JSON.stringify(lateRow.rawParams)).not.toContain('not-stored');

    await retry(61);
    const [gone] = await db().select().from(pendingPostbacks).where(eq(pendingPostbacks.clickId, never));
    expect(gone.state).toBe('unattributed');
    expect(gone.rawParams).toMatchObject({ cid: never, payout: '1' });
  });

  it('refuses a wrong or missing secret and a foreign IP with 403, storing nothing', async () => {
    const f = await createFixture(db(), { network: { postbackSecret: 's3cret-value', allowedIps: ['203.0.113.0/24'] } });
    const v = await seedVisit(deps(), f);
    const before = await countAll();
    const ok = '203.0.113.7';
    expect((await postback({ cid: v.clickId }, JSON_ACCEPT, ok)).statusCode).toBe(403);
    expect((await postback({ cid: v.clickId, secret: 's3cret-valuf' }, JSON_ACCEPT, ok)).statusCode).toBe(403);
    expect((await postback({ cid: v.clickId }, { ...JSON_ACCEPT, 'x-tracklane-secret': 'wrong' }, ok)).statusCode).toBe(403);
    expect((await postback({ cid: v.clickId, secret: 's3cret-value' }, JSON_ACCEPT, '198.51.100.1')).statusCode).toBe(403);
    expect(await countAll()).toBe(before);
    const good = await postback({ cid: v.clickId }, { ...JSON_ACCEPT, 'x-tracklane-secret': 's3cret-value' }, ok);
    expect(good.statusCode).toBe(200);
    expect(await conversionsOf(v.clickId)).toHaveLength(1);
  });

  it('refuses a pending postback with a wrong secret once its click appears', async () => {
    const f = await createFixture(db(), { network: { postbackSecret: 'pending-secret' } });
    const v = visitFor(f);
    expect((await postback({ cid: v.clickId, secret: 'guess' })).json().outcome).toBe('pending');
    await seedVisit(deps(), f, 'postgres', { clickId: v.clickId });
    await (await attributionFor(t.app.ctx)).retryPending(new Date(Date.now() + 60_000));
    expect(await conversionsOf(v.clickId)).toHaveLength(0);
    const [p] = await db().select().from(pendingPostbacks).where(eq(pendingPostbacks.clickId, v.clickId));
    expect(p.state).toBe('rejected');
  });

  it.each(['abc', '-5', '1e400', 'NaN', 'Infinity', '0x10', '1,5', '12.', '1'.repeat(40), ' 5 5'])('refuses payout %j with 400 naming payout, storing nothing', async (payout) => {
    const v = await seedVisit(deps(), plain);
    const before = await countAll();
    const res = await postback({ cid: v.clickId, payout });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.field).toBe('payout');
    expect(await countAll()).toBe(before);
    const alias = await postback({ cid: v.clickId, sum: payout });
    expect(alias.json().error.field).toBe('sum');
    const pending = await db().select().from(pendingPostbacks).where(eq(pendingPostbacks.clickId, v.clickId));
    expect(pending).toHaveLength(0);
  });

  it('refuses over-long values, repeated parameters and a missing click ID with 400', async () => {
    const v = await seedVisit(deps(), plain);
    expect((await postback({ cid: v.clickId, txid: 'x'.repeat(129) })).json().error.field).toBe('txid');
    expect((await postback({ cid: v.clickId, sub9: 'x'.repeat(600) })).json().error.field).toBe('sub9');
    expect((await postback({ cid: 'c'.repeat(200) })).json().error.field).toBe('cid');
    expect((await t.app.inject(`/postback?cid=${v.clickId}&payout=1&payout=1000`)).statusCode).toBe(400);
    expect((await postback({ cid: v.clickId, payout: '1', sum: '1000' })).statusCode).toBe(400);
    const none = await postback({ payout: '1' });
    expect(none.statusCode).toBe(400);
    expect(none.json().error.field).toBe('cid');
    expect(await conversionsOf(v.clickId)).toHaveLength(0);
  });

  it('takes a parameter repeated with the same value (GET and form), and names one repeated with another value', async () => {
    const v = await seedVisit(deps(), plain);
    const get = await t.app.inject({ url: `/postback?cid=${v.clickId}&cid=${v.clickId}&payout=2&payout=2&txid=rep&txid=rep`, headers: JSON_ACCEPT });
    expect(get.json()).toMatchObject({ outcome: 'recorded' });
    const form = await t.app.inject({
      method: 'POST',
      url: '/postback',
      payload: `cid=${v.clickId}&cid=${v.clickId}&sum=3&sum=3&tid=rep-form`,
      headers: { ...JSON_ACCEPT, 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.json()).toMatchObject({ outcome: 'recorded' });
    expect((await conversionsOf(v.clickId)).map((c) => [c.txid, c.payout]).sort()).toEqual([['rep', '2.000000'], ['rep-form', '3.000000']]);
    const differ = await t.app.inject({ url: `/postback?cid=${v.clickId}&payout=1&payout=1000&txid=other` });
    expect(differ.statusCode).toBe(400);
    expect(differ.json().error).toEqual({ code: 'invalid_request', message: 'payout is given more than once, with different values', field: 'payout' });
    expect(await conversionsOf(v.clickId)).toHaveLength(2);
  });

  it('a status change with a payout in another currency keeps the original amount it was paid in', async () => {
    expect((await t.app.inject({ method: 'PUT', url: '/api/currency-rates/EUR', headers: authHeaders(), payload: { rate: '1.1' } })).statusCode).toBe(200);
    const v = await seedVisit(deps(), plain);
    expect((await postback({ cid: v.clickId, txid: 'lead-sale', status: 'pending', payout: '0' })).json().outcome).toBe('recorded');
    expect((await postback({ cid: v.clickId, txid: 'lead-sale', status: 'approved', payout: '50', currency: 'EUR' })).json().outcome).toBe('status_changed');
    expect((await conversionsOf(v.clickId))[0]).toMatchObject({ status: 'approved', payout: '55.000000', originalPayout: '50.000000', originalCurrency: 'EUR' });
    // Without a payout, the amount (and what it was paid in) stays.
    expect((await postback({ cid: v.clickId, txid: 'lead-sale', status: 'declined' })).json().outcome).toBe('status_changed');
    expect((await conversionsOf(v.clickId))[0]).toMatchObject({ status: 'declined', payout: '55.000000', originalPayout: '50.000000', originalCurrency: 'EUR' });
  });

  it('corrects the payout of a transaction sent again with another amount, and keeps a repeat without a txid a duplicate', async () => {
    expect((await t.app.inject({ method: 'PUT', url: '/api/currency-rates/EUR', headers: authHeaders(), payload: { rate: '1.1' } })).statusCode).toBe(200);
    const v = await seedVisit(deps(), plain);
    const first = (await postback({ cid: v.clickId, txid: 'fix-1', payout: '10' })).json();
    expect(first.outcome).toBe('recorded');
    const fixed = (await postback({ cid: v.clickId, txid: 'fix-1', payout: '12.5' })).json();
    expect(fixed).toEqual({ status: 'ok', outcome: 'payout_changed', conversionId: first.conversionId, conversionStatus: 'approved' });
    expect((await conversionsOf(v.clickId))[0]).toMatchObject({ status: 'approved', payout: '12.500000', originalPayout: '12.500000' });
    const history = await db().select().from(conversionStatusHistory).where(eq(conversionStatusHistory.conversionId, first.conversionId)).orderBy(conversionStatusHistory.id);
    expect(history.map((h) => [h.status, h.payout])).toEqual([['approved', '10.000000'], ['approved', '12.500000']]);
    // The same amount again, however spelt, is a retry.
    expect((await postback({ cid: v.clickId, txid: 'fix-1', payout: '12.50' })).json().outcome).toBe('duplicate');
    // In another currency: a correction, compared as sent; a retry after the rate moved is a retry.
    expect((await postback({ cid: v.clickId, txid: 'fix-1', payout: '10', currency: 'EUR' })).json().outcome).toBe('payout_changed');
    expect((await t.app.inject({ method: 'PUT', url: '/api/currency-rates/EUR', headers: authHeaders(), payload: { rate: '1.2' } })).statusCode).toBe(200);
    expect((await postback({ cid: v.clickId, txid: 'fix-1', payout: '10', currency: 'EUR' })).json().outcome).toBe('duplicate');
    expect((await conversionsOf(v.clickId))[0]).toMatchObject({ payout: '11.000000', originalPayout: '10.000000', originalCurrency: 'EUR' });

    // Without a txid the network names no transaction: a repeat is a duplicate whatever it says.
    const w = await seedVisit(deps(), plain);
    expect((await postback({ cid: w.clickId, payout: '5' })).json().outcome).toBe('recorded');
    expect((await postback({ cid: w.clickId, payout: '7' })).json().outcome).toBe('duplicate');
    expect((await conversionsOf(w.clickId))[0]).toMatchObject({ payout: '5.000000' });
    // An upload is the correction channel: there it corrects.
    const up = await t.app.inject({ method: 'POST', url: '/api/conversions', headers: authHeaders(), payload: [{ clickId: w.clickId, payout: '7' }] });
    expect(up.json().rows).toEqual([{ row: 0, outcome: 'payout_changed', conversionId: expect.any(Number) }]);
    expect((await conversionsOf(w.clickId))[0]).toMatchObject({ payout: '7.000000' });
    // The pixel, public in the visitor's browser, never re-prices.
    const px = await t.app.inject({ url: `/pixel.gif?cid=${v.clickId}&txid=fix-1&payout=1` });
    expect(px.statusCode).toBe(200);
    expect((await conversionsOf(v.clickId))[0]).toMatchObject({ payout: '11.000000' });
  });

  it('converts payouts to the account currency with user-set rates; an unknown currency is a 400', async () => {
    const set = await t.app.inject({ method: 'PUT', url: '/api/currency-rates/eur', headers: authHeaders(), payload: { rate: '1.1' } });
    expect(set.statusCode).toBe(200);
    expect(set.json()).toMatchObject({ currency: 'EUR' });
    const v = await seedVisit(deps(), plain);
    await postback({ cid: v.clickId, payout: '10.05', currency: 'eur' });
    expect((await conversionsOf(v.clickId))[0]).toMatchObject({ payout: '11.055000', originalPayout: '10.050000', originalCurrency: 'EUR' });
    const unknown = await postback({ cid: v.clickId, payout: '1', currency: 'GBP', txid: 'g' });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error.field).toBe('currency');
    // The offer's default payout is converted from the offer's currency.
    const eurOffer = await createFixture(db(), { offer: { payout: '100', currency: 'EUR' } });
    const w = await seedVisit(deps(), eurOffer);
    await postback({ cid: w.clickId });
    expect((await conversionsOf(w.clickId))[0].payout).toBe('110.000000');
    const list = await t.app.inject({ url: '/api/currency-rates', headers: authHeaders() });
    expect(list.json().items).toEqual([expect.objectContaining({ currency: 'EUR', rate: expect.stringMatching(/^1\.10*$/) })]);
    expect((await t.app.inject({ method: 'PUT', url: '/api/currency-rates/EUR', headers: authHeaders(), payload: { rate: '-1' } })).json().error.field).toBe('rate');
    expect((await t.app.inject({ method: 'POST', url: '/api/currency-rates', headers: authHeaders(), payload: { currency: 'USD', rate: '2' } })).statusCode).toBe(400);
    expect((await t.app.inject({ method: 'DELETE', url: '/api/currency-rates/JPY', headers: authHeaders() })).statusCode).toBe(404);
  });

  it('refuses with 400 a payout that does not fit once converted or rounded, and an unknown currency without a payout', async () => {
    // EUR is worth 1.1: 12 digits of EUR are more than 12 digits of USD.
    expect((await t.app.inject({ method: 'PUT', url: '/api/currency-rates/EUR', headers: authHeaders(), payload: { rate: '1.1' } })).statusCode).toBe(200);
    const v = await seedVisit(deps(), plain);
    const before = await countAll();
    for (const query of <Record<string, string>[]>[
      { cid: v.clickId, payout: '999999999999', currency: 'EUR', txid: 'big-eur' },
      { cid: v.clickId, amount: '999999999999.9999999', txid: 'rounds-up' },
    ]) {
      const res = await postback(query);
      expect(res.statusCode, JSON.stringify(query)).toBe(400);
      expect(res.json().error.field).toBe('payout' in query ? 'payout' : 'amount');
      expect(res.json().error.message).toMatch(/more than a payout can hold/);
    }
    const noRate = await postback({ cid: v.clickId, currency: 'GBP', txid: 'gbp-no-payout' });
    expect(noRate.statusCode).toBe(400);
    expect(noRate.json().error.field).toBe('currency');
    expect(await countAll()).toBe(before);

    // In an upload, the row is answered with its error and its neighbours are recorded.
    const up = await t.app.inject({
      method: 'POST',
      url: '/api/conversions',
      headers: authHeaders(),
      payload: [
        { clickId: v.clickId, payout: '999999999999', currency: 'EUR', txid: 'up-big' },
        { clickId: v.clickId, payout: '2.5', txid: 'up-ok' },
      ],
    });
    expect(up.statusCode).toBe(200);
    expect(up.json().rows).toEqual([
      { row: 0, outcome: 'error', error: expect.objectContaining({ code: 'invalid_request', field: 'payout' }) },
      { row: 1, outcome: 'recorded', conversionId: expect.any(Number) },
    ]);
    expect((await conversionsOf(v.clickId)).map((c) => c.payout)).toEqual(['2.500000']);
  });

  it('books cpa and revshare cost on approved conversions', async () => {
    const cpa = await createFixture(db(), { campaign: { costModel: 'cpa', costValue: '3.5' } });
    const rs = await createFixture(db(), { campaign: { costModel: 'revshare', costValue: '40' } });
    const a = await seedVisit(deps(), cpa);
    const b = await seedVisit(deps(), rs);
    await postback({ cid: a.clickId, payout: '10' });
    await postback({ cid: b.clickId, payout: '12.5' });
    expect((await conversionsOf(a.clickId))[0].cost).toBe('3.500000');
    expect((await conversionsOf(b.clickId))[0].cost).toBe('5.000000');
    await postback({ cid: b.clickId, status: 'declined' });
    expect((await conversionsOf(b.clickId))[0]).toMatchObject({ status: 'declined', cost: '0.000000' });
  });

  it('uploads conversions as JSON and CSV, with a past time, answering per row', async () => {
    const visitedAt = new Date('2026-01-10T08:00:00.000Z');
    const v = await seedVisit(deps(), plain, 'both', { visitedAt });
    const w = await seedVisit(deps(), plain, 'both', { visitedAt });
    const past = '2026-01-15T10:30:00.000Z';
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/conversions',
      headers: authHeaders(),
      payload: [
        { clickId: v.clickId, payout: '12.34', txid: 'U1', time: past },
        { clickId: v.clickId, payout: '12.34', txid: 'U1', time: past },
        { clickId: w.clickId, payout: 'abc' },
        { payout: '1' },
        { clickId: newClickId(), payout: '2' },
        // A typo'd year: before the visit, refused (a few minutes of clock skew pass).
        { clickId: w.clickId, payout: '3', txid: 'U2', time: '2025-01-15T10:30:00Z' },
        { clickId: w.clickId, payout: '3', txid: 'U3', time: '2026-01-10T07:57:00Z' },
        // A date-only time is that day (UTC midnight, before the 08:00 visit): accepted; the day before is not.
        { clickId: w.clickId, payout: '3', txid: 'U4', time: '2026-01-10' },
        { clickId: w.clickId, payout: '3', txid: 'U5', time: '2026-01-09' },
      ],
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.rows.map((r: { outcome: string }) => r.outcome)).toEqual(['recorded', 'duplicate', 'error', 'error', 'pending', 'error', 'recorded', 'recorded', 'error']);
    expect(body.rows[2].error.field).toBe('payout');
    expect(body.rows[3].error.field).toBe('clickId');
    expect(body.rows[5].error).toMatchObject({ field: 'time', message: expect.stringContaining('before the visit') });
    const [c] = await conversionsOf(v.clickId);
    expect(c.convertedAt.toISOString()).toBe(past);
    expect(c.payout).toBe('12.340000');
    expect((await conversionsOf(w.clickId)).map((c) => c.txid).sort()).toEqual(['U3', 'U4']);

    const csv = `clickId,payout,txid,status,type,currency,time\n${w.clickId},"1,000",,,,,\n${w.clickId},5.5,C1,approved,sale,,2026-02-01T00:00:00Z\n`;
    const up = await t.app.inject({ method: 'POST', url: '/api/conversions', headers: { ...authHeaders(), 'content-type': 'text/csv' }, payload: csv });
    expect(up.statusCode).toBe(200);
    expect(up.json().rows.map((r: { outcome: string }) => r.outcome)).toEqual(['error', 'recorded']);
    const d = (await conversionsOf(w.clickId)).find((c) => c.txid === 'C1');
    expect(d).toMatchObject({ payout: '5.500000', txid: 'C1', type: 'sale' });
    expect(d!.convertedAt.toISOString()).toBe('2026-02-01T00:00:00.000Z');
    expect((await t.app.inject({ method: 'POST', url: '/api/conversions', payload: [] })).statusCode).toBe(401);
  });

  it('answers an upload row with a cell of the wrong type or an impossible date per row; a zone-less time is UTC', async () => {
    const v = await seedVisit(deps(), plain, 'both', { visitedAt: new Date('2026-01-10T08:00:00.000Z') });
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/conversions',
      headers: authHeaders(),
      payload: [
        { clickId: true },
        { clickId: v.clickId, payout: { amount: 1 }, txid: 'obj' },
        // No such day: Date would read it as March 2.
        { clickId: v.clickId, txid: 'feb30', time: '2026-02-30T10:00:00Z' },
        { clickId: v.clickId, txid: 'h25', time: '2026-02-03T25:00:00Z' },
        { clickId: v.clickId, txid: 'utc', time: '2026-02-03 10:30:00' },
        { clickId: v.clickId, txid: 'offset', time: '2026-02-03T10:30:00.5+0130' },
      ],
    });
    expect(res.statusCode, res.body).toBe(200);
    const rowsOut = res.json().rows;
    expect(rowsOut.map((r: { outcome: string }) => r.outcome)).toEqual(['error', 'error', 'error', 'error', 'recorded', 'recorded']);
    expect(rowsOut[0].error).toEqual({ code: 'invalid_request', message: 'clickId must be a string', field: 'clickId' });
    expect(rowsOut[1].error).toEqual({ code: 'invalid_request', message: 'payout must be a string', field: 'payout' });
    expect(rowsOut[2].error).toEqual({ code: 'invalid_request', message: 'time "2026-02-30T10:00:00Z" is not a valid ISO 8601 date-time such as 2026-01-31T12:00:00Z', field: 'time' });
    expect(rowsOut[3].error.field).toBe('time');
    const byTxid = new Map((await conversionsOf(v.clickId)).map((c) => [c.txid, c.convertedAt.toISOString()]));
    expect(Object.fromEntries(byTxid)).toEqual({ utc: '2026-02-03T10:30:00.000Z', offset: '2026-02-03T09:00:00.500Z' });

    for (const payload of [{ clickId: v.clickId }, [1], 7]) {
      const bad = await t.app.inject({ method: 'POST', url: '/api/conversions', headers: { ...authHeaders(), 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
      expect(bad.statusCode, JSON.stringify(payload)).toBe(400);
      expect(bad.json().error).toMatchObject({ field: 'body', message: 'body: expected a JSON array of rows (objects), or CSV (content-type text/csv) with a header row' });
    }
  });

  it('records a pixel conversion from the click cookie, within the attribution window only', async () => {
    const v = await seedVisit(deps(), plain);
    const res = await t.app.inject({ url: '/pixel.gif?payout=6', cookies: { tlcid: v.clickId } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('image/gif');
    expect(res.rawPayload.subarray(0, 6).toString()).toBe('GIF89a');
    expect((await conversionsOf(v.clickId))[0]).toMatchObject({ payout: '6.000000', status: 'approved' });

    const js = await seedVisit(deps(), plain);
    const script = await t.app.inject({ url: '/pixel.js?type=signup', cookies: { tlcid: js.clickId } });
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toContain('javascript');
    expect((await conversionsOf(js.clickId))[0].type).toBe('signup');

    const short = await createFixture(db(), { offer: { attributionWindowDays: 1 } });
    const old = await seedVisit(deps(), short, 'both', { visitedAt: new Date(Date.now() - 3 * 86_400_000) });
    expect((await t.app.inject({ url: '/pixel.gif', cookies: { tlcid: old.clickId } })).statusCode).toBe(200);
    expect(await conversionsOf(old.clickId)).toHaveLength(0);

    for (const junk of ['/pixel.gif?payout=abc', '/pixel.gif?cid=a&cid=b', '/pixel.gif', '/pixel.js?currency=%00%01', `/pixel.gif?cid=${'z'.repeat(5000)}`]) {
      const r = await t.app.inject({ url: junk, cookies: { tlcid: v.clickId } });
      expect(r.statusCode, junk).toBe(200);
    }
    expect(await conversionsOf(v.clickId)).toHaveLength(1);
  });

  it('never lets a pixel change the status of a conversion the network reported', async () => {
    const v = await seedVisit(deps(), plain);
    expect((await postback({ cid: v.clickId, txid: 'S1', payout: '20' })).json().outcome).toBe('recorded');
    // Anyone holding the click ID (it is in the visitor's cookie) could otherwise decline the sale...
    await t.app.inject({ url: `/pixel.gif?txid=S1&status=declined`, cookies: { tlcid: v.clickId } });
    expect(await conversionsOf(v.clickId)).toMatchObject([{ txid: 'S1', status: 'approved', payout: '20.000000' }]);
    // ...or re-approve a chargeback.
    expect((await postback({ cid: v.clickId, txid: 'S1', status: 'chargeback' })).json().outcome).toBe('status_changed');
    await t.app.inject({ url: `/pixel.js?cid=${v.clickId}&txid=S1&status=approved` });
    expect(await conversionsOf(v.clickId)).toMatchObject([{ txid: 'S1', status: 'declined' }]);
    // A new conversion from either pixel is still recorded: both requests above did reach the
    // conversion code (a pixel answers 200 whatever happens, so only the rows tell).
    await t.app.inject({ url: `/pixel.gif?txid=S2&payout=3`, cookies: { tlcid: v.clickId } });
    await t.app.inject({ url: `/pixel.js?cid=${v.clickId}&txid=S3&payout=1` });
    expect((await conversionsOf(v.clickId)).map((c) => c.txid).sort()).toEqual(['S1', 'S2', 'S3']);
  });

  it('documents the routes in /openapi.json', async () => {
    const paths = Object.keys((await t.app.inject('/openapi.json')).json().paths);
    for (const p of ['/postback', '/pixel.gif', '/pixel.js', '/api/conversions', '/api/currency-rates', '/api/currency-rates/{currency}', '/api/postback-deliveries']) {
      expect(paths).toContain(p);
    }
  });

  it('applies the pending postbacks of one click in the order they came, whatever their backoff', async () => {
    // A lead (pending) then its sale (approved) for a click not visible yet. The first has been
    // retried more often, so its next look is later than the second's.
    const v = visitFor(plain);
    const lead = (await postback({ cid: v.clickId, txid: 'ord', status: 'pending', payout: '4' })).json();
    const sale = (await postback({ cid: v.clickId, txid: 'ord', status: 'approved', payout: '4' })).json();
    expect([lead.outcome, sale.outcome]).toEqual(['pending', 'pending']);
    const now = Date.now();
    await db().update(pendingPostbacks).set({ nextAttemptAt: new Date(now + 10 * 60_000), attempts: 5 }).where(eq(pendingPostbacks.id, lead.pendingId));
    await db().update(pendingPostbacks).set({ nextAttemptAt: new Date(now + 30_000), attempts: 2 }).where(eq(pendingPostbacks.id, sale.pendingId));
    await seedVisit(deps(), plain, 'postgres', { clickId: v.clickId });

    const svc = await attributionFor(t.app.ctx);
    for (let minute = 1; minute <= 15; minute++) await svc.retryPending(new Date(now + minute * 60_000));
    const [c] = await conversionsOf(v.clickId);
    expect(c.status).toBe('approved');
    const history = await db().select().from(conversionStatusHistory).where(eq(conversionStatusHistory.conversionId, c.id)).orderBy(conversionStatusHistory.id);
    expect(history.map((h) => h.status)).toEqual(['pending', 'approved']);
    const states = await db().select({ id: pendingPostbacks.id, state: pendingPostbacks.state }).from(pendingPostbacks).where(eq(pendingPostbacks.clickId, v.clickId)).orderBy(pendingPostbacks.id);
    expect(states.map((s) => s.state)).toEqual(['attributed', 'attributed']);
  });

  it('does not let a pending postback applied late undo a newer status recorded meanwhile', async () => {
    // The sale waits (its click not visible yet); the click appears and the chargeback comes
    // straight through; then the sale's retry runs. It must end declined.
    const v = visitFor(plain);
    const sale = (await postback({ cid: v.clickId, txid: 'late', status: 'approved', payout: '9' })).json();
    expect(sale.outcome).toBe('pending');
    await seedVisit(deps(), plain, 'postgres', { clickId: v.clickId });
    const chargeback = (await postback({ cid: v.clickId, txid: 'late', status: 'declined', payout: '9' })).json();
    expect(chargeback).toMatchObject({ outcome: 'recorded', conversionStatus: 'declined' });

    await (await attributionFor(t.app.ctx)).retryPending(new Date(Date.now() + 60_000));
    const [c] = await conversionsOf(v.clickId);
    expect(c.status).toBe('declined');
    const history = await db().select().from(conversionStatusHistory).where(eq(conversionStatusHistory.conversionId, c.id));
    expect(history.map((h) => h.status)).toEqual(['declined']);
    const [p] = await db().select({ state: pendingPostbacks.state, outcome: pendingPostbacks.outcome }).from(pendingPostbacks).where(eq(pendingPostbacks.id, sale.pendingId));
    expect(p).toEqual({ state: 'attributed', outcome: 'duplicate' });
    // A status change that comes live afterwards still applies.
    expect((await postback({ cid: v.clickId, txid: 'late', status: 'approved' })).json()).toMatchObject({ outcome: 'status_changed', conversionStatus: 'approved' });
  });

  it('never leaves a pending row attributed twice across two passes', async () => {
    const v = visitFor(plain);
    await postback({ cid: v.clickId, txid: 'twice' });
    await postback({ cid: v.clickId, txid: 'twice' });
    await seedVisit(deps(), plain, 'postgres', { clickId: v.clickId });
    const svc = await attributionFor(t.app.ctx);
    const soon = new Date(Date.now() + 60_000);
    await Promise.all([svc.retryPending(soon), svc.retryPending(soon)]);
    expect(await conversionsOf(v.clickId)).toHaveLength(1);
    const states = await db().select({ state: pendingPostbacks.state, outcome: pendingPostbacks.outcome }).from(pendingPostbacks).where(and(eq(pendingPostbacks.clickId, v.clickId)));
    expect(states.map((s) => s.outcome).sort()).toEqual(['duplicate', 'recorded']);
  });
});
