// The click writer on its own: visits Postgres refuses at shutdown go to disk and are written by
// the next process; a row Postgres refuses for its content never holds back the rows behind it.
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import pg from 'pg';
import { openPostgres, rows, type Db } from '../../src/db/client.js';
import { createClickWriter } from '../../src/tracking/click-writer.js';
import type { VisitRow } from '../../src/tracking/hot-click.js';
import { allowConnections, refuseConnections } from '../helpers/outage.js';
import { BACKENDS, openTestBackend, runAll, type TestBackendResources } from '../helpers/test-app.js';

const log = pino({ level: 'silent' });
const visit = (clickId: string, over: Partial<VisitRow> = {}): VisitRow => ({
  clickId,
  visitedAt: new Date('2030-01-01T00:00:00Z'),
  campaignId: 1,
  trafficSourceId: 1,
  params: { zone: '7' },
  cost: '0.01',
  ...over,
});
/** A database that is down: every statement fails the way a refused connection does (no SQLSTATE). */
const downDb = { execute: async () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })) } as unknown as Db;

describe.each(BACKENDS)('click writer spill and replay on %s', (backend) => {
  let b: TestBackendResources;
  let dir: string;
  beforeAll(async () => {
    b = await openTestBackend(backend);
    dir = mkdtempSync(join(tmpdir(), 'tracklane-spill-'));
  });
  afterAll(() => runAll([() => b?.destroy(), () => dir && rmSync(dir, { recursive: true, force: true })]));
  const opts = (db: Db) => ({ db, log, batchMax: 50, flushMs: 20, bufferMax: 1000, spillDir: dir, holdTimeoutMs: 1000 });
  const count = async () => (await rows<{ n: number }>(b.database.db, sql`select count(*)::int as n from visits`))[0].n;

  it('spills what Postgres refuses at shutdown, and the next start writes it exactly once', async () => {
    const down = await createClickWriter(opts(downDb));
    for (let i = 0; i < 120; i++) down.add(visit(`spill${String(i).padStart(4, '0')}`));
    expect((await down.peek('spill0007'))?.clickId).toBe('spill0007');
    await down.close();
    expect(readdirSync(dir).filter((f) => f.endsWith('.ndjson')).length).toBeGreaterThan(0);
    expect(down.stats().visits).toMatchObject({ spilled: 120, buffered: 0, dropped: {} });

    const up = await createClickWriter(opts(b.database.db));
    await up.flush();
    expect(await count()).toBe(120);
    expect(up.stats().visits.replayed).toBe(120);
    expect(readdirSync(dir).filter((f) => f.endsWith('.ndjson'))).toEqual([]);
    // Replaying the same visits again (another instance, a retry) adds nothing.
    for (let i = 0; i < 120; i++) up.add(visit(`spill${String(i).padStart(4, '0')}`));
    await up.close();
    expect(await count()).toBe(120);
    const [row] = await rows<{ params: unknown; cost: string }>(b.database.db, sql`select params, cost from visits where click_id = 'spill0007'`);
    expect(row).toEqual({ params: { zone: '7' }, cost: '0.010000' });
  });

  it('sets aside a row Postgres refuses and writes the rest of its batch', async () => {
    const w = await createClickWriter(opts(b.database.db));
    const before = await count();
    for (let i = 0; i < 30; i++) w.add(visit(`bad${String(i).padStart(3, '0')}`, i === 17 ? { country: 'TOOLONG' } : {}));
    await w.close();
    expect(await count()).toBe(before + 29);
    expect(w.stats().visits.dropped).toEqual({ refused_by_postgres: 1 });
    expect(readdirSync(dir).filter((f) => f.endsWith('.rejected'))).toHaveLength(1);
  });

  it('replays a spill file cut by a crash: the readable lines are written, the cut one set aside and counted', async () => {
    const before = await count();
    const lines = ['cut001', 'cut002', 'cut003'].map((id) => JSON.stringify(visit(id)));
    // The last line ends mid-row, as a crash or a full disk leaves it.
    writeFileSync(join(dir, 'visits-1000000000000-1-aaaaaa-0.ndjson'), `${lines.join('\n')}\n${JSON.stringify(visit('cut004')).slice(0, 40)}`);
    // A file an earlier run was still writing when it died (never renamed into place).
    const tmp = join(dir, 'visits-1000000000001-1-bbbbbb-1.ndjson.tmp');
    writeFileSync(tmp, `${JSON.stringify(visit('cut005'))}\n`);
    utimesSync(tmp, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
    const w = await createClickWriter(opts(b.database.db));
    await w.flush();
    await w.close();
    expect(await count()).toBe(before + 4);
    expect(w.stats().visits).toMatchObject({ replayed: 4, dropped: { damaged_spill_line: 1 } });
    const names = readdirSync(dir);
    expect(names.filter((f) => f.endsWith('.ndjson') || f.endsWith('.tmp'))).toEqual([]);
    const bad = names.filter((f) => f.endsWith('.bad'));
    expect(bad).toHaveLength(1);
    expect(readFileSync(join(dir, bad[0]), 'utf8')).toContain('cut004');
    rmSync(join(dir, bad[0]));
  });

  it('sets aside a row from an older run that cannot be serialised, and writes the rest of its file', async () => {
    const before = await count();
    const { visitedAt: _, ...noDate } = visit('old002');
    writeFileSync(join(dir, 'visits-1000000000002-1-cccccc-2.ndjson'), `${JSON.stringify(visit('old001'))}\n${JSON.stringify(noDate)}\n`);
    const w = await createClickWriter(opts(b.database.db));
    w.add(visit('old003'));
    await w.flush();
    await w.close();
    expect(await count()).toBe(before + 2);
    expect(w.stats().visits).toMatchObject({ postgresHealthy: true, dropped: { refused_by_postgres: 1 }, spillFilesPending: 0 });
    expect(readdirSync(dir).filter((f) => f.endsWith('.ndjson'))).toEqual([]);
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.rejected'))) rmSync(join(dir, f));
  });

  it('with Postgres down and the spill directory unusable: memory holds twice the limit, and every visit is written, spilled or counted', async () => {
    // A directory that cannot be created: its parent is a file.
    const blocker = join(dir, 'not-a-directory');
    writeFileSync(blocker, '');
    const w = await createClickWriter({ ...opts(downDb), bufferMax: 20, spillDir: join(blocker, 'spill') });
    for (let i = 0; i < 200; i++) w.add(visit(`full${String(i).padStart(4, '0')}`));
    await w.close();
    const s = w.stats().visits;
    expect(s.buffered).toBe(0);
    expect(s.spilled).toBe(0);
    expect(s.dropped.memory_and_disk_full).toBeGreaterThan(0);
    expect(s.dropped.unsaved_at_shutdown).toBeGreaterThan(0);
    expect(s.dropped.memory_and_disk_full! + s.dropped.unsaved_at_shutdown!).toBe(200);
    // What was left in memory at the end never exceeded twice the limit.
    expect(s.dropped.unsaved_at_shutdown).toBeLessThanOrEqual(40);
    rmSync(blocker);
  });
});

describe('click writer on real Postgres: outages, a hung Postgres, a stop during replay', () => {
  let b: TestBackendResources;
  let dir: string;
  let dbName: string;
  beforeAll(async () => {
    b = await openTestBackend('postgres');
    dbName = new URL(b.env.DATABASE_URL).pathname.slice(1);
    dir = mkdtempSync(join(tmpdir(), 'tracklane-spill-'));
  });
  afterAll(() => runAll([() => dbName && allowConnections(dbName), () => b?.destroy(), () => dir && rmSync(dir, { recursive: true, force: true })]));
  const count = async (like: string) => (await rows<{ n: number }>(b.database.db, sql`select count(*)::int as n from visits where click_id like ${like}`))[0].n;
  const spillFile = (name: string, ids: string[]) => writeFileSync(join(dir, name), ids.map((id) => JSON.stringify(visit(id))).join('\n') + '\n');

  it('replays files from an earlier run once Postgres is back, with no new visit to set it going', async () => {
    spillFile('visits-1000000000000-1-aaaaaa-0.ndjson', Array.from({ length: 40 }, (_, i) => `idle${String(i).padStart(3, '0')}`));
    await refuseConnections(dbName);
    const own = openPostgres({ url: b.env.DATABASE_URL, poolMax: 2 });
    try {
      const w = await createClickWriter({ db: own.db, pool: own.pool, log, batchMax: 50, flushMs: 20, bufferMax: 1000, spillDir: dir, holdTimeoutMs: 1000 });
      // The first replays fail while Postgres refuses (before, a writer that never tried went on unnoticed).
      await vi.waitFor(() => expect(w.stats().visits.failedBatches).toBeGreaterThanOrEqual(2), { timeout: 10_000, interval: 20 });
      expect(w.stats().visits.postgresHealthy).toBe(false);
      await allowConnections(dbName);
      // Nothing else sets the replay going: the writer's own retry must.
      await vi.waitFor(() => expect(w.stats().visits.spillFilesPending).toBe(0), { timeout: 15_000, interval: 50 });
      expect(await count('idle%')).toBe(40);
      expect(w.stats().visits).toMatchObject({ replayed: 40, postgresHealthy: true, spillFilesPending: 0 });
      await w.close();
    } finally {
      await allowConnections(dbName);
      await own.close();
    }
  }, 40_000);

  it('a stop during a long replay writes what is in memory and leaves the rest of the backlog on disk for the next start', async () => {
    for (let f = 0; f < 30; f++) spillFile(`visits-1000000000${String(f).padStart(3, '0')}-1-dddddd-${f}.ndjson`, Array.from({ length: 500 }, (_, i) => `back${f}x${i}`));
    const w = await createClickWriter({ db: b.database.db, pool: b.database.pool, log, batchMax: 100, flushMs: 20, bufferMax: 100_000, spillDir: dir, holdTimeoutMs: 1000 });
    // Replay has begun (bounded: a replay that never starts fails here, not at the test timeout).
    await vi.waitFor(() => expect(w.stats().visits.replayed).toBeGreaterThan(0), { timeout: 10_000, interval: 5 });
    for (let i = 0; i < 50; i++) w.add(visit(`live${i}`));
    await w.close();
    expect(await count('live%')).toBe(50);
    // The stop did not wait for the whole backlog.
    expect(readdirSync(dir).filter((f) => f.endsWith('.ndjson')).length).toBeGreaterThan(0);
    const next = await createClickWriter({ db: b.database.db, pool: b.database.pool, log, batchMax: 1000, flushMs: 20, bufferMax: 100_000, spillDir: dir, holdTimeoutMs: 1000 });
    await next.flush();
    while (next.stats().visits.spillFilesPending > 0) await next.flush();
    await next.close();
    expect(await count('back%')).toBe(30 * 500);
    expect(readdirSync(dir).filter((f) => f.endsWith('.ndjson'))).toEqual([]);
  }, 60_000);

  it('closes within its budget while a write hangs, spilling the batch; the next start writes it exactly once', async () => {
    // A Postgres that takes the connection and never answers: the table is locked by another session.
    const locker = new pg.Client({ connectionString: b.env.DATABASE_URL });
    await locker.connect();
    await locker.query('begin');
    await locker.query('lock table visits in access exclusive mode');
    let w: Awaited<ReturnType<typeof createClickWriter>>;
    try {
      w = await createClickWriter({ db: b.database.db, pool: b.database.pool, log, batchMax: 100, flushMs: 20, bufferMax: 1000, spillDir: dir, holdTimeoutMs: 1000, writeTimeoutMs: 10_000, closeBudgetMs: 1000 });
      for (let i = 0; i < 60; i++) w.add(visit(`hung${String(i).padStart(3, '0')}`));
      // The batch's write is sent and waits on the lock: the close below meets a hung write.
      await vi.waitFor(
        async () => expect((await rows<{ n: number }>(b.database.db, sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`))[0].n).toBeGreaterThanOrEqual(1),
        { timeout: 10_000, interval: 20 },
      );
      // Without a budget this waited for three 10 s write timeouts, past SHUTDOWN_TIMEOUT_MS, and the
      // process was killed with the visits in memory.
      await w.close();
      expect(w.stats().visits).toMatchObject({ buffered: 0, spilled: 60, dropped: {} });
      expect(readdirSync(dir).filter((f) => f.endsWith('.ndjson'))).toHaveLength(1);
    } finally {
      await locker.query('rollback');
      await locker.end();
    }
    const next = await createClickWriter({ db: b.database.db, pool: b.database.pool, log, batchMax: 100, flushMs: 20, bufferMax: 1000, spillDir: dir, holdTimeoutMs: 1000 });
    await next.flush();
    await next.close();
    expect(await count('hung%')).toBe(60);
    expect(readdirSync(dir).filter((f) => f.endsWith('.ndjson'))).toEqual([]);
  }, 40_000);
});
