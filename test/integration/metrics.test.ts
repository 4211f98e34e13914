import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDirectCampaign } from '../helpers/seed.js';
import { authHeaders, BACKENDS, setupTestApp } from '../helpers/test-app.js';

/** The value of one series in the exposition text, or undefined when it is absent. */
function series(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe.each(BACKENDS)('Prometheus metrics on %s', (backend) => {
  let t: Awaited<ReturnType<typeof setupTestApp>>;
  beforeAll(async () => {
    t = await setupTestApp(backend);
  });
  afterAll(async () => t?.close());

  const scrape = async () => {
    const res = await t.app.inject({ url: '/api/metrics', headers: authHeaders() });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.body;
  };

  it('counts visits, rows written and postback outcomes as they happen, with the process metrics', async () => {
    await seedDirectCampaign(t.app.ctx, 'metrics1');
    const before = await scrape();
    expect(series(before, 'tracklane_visits_total')).toBe(0);
    expect(series(before, 'tracklane_click_writer_postgres_healthy', '{table="visits"}')).toBe(1);
    expect(series(before, 'process_resident_memory_bytes')).toBeGreaterThan(0);

    const clickIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await t.app.inject({ url: '/click/metrics1', headers: { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36' } });
      expect(res.statusCode).toBe(302);
      clickIds.push(/tlcid=([0-9A-Za-z]+)/.exec(String(res.headers['set-cookie']))![1]);
    }
    await t.app.ctx.clickWriter!.flush();
    expect((await t.app.inject({ url: '/postback', query: { cid: clickIds[0], payout: '2', txid: 'm1' } })).statusCode).toBe(200);
    expect((await t.app.inject({ url: '/postback', query: { cid: clickIds[0], payout: '2', txid: 'm1' } })).statusCode).toBe(200);

    const after = await scrape();
    expect(series(after, 'tracklane_visits_total')).toBe(3);
    expect(series(after, 'tracklane_click_writer_written_rows_total', '{table="visits"}')).toBe(3);
    expect(series(after, 'tracklane_click_writer_buffered_rows', '{table="visits"}')).toBe(0);
    expect(series(after, 'tracklane_conversions_total', '{outcome="recorded"}')).toBe(1);
    expect(series(after, 'tracklane_conversions_total', '{outcome="duplicate"}')).toBe(1);
    expect(series(after, 'tracklane_tracking_problems_total', '{reason="hot_record_failed"}')).toBe(0);
    expect(after).toContain('# TYPE tracklane_visits_total counter');
  });

  it('needs the API key', async () => {
    expect((await t.app.inject('/api/metrics')).statusCode).toBe(401);
  });
});
