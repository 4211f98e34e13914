// Issue 8's promise, end to end through the real process: with no DATABASE_URL or REDIS_URL the
// tracker starts on embedded Postgres, takes a campaign, clicks and a postback, reports them,
// and reports the same after a restart.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, spawnServer, waitForReady, type ServerProcess } from '../helpers/server-process.js';

const API_KEY = 'embedded-restart-key-0123456789';

describe('embedded default across a restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tracklane-restart-'));
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (port: number) => {
    server = spawnServer({ PORT: String(port), TRACKLANE_DATA_DIR: dir, TRACKLANE_API_KEY: API_KEY, CLICK_FLUSH_MS: '50' });
    await waitForReady(server, { timeoutMs: 60_000 });
    return server;
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON from our own API, checked by the assertions
  const api = async (s: ServerProcess, method: string, path: string, body?: unknown): Promise<any> => {
    const res = await fetch(s.url + path, {
      method,
      headers: { 'api-key': API_KEY, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.json();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
  const report = (s: ServerProcess) => api(s, 'GET', `/api/reports?groupBy=campaign&from=${day(-1)}&to=${day(1)}`);

  it('takes campaigns, clicks and postbacks, reports them, and keeps them after a restart', async () => {
    const port = await freePort();
    let s = await start(port);
    const ts = await api(s, 'POST', '/api/traffic-sources', { name: 'Push', preset: 'propellerads' });
    const offer = await api(s, 'POST', '/api/offers', { name: 'Sweepstake', url: 'https://offer.example/sw?sub={clickid}', payout: '2.50' });
    const campaign = await api(s, 'POST', '/api/campaigns', {
      name: 'Push US',
      trafficSourceId: ts.id,
      flow: { rules: [], paths: [{ offers: [{ id: offer.id }] }] },
    });

    const clickIds: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${s.url}/click/${campaign.key}?zoneid=${i}`, { redirect: 'manual', headers: { 'user-agent': `Mozilla/5.0 (Windows NT 10.0; Win64; x64) test/${i}` } });
      expect(res.status).toBe(302);
      const location = new URL(res.headers.get('location')!);
      expect(location.host).toBe('offer.example');
      clickIds.push(location.searchParams.get('sub')!);
    }
    for (const cid of clickIds.slice(0, 2)) {
      const pb = await fetch(`${s.url}/postback?cid=${cid}&payout=4.25&txid=t-${cid}`);
      expect(pb.status).toBe(200);
    }

    // Reports follow the writers; wait for the flush rather than sleeping a fixed time (a busy
    // machine may take a few seconds).
    await expect.poll(async () => (await report(s)).totals, { timeout: 20_000, interval: 100 }).toMatchObject({ visits: 5, conversions: 2 });
    const before: { totals: Record<string, unknown>; rows: unknown[] } = await report(s);
    expect(before.totals).toMatchObject({ visits: 5, conversions: 2 });
    expect(Number(before.totals.revenue)).toBe(8.5);

    expect(await s.stop('SIGTERM')).toBe(0);
    s = await start(port);
    const after = await report(s);
    expect(after.rows).toEqual(before.rows);
    expect(after.totals).toEqual(before.totals);
    // The campaign is still served after the restart.
    expect((await fetch(`${s.url}/click/${campaign.key}`, { redirect: 'manual' })).status).toBe(302);
    const code = await s.stop('SIGTERM');
    expect(code, s.output().slice(-3000)).toBe(0);
  }, 120_000);
});
