// Two tracker instances on one Postgres and Redis: an edit made through one is what the other
// serves within a second, without a restart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authHeaders, buildTestApp, openTestBackend, runAll, type TestApp, type TestBackendResources } from '../helpers/test-app.js';

/** Polls `check` until it is true or `ms` pass; returns the time it took. */
async function within(ms: number, check: () => boolean): Promise<number> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error(`not true within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}

describe('campaign changes across instances (real Postgres and Redis)', () => {
  let resources: TestBackendResources;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    resources = await openTestBackend('postgres');
    a = await buildTestApp(resources, { ownConnections: true });
    b = await buildTestApp(resources, { ownConnections: true });
  });
  afterAll(() => runAll([() => a?.close(), () => b?.close(), () => resources?.destroy()]));

  const post = async (url: string, payload: unknown) => {
    const res = await a.app.inject({ method: 'POST', url, payload: payload as never, headers: authHeaders() });
    expect(res.statusCode, res.body).toBe(201);
    return res.json();
  };

  it('serves a campaign created and then edited through A from B within 1 s', async () => {
    const ts = await post('/api/traffic-sources', { name: 'TikTok', preset: 'tiktok' });
    const first = await post('/api/offers', { name: 'First', url: 'https://offer.example/1' });
    const second = await post('/api/offers', { name: 'Second', url: 'https://offer.example/2' });
    const c = await post('/api/campaigns', { name: 'Shared', trafficSourceId: ts.id, flow: { paths: [{ offers: [{ id: first.id }] }] } });

    const created = await within(1000, () => b.app.ctx.campaigns.byKey(c.key) !== undefined);
    expect(b.app.ctx.campaigns.byKey(c.key)?.offers.has(first.id)).toBe(true);

    const patch = await a.app.inject({
      method: 'PATCH',
      url: `/api/campaigns/${c.id}`,
      headers: { ...authHeaders(), 'if-match': `"campaign-${c.id}-v1"` },
      payload: { flow: { paths: [{ offers: [{ id: second.id }] }] } },
    });
    expect(patch.statusCode, patch.body).toBe(200);
    const edited = await within(1000, () => b.app.ctx.campaigns.byKey(c.key)?.flow.paths[0].offers[0].id === second.id);
    expect(b.app.ctx.campaigns.byKey(c.key)?.offers.get(second.id)?.url).toBe('https://offer.example/2');

    // An offer edit (not the campaign itself) also reaches B's resolved campaign.
    const offerEdit = await a.app.inject({ method: 'PATCH', url: `/api/offers/${second.id}`, headers: authHeaders(), payload: { url: 'https://offer.example/2b' } });
    expect(offerEdit.statusCode, offerEdit.body).toBe(200);
    const offerChanged = await within(1000, () => b.app.ctx.campaigns.byKey(c.key)?.offers.get(second.id)?.url === 'https://offer.example/2b');

    const archive = await a.app.inject({ method: 'DELETE', url: `/api/campaigns/${c.id}`, headers: authHeaders() });
    expect(archive.statusCode, archive.body).toBe(200);
    const archived = await within(1000, () => b.app.ctx.campaigns.byKey(c.key) === undefined);
    console.info(`propagation to the other instance: create ${created} ms, flow edit ${edited} ms, offer edit ${offerChanged} ms, archive ${archived} ms`);
  });
});
