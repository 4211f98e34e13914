import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

  it('refuses a cap that is not a positive whole number', async () => {
    for (const dailyCap of [0, -1, 1.5, '10']) {
      const res = await api('POST', '/api/offers', { name: 'Bad', url: 'https://bad.example/', dailyCap });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.field).toBe('dailyCap');
    }
  });
});
