import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { visits } from '../../src/db/schema.js';
import { seedCampaign, seedOffer, seedTrafficSource } from '../helpers/seed.js';
import { authHeaders, BACKENDS, setupTestApp } from '../helpers/test-app.js';

const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const BOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';

describe.each(BACKENDS)('cost updates on %s', (backend) => {
  let t: Awaited<ReturnType<typeof setupTestApp>>;
  let campaignId: number;
  const today = new Date().toISOString().slice(0, 10);

  beforeAll(async () => {
    t = await setupTestApp(backend);
    const ts = await seedTrafficSource(t.app.ctx, { params: [{ name: 'adset_id', token: '{{adset.id}}', role: 'adset' }] });
    const offer = await seedOffer(t.app.ctx, { url: 'https://offer.example/go?sub1={clickid}' });
    // A CPC model, so the update visibly replaces a cost the visits already had.
    const campaign = await seedCampaign(t.app.ctx, { key: 'costs1', trafficSourceId: ts.id, costModel: 'cpc', costValue: '0.5', flow: { rules: [], paths: [{ offers: [{ id: offer.id }] }] } });
    campaignId = campaign.id;
    const click = (ua: string, adset: string) => t.app.inject({ url: `/click/costs1?adset_id=${adset}`, headers: { 'user-agent': ua } });
    for (const [ua, adset] of [[CHROME, 'a1'], [CHROME, 'a1'], [CHROME, 'a2'], [BOT, 'a1']]) expect((await click(ua, adset)).statusCode).toBe(302);
    await t.app.ctx.clickWriter!.flush();
  });
  afterAll(async () => t?.close());

  const update = (body: Record<string, unknown>, id = campaignId) =>
    t.app.inject({ method: 'POST', url: `/api/campaigns/${id}/costs`, headers: authHeaders(), payload: body });
  const statsCost = async (includeBots: boolean) => {
    const res = await t.app.inject({ url: `/api/campaigns/${campaignId}/stats?from=${today}&to=${today}&includeBots=${includeBots}`, headers: authHeaders() });
    return res.json().totals.cost as string;
  };
  const visitCosts = async () =>
    (await t.app.ctx.db.select({ cost: visits.cost, isBot: visits.isBot, adset: visits.tsAdset }).from(visits).where(eq(visits.campaignId, campaignId)))
      .map((v) => ({ ...v, cost: Number(v.cost) }))
      .sort((a, b) => Number(a.isBot) - Number(b.isBot) || b.cost - a.cost);

  it('spreads the amount over the human visits to the millionth and reports exactly it, bots or not', async () => {
    expect(await statsCost(false)).toBe('1.500000');
    const res = await update({ from: today, to: today, tz: 'UTC', cost: '10' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ campaignId, cost: '10', currency: 'USD', visits: 3 });
    expect((await visitCosts()).map((v) => v.cost)).toEqual([3.333334, 3.333333, 3.333333, 0]);
    expect(await statsCost(false)).toBe('10.000000');
    expect(await statsCost(true)).toBe('10.000000');
    // The raw-row path of reports (a traffic-source role) agrees with the rollups.
    const byAdset = await t.app.inject({ url: `/api/reports?from=${today}&to=${today}&groupBy=adset&campaign=${campaignId}`, headers: authHeaders() });
    expect(byAdset.json().totals.cost).toBe('10.000000');
  });

  it('replaces rather than adds, and can target one ad set', async () => {
    expect((await update({ from: today, to: today, cost: 4 })).json().visits).toBe(3);
    expect(await statsCost(false)).toBe('4.000000');
    const one = await update({ from: today, to: today, cost: '1.5', adset: 'a2' });
    expect(one.json()).toMatchObject({ visits: 1, cost: '1.5' });
    const costs = await visitCosts();
    expect(costs.find((v) => v.adset === 'a2')!.cost).toBe(1.5);
    expect(costs.filter((v) => v.adset === 'a1' && !v.isBot).map((v) => v.cost).sort()).toEqual([1.333333, 1.333334]);
    expect(await statsCost(false)).toBe('4.166667');
  });

  it('refuses bad input by field and changes nothing', async () => {
    const before = await statsCost(false);
    const cases: [Record<string, unknown>, number, string | undefined][] = [
      [{ from: today, to: today, cost: 'abc' }, 400, 'cost'],
      [{ from: today, to: today, cost: -5 }, 400, 'cost'],
      [{ from: today, to: today, cost: '1e3' }, 400, 'cost'],
      [{ from: today, to: today }, 400, 'cost'],
      [{ from: today, to: '2020-01-01', cost: '1' }, 400, 'to'],
      [{ from: 'yesterday', to: today, cost: '1' }, 400, 'from'],
      [{ from: today, to: today, tz: 'Mars/Base', cost: '1' }, 400, 'tz'],
      [{ from: today, to: today, cost: '1', currency: 'EUR' }, 400, 'currency'],
      [{ from: '2021-01-01', to: '2021-01-31', cost: '1' }, 409, 'from'],
      [{ from: today, to: today, cost: '1', adset: 'nobody' }, 409, 'from'],
      // A misspelt target must not put the ad set's spend on the whole campaign.
      [{ from: today, to: today, cost: '1', adSet: 'as-1' }, 400, 'adSet'],
    ];
    for (const [body, status, field] of cases) {
      const res = await update(body);
      expect(res.statusCode, `${JSON.stringify(body)}: ${res.body}`).toBe(status);
      expect(res.json().error.field, JSON.stringify(body)).toBe(field);
    }
    expect((await update({ from: today, to: today, cost: '1' }, 9999)).statusCode).toBe(404);
    // An id past the SQL integer range is the caller's mistake, not a 500 from Postgres.
    const huge = await update({ from: today, to: today, cost: '1' }, 99_999_999_999);
    expect(huge.statusCode, huge.body).toBe(400);
    expect(huge.json().error.field).toBe('id');
    expect((await t.app.inject({ method: 'POST', url: `/api/campaigns/${campaignId}/costs`, payload: { from: today, to: today, cost: '1' } })).statusCode).toBe(401);
    expect(await statsCost(false)).toBe(before);
  });

  it('takes the currency in any case, as offers and postbacks do', async () => {
    const rate = await t.app.inject({ method: 'POST', url: '/api/currency-rates', headers: authHeaders(), payload: { currency: 'EUR', rate: '1.1' } });
    expect(rate.statusCode, rate.body).toBeLessThan(300);
    const res = await update({ from: today, to: today, cost: '10', currency: 'eur' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ cost: '11', currency: 'USD', visits: 3 });
    expect(await statsCost(false)).toBe('11.000000');
    const bad = await update({ from: today, to: today, cost: '10', currency: 'euro' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatchObject({ field: 'currency', message: 'currency: expected an ISO 4217 currency code such as USD or EUR' });
  });
});
