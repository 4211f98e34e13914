// /postback as affiliate networks really call it: templates with macros they leave unfilled,
// parameter names in other cases, float payouts, bodies labelled text/plain or absent, HEAD probes
// from uptime checkers, their status words. Each answers what the network needs (a 200 it stops
// retrying on, or a 4xx naming the field) and stores what the user expects to see.
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attributionFor } from '../../src/attribution/service.js';
import { rows } from '../../src/db/client.js';
import { conversions, pendingPostbacks } from '../../src/db/schema.js';
import { createFixture, newClickId, seedVisit, type Fixture } from '../helpers/attribution-fixtures.js';
import { authHeaders, BACKENDS, setupTestApp } from '../helpers/test-app.js';

const JSON_ACCEPT = { accept: 'application/json' };

describe.each(BACKENDS)('postbacks as networks send them, on %s', (backend) => {
  let t: Awaited<ReturnType<typeof setupTestApp>>;
  let offer: Fixture;
  const db = () => t.app.ctx.db;
  const deps = () => ({ db: t.app.ctx.db, store: t.app.ctx.store });
  const conversionsOf = (clickId: string) => db().select().from(conversions).where(eq(conversions.clickId, clickId));
  const countAll = async () => Number((await rows<{ n: string }>(db(), sql`select count(*)::text as n from conversions`))[0].n);
  /** The query string as the network's HTTP client sends it: the template with its values filled in, or not. */
  const get = (query: string) => t.app.inject({ method: 'GET', url: `/postback?${query}`, headers: JSON_ACCEPT });

  beforeAll(async () => {
    t = await setupTestApp(backend, { env: { POSTBACK_WORKER_MS: '0', ATTRIBUTION_RETRY_MINUTES: '60' } });
    offer = await createFixture(db(), { offer: { payout: '7.5' } });
  });
  afterAll(async () => t?.close());

  it('payout={payout} records the offer payout and answers 200, keeping the placeholder in the postback parameters', async () => {
    const v = await seedVisit(deps(), offer);
    const res = await get(`cid=${v.clickId}&payout={payout}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ok', outcome: 'recorded', conversionStatus: 'approved' });
    const [c] = await conversionsOf(v.clickId);
    expect(c).toMatchObject({ payout: '7.500000', originalCurrency: 'USD', status: 'approved' });
    expect(c.postbackParams).toEqual({ cid: v.clickId, payout: '{payout}' });
  });

  it('reads every unfilled macro syntax as absent in payout, txid, status, type and currency', async () => {
    const templates = [
      'payout=%7Bpayout%7D&txid=%7Btransaction_id%7D&status=%7Bstatus%7D&type=%7Bgoal%7D&currency=%7Bcurrency%7D',
      'payout={{payout}}&txid={{ transaction_id }}&status={{status}}&type={{goal}}&currency={{currency}}',
      'payout=%25payout%25&txid=%25TXID%25&status=%25status%25&type=%25goal%25&currency=%25currency%25',
      'payout=[payout]&txid=[transaction_id]&status=[status]&type=[goal]&currency=[currency]',
      'payout=%23price%23&tid=%23tid%23&status=%23status%23&ct=%23goal%23&currency=%23currency%23',
      'sum=__PAYOUT__&tx=__TXID__&status=__STATUS__&et=__GOAL__&currency=__CURRENCY__',
      'revenue=${PAYOUT}&txid=${TRANSACTION_ID}&status=${STATUS}&type=${GOAL}&currency=${CURRENCY}',
    ];
    for (const template of templates) {
      const v = await seedVisit(deps(), offer);
      const res = await get(`cid=${v.clickId}&${template}`);
      expect(res.statusCode, template).toBe(200);
      const list = await conversionsOf(v.clickId);
      expect(list, template).toHaveLength(1);
      expect(list[0], template).toMatchObject({ payout: '7.500000', originalCurrency: 'USD', txid: '', status: 'approved', type: 'conversion' });
      // What the network sent is kept as it came, for the user to see the template is incomplete.
      expect(Object.values(list[0].postbackParams as Record<string, string>).filter((x) => x !== v.clickId)).toHaveLength(5);
    }
  });

  it('still reads a real payout and currency next to an unfilled one, and still refuses a garbled payout', async () => {
    const put = await t.app.inject({ method: 'PUT', url: '/api/currency-rates/EUR', headers: authHeaders(), payload: { rate: '2' } });
    expect(put.statusCode).toBe(200);
    const v = await seedVisit(deps(), offer);
    expect((await get(`cid=${v.clickId}&payout={payout}&sum=3&currency=eur&txid={transaction_id}`)).statusCode).toBe(200);
    expect((await conversionsOf(v.clickId))[0]).toMatchObject({ payout: '6.000000', originalPayout: '3.000000', originalCurrency: 'EUR' });

    const before = await countAll();
    for (const garbled of ['payout={payout', 'payout=payout}', 'payout={payout}5', 'currency={cur']) {
      const res = await get(`cid=${v.clickId}&${garbled}&txid=g`);
      expect(res.statusCode, garbled).toBe(400);
      expect(res.json().error.field, garbled).toBe(garbled.split('=')[0]);
    }
    expect(await countAll()).toBe(before);
  });

  it('keeps an unfilled click ID: the postback ends unattributed with its raw parameters', async () => {
    const res = await get('cid={aff_sub}&payout={payout}&txid=T-77');
    expect(res.statusCode).toBe(200);
    expect(res.json().outcome).toBe('pending');
    const svc = await attributionFor(t.app.ctx);
    await svc.retryPending(new Date(Date.now() + 61 * 60_000));
    const [row] = await db().select().from(pendingPostbacks).where(eq(pendingPostbacks.id, res.json().pendingId));
    expect(row).toMatchObject({ clickId: '{aff_sub}', state: 'unattributed' });
    expect(row.rawParams).toEqual({ cid: '{aff_sub}', payout: '{payout}', txid: 'T-77' });
    const day = (ms: number) => new Date(Date.now() + ms).toISOString().slice(0, 10);
    const listed = await t.app.inject({ url: `/api/conversions?attributed=false&from=${day(-86_400_000)}&to=${day(86_400_000)}&tz=UTC`, headers: authHeaders() });
    expect(listed.statusCode).toBe(200);
    // Listed as the row it is, raw parameters and all (not merely the text somewhere in the answer).
    expect(listed.json().items).toContainEqual(
      expect.objectContaining({ id: res.json().pendingId, clickId: '{aff_sub}', state: 'unattributed', rawParams: { cid: '{aff_sub}', payout: '{payout}', txid: 'T-77' } }),
    );
  });

  it('keeps an unfilled secret: it does not match, 403, nothing stored', async () => {
    const guarded = await createFixture(db(), { network: { postbackSecret: 'real-secret' } });
    const v = await seedVisit(deps(), guarded);
    const res = await get(`cid=${v.clickId}&secret={secret}`);
    expect(res.statusCode).toBe(403);
    expect(await conversionsOf(v.clickId)).toHaveLength(0);
    // Any spelling of the parameter is the secret, and it is never stored.
    expect((await get(`cid=${v.clickId}&SECRET=real-secret`)).statusCode).toBe(200);
    expect((await conversionsOf(v.clickId))[0].postbackParams).toEqual({ cid: v.clickId });
  });

  it('reads parameter names in any case and through an HTML-escaped &amp;', async () => {
    const v = await seedVisit(deps(), offer);
    const res = await t.app.inject({ url: `/postback?CID=${v.clickId}&amp;Payout=2.25&amp;TXID=ord-5&amp;Status=Sale`, headers: JSON_ACCEPT });
    expect(res.statusCode).toBe(200);
    expect((await conversionsOf(v.clickId))[0]).toMatchObject({ payout: '2.250000', txid: 'ord-5', status: 'approved' });
    const conflict = await get(`cid=${v.clickId}&payout=1&PAYOUT=1000&txid=two`);
    expect(conflict.statusCode).toBe(400);
    expect(conflict.json().error.field).toBe('PAYOUT');
    expect(await conversionsOf(v.clickId)).toHaveLength(1);
  });

  it('takes payouts with spaces or a + for a space, 0 as a payout of 0, and float noise rounded', async () => {
    const cases: [string, string][] = [
      ['payout=%205.00%20', '5.000000'],
      ['payout=+5', '5.000000'],
      ['payout=5+', '5.000000'],
      ['payout=0', '0.000000'],
      ['payout=0.30000000000000004', '0.300000'],
    ];
    for (const [query, stored] of cases) {
      const v = await seedVisit(deps(), offer);
      const res = await get(`cid=${v.clickId}&${query}`);
      expect(res.statusCode, query).toBe(200);
      expect((await conversionsOf(v.clickId))[0].payout, query).toBe(stored);
    }
  });

  it('answers a HEAD probe 200 with no body and records nothing, whatever the query', async () => {
    const v = await seedVisit(deps(), offer);
    for (const url of ['/postback', `/postback?cid=${v.clickId}&payout=5`, '/postback/']) {
      const res = await t.app.inject({ method: 'HEAD', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.body, url).toBe('');
    }
    expect(await conversionsOf(v.clickId)).toHaveLength(0);
    // The GET that follows is the conversion, recorded once.
    expect((await get(`cid=${v.clickId}&payout=5`)).json().outcome).toBe('recorded');
  });

  it('answers a HEAD on the pixels (link checkers, mail prefetch) and records nothing', async () => {
    const v = await seedVisit(deps(), offer);
    for (const url of [`/pixel.gif?cid=${v.clickId}&payout=5`, `/pixel.js?cid=${v.clickId}&payout=5`]) {
      const res = await t.app.inject({ method: 'HEAD', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type'], url).toMatch(/^(image\/gif|application\/javascript)/);
    }
    expect(await conversionsOf(v.clickId)).toHaveLength(0);
    const fired = await t.app.inject({ method: 'GET', url: `/pixel.gif?cid=${v.clickId}&payout=5` });
    expect(fired.statusCode).toBe(200);
    expect(await conversionsOf(v.clickId)).toHaveLength(1);
  });

  it('reads POST bodies as networks label them, and a POST with no body at all', async () => {
    const post = (payload: string | undefined, contentType: string | undefined, query = '') =>
      t.app.inject({ method: 'POST', url: `/postback${query}`, payload, headers: { ...JSON_ACCEPT, ...(contentType ? { 'content-type': contentType } : {}) } });
    const cases: [string, (cid: string) => ReturnType<typeof post>, string][] = [
      ['form; charset=UTF-8', (cid) => post(`cid=${cid}&payout=1.5`, 'application/x-www-form-urlencoded; charset=UTF-8'), '1.500000'],
      ['text/plain form', (cid) => post(`cid=${cid}&payout=2.5&txid=tp`, 'text/plain'), '2.500000'],
      ['text/plain JSON', (cid) => post(JSON.stringify({ cid, payout: 3.5 }), 'text/plain; charset=utf-8'), '3.500000'],
      ['JSON number with float noise', (cid) => post(`{"cid":"${cid}","payout":13.049999999999999}`, 'application/json'), '13.050000'],
      ['no body, query string only', (cid) => post(undefined, undefined, `?cid=${cid}&payout=4.5`), '4.500000'],
      ['empty JSON body', (cid) => post('', 'application/json', `?cid=${cid}&payout=5.5`), '5.500000'],
      ['empty text body', (cid) => post('', 'text/plain', `?cid=${cid}&payout=6.5`), '6.500000'],
    ];
    for (const [label, send, stored] of cases) {
      const v = await seedVisit(deps(), offer);
      const res = await send(v.clickId);
      expect(res.statusCode, `${label}: ${res.body}`).toBe(200);
      expect((await conversionsOf(v.clickId))[0]?.payout, label).toBe(stored);
    }
    const v = await seedVisit(deps(), offer);
    const broken = await post(`{"cid":"${v.clickId}",`, 'text/plain');
    expect(broken.statusCode).toBe(400);
    expect(broken.json().error.field).toBe('body');
    expect(await conversionsOf(v.clickId)).toHaveLength(0);
  });

  it("maps the status words networks use; a numeric code needs the network's statusMap", async () => {
    const cases: [string, string][] = [
      ['paid', 'approved'], ['success', 'approved'], ['completed', 'approved'],
      ['rejected', 'declined'], ['trash', 'declined'], ['fraud', 'declined'], ['refund', 'declined'], ['cancelled', 'declined'], ['invalid', 'declined'],
    ];
    for (const [word, status] of cases) {
      const v = await seedVisit(deps(), offer);
      expect((await get(`cid=${v.clickId}&status=${word}`)).statusCode, word).toBe(200);
      expect((await conversionsOf(v.clickId))[0].status, word).toBe(status);
    }
    const v = await seedVisit(deps(), offer);
    const numeric = await get(`cid=${v.clickId}&status=1`);
    expect(numeric.statusCode).toBe(400);
    expect(numeric.json().error).toMatchObject({ field: 'status', message: expect.stringContaining('statusMap') });
    const mapped = await createFixture(db(), { network: { statusMap: { '1': 'approved', '3': 'declined' } } });
    const w = await seedVisit(deps(), mapped);
    expect((await get(`cid=${w.clickId}&STATUS=3`)).statusCode).toBe(200);
    expect((await conversionsOf(w.clickId))[0].status).toBe('declined');
  });

  it('an unknown click with unfilled macros waits like any other and is attributed with the defaults', async () => {
    const clickId = newClickId();
    const res = await get(`cid=${clickId}&payout={payout}&status={status}&currency={currency}`);
    expect(res.json().outcome).toBe('pending');
    await seedVisit(deps(), offer, 'postgres', { clickId });
    await (await attributionFor(t.app.ctx)).retryPending(new Date(Date.now() + 60_000));
    expect((await conversionsOf(clickId))[0]).toMatchObject({ payout: '7.500000', status: 'approved', originalCurrency: 'USD' });
  });
});
