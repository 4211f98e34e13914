// /postback while Postgres refuses connections: every postback is answered 200 and kept on disk,
// uploads get a 503 to send again, and once Postgres is back the kept postbacks are recorded in
// the order they came (an approval, then its reversal).
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asc, eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { attributionFor } from '../../src/attribution/service.js';
import { conversions, conversionStatusHistory } from '../../src/db/schema.js';
import { allowConnections, refuseConnections } from '../helpers/outage.js';
import { seedDirectCampaign } from '../helpers/seed.js';
import { authHeaders, buildTestApp, openTestBackend, runAll } from '../helpers/test-app.js';

const cleanups: (() => unknown)[] = [];
// Last registered first (connections allowed again before the database is dropped); one failing
// step does not leave the rest behind.
afterAll(() => runAll(cleanups.reverse()));

/**
 * An app on a Postgres database of its own (so the test can cut it off) with a spill directory of
 * its own and `replayMs` as POSTBACK_SPILL_REPLAY_MS; the workers are off. Returns it with one
 * visit per `clicks` made and flushed.
 */
async function outageApp(key: string, replayMs: string, clicks: number) {
  const backend = await openTestBackend('postgres');
  const dbName = new URL(backend.env.DATABASE_URL).pathname.slice(1);
  const spillDir = mkdtempSync(join(tmpdir(), 'tracklane-postback-spill-'));
  // Registered before the app is built, so a build that fails still drops the database.
  cleanups.push(() => backend.destroy(), () => rmSync(spillDir, { recursive: true, force: true }));
  const t = await buildTestApp(backend, { ownConnections: true, env: { POSTBACK_WORKER_MS: '0', POSTBACK_SPILL_REPLAY_MS: replayMs, POSTBACK_SPILL_DIR: spillDir } });
  cleanups.push(
    () => t.close(),
    () => allowConnections(dbName),
  );
  await seedDirectCampaign(t.app.ctx, key);
  const clickIds: string[] = [];
  for (let i = 0; i < clicks; i++) {
    const res = await t.app.inject({ url: `/click/${key}`, headers: { 'user-agent': 'Mozilla/5.0 Firefox/120.0' } });
    expect(res.statusCode).toBe(302);
    clickIds.push(/tlcid=([0-9A-Za-z]+)/.exec(String(res.headers['set-cookie']))![1]);
  }
  await t.app.ctx.clickWriter!.flush();
  return { t, dbName, spillDir, clickIds };
}

