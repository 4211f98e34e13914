import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { landerClicks } from '../../src/db/schema.js';
import { cappedOffers } from '../../src/tracking/offer-caps.js';
import { authHeaders, BACKENDS, setupTestApp } from '../helpers/test-app.js';

describe.each(BACKENDS)('offer daily caps on %s', (backend) => {
  let t: Awaited<ReturnType<typeof setupTestApp>>;
  beforeAll(async () => {
    t = await setupTestApp(backend);
  });
  afterAll(async () => t?.close());

  const api = async (method: 'POST' | 'PATCH', url: string, payload: object) => t.app.inject({ method, url, headers: authHeaders(), payload });
  const click = async (key: string) => {
    const res = await t.app.inject({ url: `/click/${key}`, headers: { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36' } });
    expect(res.statusCode).toBe(302);
    return { location: String(res.headers.location), clickId: /tlcid=([0-9A-Za-z]+)/.exec(String(res.headers['set-cookie']))![1] };
  };

  it('sends visitors to the other offers once an offer reaches its cap, until the day turns', async () => {
    const capped = await api('POST', '/api/offers', { name: 'Capped', url: 'https://capped.example/?c={clickid}', dailyCap: 2 });
    expect(capped.statusCode, capped.body).toBe(201);
    expect(capped.json().dailyCap).toBe(2);
    const open = (await api('POST', '/api/offers', { name: 'Open', url: 'https://open.example/?c={clickid}' })).json();
    expect(open.dailyCap).toBeNull();
    const ts = (await api('POST', '/api/traffic-sources', { name: 'Caps source' })).json();
    const campaign = await api('POST', '/api/campaigns', {
      name: 'Caps',
      trafficSourceId: ts.id,
      flow: { paths: [{ offers: [{ id: capped.json().id, weight: 1_000_000 }, { id: open.id, weight: 1 }] }] },
    });
    expect(campaign.statusCode, campaign.body).toBe(201);
    const key = campaign.json().key as string;
    await t.app.ctx.campaigns.refresh();

    // Two conversions reach the cap; a declined one does not count.
    const visits = [await click(key), await click(key), await click(key)];
    for (const v of visits) expect(v.location).toMatch(/^https:\/\/capped\.example\//);
    await t.app.ctx.clickWriter!.flush();
    for (const [i, status] of ['declined', 'approved'].entries()) {
      expect((await t.app.inject({ url: '/postback', query: { cid: visits[i].clickId, status } })).statusCode).toBe(200);
    }
    await t.app.ctx.offerCaps!.refresh();
    expect((await click(key)).location).toMatch(/^https:\/\/capped\.example\//);
    expect((await t.app.inject({ url: '/postback', query: { cid: visits[2].clickId, status: 'pending' } })).statusCode).toBe(200);
    await t.app.ctx.offerCaps!.refresh();
    expect(t.app.ctx.offerCaps!.capped().has(capped.json().id)).toBe(true);
    for (let i = 0; i < 5; i++) expect((await click(key)).location).toMatch(/^https:\/\/open\.example\//);

    // Tomorrow (in ACCOUNT_TIMEZONE) the count starts again; raising the cap lifts it today.
    expect(await cappedOffers(t.app.ctx.db, 'UTC', new Date(Date.now() + 86_400_000))).toEqual(new Set());
    const raised = await api('PATCH', `/api/offers/${capped.json().id}`, { dailyCap: 3 });
    expect(raised.json().dailyCap).toBe(3);
    await t.app.ctx.offerCaps!.refresh();
    expect(t.app.ctx.offerCaps!.capped().size).toBe(0);
  });

  it("sends a lander's click-through to an open offer when the visit's offer reached its cap while the visitor read the lander", async () => {
    const capped = (await api('POST', '/api/offers', { name: 'Lander capped', url: 'https://lcapped.example/?c={clickid}', dailyCap: 1 })).json();
    const open = (await api('POST', '/api/offers', { name: 'Lander open', url: 'https://lopen.example/?c={clickid}' })).json();
    const lander = (await api('POST', '/api/landers', { name: 'Lander', url: 'https://lp.example/?c={clickid}' })).json();
    const ts = (await api('POST', '/api/traffic-sources', { name: 'Lander caps source' })).json();
    const campaign = await api('POST', '/api/campaigns', {
      name: 'Lander caps',
      trafficSourceId: ts.id,
      flow: { paths: [{ landers: [{ id: lander.id }], offers: [{ id: capped.id, weight: 1_000_000 }, { id: open.id, weight: 1 }] }] },
    });
    expect(campaign.statusCode, campaign.body).toBe(201);
    const key = campaign.json().key as string;
    const first = await click(key);
    const reading = await click(key);
    expect(reading.location).toMatch(/^https:\/\/lp\.example\//);
    await t.app.ctx.clickWriter!.flush();
    expect((await t.app.inject({ url: '/postback', query: { cid: first.clickId } })).statusCode).toBe(200);
    await t.app.ctx.offerCaps!.refresh();
    expect(t.app.ctx.offerCaps!.capped().has(capped.id)).toBe(true);

    const cta = await t.app.inject({ url: `/cta?cid=${reading.clickId}` });
    expect(cta.statusCode).toBe(302);
    expect(cta.headers.location).toBe(`https://lopen.example/?c=${reading.clickId}`);
    await t.app.ctx.clickWriter!.flush();
    const rows = await t.app.ctx.db.select().from(landerClicks).where(eq(landerClicks.clickId, reading.clickId));
    expect(rows.map((r) => [r.slot, r.offerId])).toEqual([[1, open.id]]);
    // A multi-offer lander's slot names its offer: a slot is never moved.
    expect((await t.app.inject({ url: `/cta/1?cid=${reading.clickId}` })).headers.location).toBe(`https://lcapped.example/?c=${reading.clickId}`);
    // An unknown click sent to the campaign's default offer skips the capped one too.
    for (let i = 0; i < 5; i++) expect((await t.app.inject({ url: `/cta?cid=nope&campaign=${key}` })).headers.location).toBe('https://lopen.example/?c=');
  });

  it('refuses a cap that is not a positive whole number', async () => {
    for (const dailyCap of [0, -1, 1.5, '10']) {
      const res = await api('POST', '/api/offers', { name: 'Bad', url: 'https://bad.example/', dailyCap });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.field).toBe('dailyCap');
    }
  });
});
