// The recording thread on its own (src/tracking/remote-recorder.ts), against the real Postgres and
// Redis: what /click hands it lands in both, unique claims are answered there, a visit it still
// buffers is found by peek, flush and close mean written, and its stats reach the main thread.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { rows } from '../../src/db/client.js';
import { newCounters } from '../../src/tracking/click.js';
import { loadHotClick, type VisitRow } from '../../src/tracking/hot-click.js';
import { startRemoteRecorder, type RecorderSettings } from '../../src/tracking/remote-recorder.js';
import { openTestBackend, runAll, type TestBackendResources } from '../helpers/test-app.js';

const log = pino({ level: 'silent' });
const visit = (clickId: string): VisitRow => ({
  clickId,
  visitedAt: new Date('2030-01-01T00:00:00Z'),
  campaignId: 1,
  trafficSourceId: 1,
  params: { zone: '7', sub: 'ü & =' },
  cost: '0.01',
  country: 'DE',
  userAgent: 'Mozilla/5.0 test',
});

describe('recording thread', () => {
  let b: TestBackendResources;
  let dir: string;
  let settings: RecorderSettings;
  beforeAll(async () => {
    b = await openTestBackend('postgres');
    dir = mkdtempSync(join(tmpdir(), 'tracklane-thread-'));
    settings = {
      databaseUrl: b.env.DATABASE_URL,
      poolMax: 2,
      redisUrl: b.env.REDIS_URL,
      redisPrefix: b.env.REDIS_PREFIX,
      redisCommandTimeoutMs: 2000,
      batchMax: 100,
      // Long enough that the visits are still buffered in the thread when peek asks.
      flushMs: 60_000,
      bufferMax: 10_000,
      spillDir: dir,
      holdTimeoutMs: 5000,
      logLevel: 'silent',
      statsEveryMs: 100,
      uniqueWindowHours: 24,
    };
  });
  afterAll(() => runAll([() => b?.destroy(), () => dir && rmSync(dir, { recursive: true, force: true })]));
  const stored = async () =>
    rows<{ click_id: string; is_unique: boolean; params: Record<string, string>; country: string }>(
      b.database.db,
      sql`select click_id, is_unique, params, country from visits where click_id like 'thr%' order by click_id`,
    );

  it('writes the visits and hot records it is handed, answers unique claims, and flushes on request', async () => {
    const counters = newCounters();
    const { writer, recorder } = await startRemoteRecorder(settings, counters, log);
    try {
      for (let i = 0; i < 30; i++) {
        const v = visit(`thr${String(i).padStart(3, '0')}`);
        // Visitors 0-9 come back 3 times each: only their first visit is unique.
        recorder.record(v, `visitor${i % 10}`, 7);
      }
      // Still buffered in the thread (the flush interval is a minute): peek asks the thread. Waits
      // until the thread holds all 30 (their unique claims answered), not a fixed time.
      await vi.waitFor(async () => expect((await writer.freshStats()).visits.buffered).toBe(30), { timeout: 10_000, interval: 20 });
      expect((await writer.peek('thr007'))?.params).toEqual({ zone: '7', sub: 'ü & =' });
      expect(await writer.peek('thr999')).toBeUndefined();
      expect(await stored()).toEqual([]);

      await writer.flush();
      const got = await stored();
      expect(got).toHaveLength(30);
      expect(got.filter((r) => r.is_unique).map((r) => r.click_id)).toEqual(Array.from({ length: 10 }, (_, i) => `thr${String(i).padStart(3, '0')}`));
      expect(got[0]).toMatchObject({ country: 'DE', params: { zone: '7', sub: 'ü & =' } });
      expect((await loadHotClick(b.store, 'thr012'))?.visitedAt).toBe('2030-01-01T00:00:00.000Z');
      // The thread's stats come with the flush's answer.
      expect(writer.stats().visits).toMatchObject({ written: 30, buffered: 0, postgresHealthy: true });
      expect(counters).toMatchObject({ hotRecordFailed: 0, uniqueCheckFailed: 0, uniqueCheckTimedOut: 0 });
    } finally {
      await writer.close();
    }
  });

  it('writes everything it holds when closed, including visits handed over in the same turn', async () => {
    const { writer, recorder } = await startRemoteRecorder(settings, newCounters(), log);
    try {
      for (let i = 100; i < 140; i++) recorder.record(visit(`thr${i}`), `later${i}`, 7);
      writer.add(visit('thr200'));
      // Found before the turn ends, from the main thread's own pending list.
      expect((await writer.peek('thr200'))?.clickId).toBe('thr200');
    } finally {
      // The close under test, and the thread's end however the lines above went.
      await writer.close();
    }
    const ids = (await stored()).map((r) => r.click_id);
    expect(ids.filter((id) => id >= 'thr100')).toHaveLength(41);
  });

  it('starts another thread when it dies, and the visits recorded meanwhile wait for it and land', async () => {
    const { writer, recorder, thread } = await startRemoteRecorder(settings, newCounters(), log);
    try {
      const first = thread();
      const exited = new Promise((r) => first.once('exit', r));
      // What a crash looks like from here: the thread is gone without a word.
      await first.terminate();
      await exited;
      for (let i = 300; i < 320; i++) recorder.record(visit(`thr${i}`), `crash${i}`, 7);
      writer.addLanderClick({ clickId: 'thr300', slot: 1, clickedAt: new Date('2030-01-01T00:01:00Z'), visitedAt: new Date('2030-01-01T00:00:00Z'), offerId: null, campaignId: 1 });
      // Asked while no thread runs: answered by the next one, after it has the visits.
      await writer.flush();
      expect(thread()).not.toBe(first);
      const ids = (await stored()).map((r) => r.click_id).filter((id) => id >= 'thr300');
      expect(ids).toHaveLength(20);
      const clicks = await rows<{ n: number }>(b.database.db, sql`select count(*)::int as n from lander_clicks where click_id = 'thr300'`);
      expect(clicks[0].n).toBe(1);
      expect(writer.stats().visits.dropped).toEqual({});
    } finally {
      await writer.close();
    }
  });

  it('while no thread runs, peek answers at once (a postback goes on to Redis and Postgres), and the totals survive the restart', async () => {
    const { writer, recorder, thread } = await startRemoteRecorder(settings, newCounters(), log);
    try {
      for (let i = 400; i < 410; i++) recorder.record(visit(`thr${i}`), `total${i}`, 7);
      await writer.flush();
      expect(writer.stats().visits.written).toBe(10);
      const first = thread();
      const exited = new Promise((r) => first.once('exit', r));
      await first.terminate();
      await exited;
      // Answered without the next thread (before, the question waited in the outbox for it).
      expect(await writer.peek('thr401')).toBeUndefined();
      expect(thread()).toBe(first);
      for (let i = 410; i < 415; i++) recorder.record(visit(`thr${i}`), `total${i}`, 7);
      await writer.flush();
      expect(thread()).not.toBe(first);
      expect(writer.stats().visits).toMatchObject({ written: 15, batches: 2, buffered: 0 });
    } finally {
      await writer.close();
    }
  });
});