describe('/postback during a Postgres outage', () => {
  it('answers 200, keeps the postbacks on disk and records them in arrival order once Postgres is back', async () => {
    // The test replays by hand, at the moment it chooses.
    const { t, dbName, spillDir, clickIds } = await outageApp('pbout', '0', 2);
    const [a, b] = clickIds;

    // The outage: no new connections to this database, and every open one cut.
    await refuseConnections(dbName);
    const json = { accept: 'application/json' };
    const approved = await t.app.inject({ url: `/postback?cid=${a}&payout=10&txid=t1`, headers: json });
    expect(approved.statusCode).toBe(200);
    expect(approved.json()).toEqual({ status: 'ok', outcome: 'queued' });
    const reversed = await t.app.inject({ url: `/postback?cid=${a}&txid=t1&status=chargeback`, headers: json });
    expect(reversed.statusCode).toBe(200);
    expect(reversed.json()).toEqual({ status: 'ok', outcome: 'queued' });
    const text = await t.app.inject({ url: `/postback?clickid=${b}&sum=5.25` });
    expect(text.statusCode).toBe(200);
    expect(text.body).toBe('OK');
    // A cookie pixel (the click ID only in the tlcid cookie) is kept with its click ID.
    const pixel = await t.app.inject({ url: '/pixel.gif?payout=2&txid=px1', cookies: { tlcid: b } });
    expect(pixel.statusCode).toBe(200);
    expect(pixel.headers['content-type']).toBe('image/gif');
    // An upload has a caller that can send it again: told so, nothing kept.
    const upload = await t.app.inject({ method: 'POST', url: '/api/conversions', headers: authHeaders(), payload: [{ clickId: b, payout: '1', txid: 'up1' }] });
    expect(upload.statusCode).toBe(503);
    expect(upload.headers['retry-after']).toBe('5');
    expect(upload.json().error.code).toBe('unavailable');

    // Many at once share the file's fsyncs; 20 repeats of one postback still count once.
    const burst = await Promise.all([
      ...Array.from({ length: 100 }, (_, i) => t.app.inject({ url: `/postback?cid=${b}&payout=1&txid=up${i}` })),
      ...Array.from({ length: 20 }, () => t.app.inject({ url: `/postback?cid=${b}&payout=1&txid=up0` })),
    ]);
    expect(burst.map((r) => r.statusCode)).toEqual(Array(120).fill(200));

    const service = await attributionFor(t.app.ctx);
    expect(service.spill.stats()).toMatchObject({ queued: 124, backlog: 124 });
    // Still away: a pass keeps everything.
    expect(await service.replaySpill()).toEqual({ replayed: 0, left: 124 });
    const metrics = await t.app.inject({ url: '/api/metrics', headers: authHeaders() });
    expect(metrics.body).toMatch(/postback_spill_backlog 124/);

    await allowConnections(dbName);
    expect(await service.replaySpill()).toEqual({ replayed: 124, left: 0 });
    expect(readdirSync(spillDir).filter((f) => f.endsWith('.ndjson'))).toEqual([]);

    const all = await t.app.ctx.db.select().from(conversions).orderBy(asc(conversions.id));
    expect(all.filter((r) => r.txid.startsWith('up')).map((r) => r.txid).sort()).toEqual(Array.from({ length: 100 }, (_, i) => `up${i}`).sort());
    const rows = all.filter((r) => !r.txid.startsWith('up'));
    expect(rows.map((r) => ({ clickId: r.clickId, txid: r.txid, status: r.status, payout: r.payout }))).toEqual([
      { clickId: a, txid: 't1', status: 'declined', payout: '10.000000' },
      { clickId: b, txid: '', status: 'approved', payout: '5.250000' },
      { clickId: b, txid: 'px1', status: 'approved', payout: '2.000000' },
    ]);
    const history = await t.app.ctx.db.select().from(conversionStatusHistory).where(eq(conversionStatusHistory.conversionId, rows[0].id)).orderBy(asc(conversionStatusHistory.id));
    expect(history.map((h) => h.status)).toEqual(['approved', 'declined']);
    // The postback time is when the network called, not when Postgres came back.
    expect(Date.now() - rows[1].convertedAt.getTime()).toBeLessThan(60_000);
  }, 30_000);

  it('replays on its own once Postgres is back, also with the pending and forwarding workers off', async () => {
    // POSTBACK_WORKER_MS=0 leaves the workers to another instance; the spill is this one's own.
    const { t, dbName, clickIds: [clickId] } = await outageApp('pbself', '100', 1);

    await refuseConnections(dbName);
    const kept = await t.app.inject({ url: `/postback?cid=${clickId}&payout=4&txid=self1`, headers: { accept: 'application/json' } });
    expect(kept.json()).toEqual({ status: 'ok', outcome: 'queued' });
    await allowConnections(dbName);
    // Nobody replays by hand here: the spill's own timer must record it. (A read may still fail
    // while the pool reconnects; that counts as "not yet".)
    await expect
      .poll(async () => (await t.app.ctx.db.select().from(conversions).where(eq(conversions.clickId, clickId)).catch(() => [])).map((r) => [r.txid, r.payout]), { timeout: 15_000, interval: 100 })
      .toEqual([['self1', '4.000000']]);
  }, 30_000);
});
