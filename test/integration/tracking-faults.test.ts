// Durability of /click in a real server process: SIGTERM under load, a Postgres outage mid-run,
// and (in-process) a Redis that is not there. Each ends with visits in Postgres == redirects answered.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { openEmbedded } from '../../src/db/client.js';
import { migrate } from '../../src/db/migrate.js';
import { buildApp } from '../../src/app.js';
import { configFrom } from '../../src/config.js';
import { visits } from '../../src/db/schema.js';
import type { HotStore } from '../../src/store/hot-store.js';
import { createMemoryStore } from '../../src/store/memory-store.js';
import { testRedisUrl } from '../helpers/database-guard.js';
import { freePort, spawnServer, waitForReady, type ServerProcess } from '../helpers/server-process.js';
import { authHeaders, buildTestApp, clearRedisPrefix, createTestDatabase, openTestBackend, runAll, TEST_API_KEY } from '../helpers/test-app.js';
import { allowConnections, refuseConnections } from '../helpers/outage.js';
import { seedDirectCampaign, seedDirectCampaignAt, seedDirectCampaignIn } from '../helpers/seed.js';

const cleanups: (() => unknown)[] = [];
// Last registered first; one failing step does not leave the others' databases, keys and processes behind.
afterAll(() => runAll(cleanups.reverse()));

/** Keeps `concurrency` requests in flight until stopped; counts answers by status. */
function load(url: string, concurrency: number) {
  const counts = { answered302: 0, other: new Map<number, number>(), errors: 0, maxLatencyMs: 0 };
  let running = true;
  const worker = async () => {
    while (running) {
      const started = performance.now();
      try {
        const res = await fetch(url, { redirect: 'manual', headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0' } });
        await res.arrayBuffer();
        counts.maxLatencyMs = Math.max(counts.maxLatencyMs, performance.now() - started);
        if (res.status === 302) counts.answered302++;
        else counts.other.set(res.status, (counts.other.get(res.status) ?? 0) + 1);
      } catch {
        counts.errors++;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    counts,
    async stop() {
      running = false;
      await Promise.all(workers);
      return counts;
    },
  };
}

/** Waits until `counts` shows `n` answered redirects: the traffic is under way, however busy the machine. */
const answered = (counts: { answered302: number }, n: number) => vi.waitFor(() => expect(counts.answered302).toBeGreaterThanOrEqual(n), { timeout: 15_000, interval: 50 });

/** close-with-grace re-raises the signal once shutdown is done, so a clean SIGTERM exit reads as 143. */
const GRACEFUL_EXIT: (number | string)[] = [0, 143, 'SIGTERM'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function countVisits(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>('select count(*) as n from visits');
    return Number(rows[0].n);
  } finally {
    await client.end();
  }
}

async function startServer(env: Record<string, string>): Promise<ServerProcess> {
  const port = await freePort();
  const server = spawnServer({ TRACKLANE_API_KEY: TEST_API_KEY, LOG_LEVEL: 'warn', ...env }, { port });
  cleanups.push(() => server.stop('SIGKILL'));
  await waitForReady(server, { path: '/healthz' });
  return server;
}

describe('SIGTERM under load', () => {
  it('on postgres: exits within 10 s with every answered visit in Postgres', async () => {
    const db = await createTestDatabase();
    const prefix = `test:${db.name}:`;
    cleanups.push(() => db.drop(), () => clearRedisPrefix(prefix));
    await seedDirectCampaignAt(db.url, 'term1');
    const spill = mkdtempSync(join(tmpdir(), 'tracklane-spill-'));
    cleanups.push(() => rmSync(spill, { recursive: true, force: true }));
    // A long flush interval, so plenty of visits are still in memory when the signal comes.
    const server = await startServer({ DATABASE_URL: db.url, REDIS_URL: testRedisUrl(), REDIS_PREFIX: prefix, CLICK_FLUSH_MS: '5000', CLICK_SPILL_DIR: spill });

    const traffic = load(`${server.url}/click/term1`, 16);
    await answered(traffic.counts, 200);
    const sentAt = Date.now();
    const exited = server.stop('SIGTERM');
    const code = await exited;
    const tookMs = Date.now() - sentAt;
    const counts = await traffic.stop();

    expect(GRACEFUL_EXIT).toContain(code);
    expect(tookMs).toBeLessThan(10_000);
    expect(counts.answered302).toBeGreaterThan(100);
    expect(readdirSync(spill)).toEqual([]);
    expect(await countVisits(db.url)).toBe(counts.answered302);
  }, 45_000);

  it('on the embedded database: the same, read back from its data directory', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tracklane-embedded-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    // Migrate and seed the embedded files in-process, then hand them to the server.
    const seedDb = await openEmbedded({ dataDir });
    try {
      await migrate(seedDb);
      await seedDirectCampaignIn(seedDb.db, 'term2');
    } finally {
      await seedDb.close();
    }

    const server = await startServer({ TRACKLANE_DATA_DIR: dataDir, CLICK_FLUSH_MS: '5000' });
    const traffic = load(`${server.url}/click/term2`, 8);
    await answered(traffic.counts, 100);
    const sentAt = Date.now();
    const code = await server.stop('SIGTERM');
    const tookMs = Date.now() - sentAt;
    const counts = await traffic.stop();
    expect(GRACEFUL_EXIT).toContain(code);
    expect(tookMs).toBeLessThan(10_000);
    expect(counts.answered302).toBeGreaterThan(50);

    const after = await openEmbedded({ dataDir });
    try {
      const { rows } = (await after.db.execute('select count(*)::int as n from visits' as never)) as unknown as { rows: { n: number }[] };
      expect(rows[0].n, server.output()).toBe(counts.answered302);
    } finally {
      await after.close();
    }
  }, 60_000);
});

describe('Postgres outage mid-run', () => {
  it('answers every request 302 during the outage, spills to disk, and writes every visit once Postgres is back', async () => {
    const db = await createTestDatabase();
    const prefix = `test:${db.name}:`;
    // Cleanups run last-first: connections are allowed again before the database is dropped.
    cleanups.push(
      () => db.drop(),
      () => clearRedisPrefix(prefix),
      () => allowConnections(db.name),
    );
    await seedDirectCampaignAt(db.url, 'outage1');
    const spill = mkdtempSync(join(tmpdir(), 'tracklane-spill-'));
    cleanups.push(() => rmSync(spill, { recursive: true, force: true }));
    const server = await startServer({
      DATABASE_URL: db.url,
      REDIS_URL: testRedisUrl(),
      REDIS_PREFIX: prefix,
      CLICK_FLUSH_MS: '100',
      // The smallest memory buffer, so the outage also exercises spilling to disk and replay.
      CLICK_BUFFER_MAX: '1000',
      CLICK_SPILL_DIR: spill,
    });
    const traffic = load(`${server.url}/click/outage1`, 16);
    await answered(traffic.counts, 200);

    // The outage: no new connections to this database, and every open one cut.
    await refuseConnections(db.name);
    const atOutage = traffic.counts.answered302;
    traffic.counts.maxLatencyMs = 0;
    // Long enough to fill the memory buffer and spill (how long depends on how busy the machine is).
    const outageStart = Date.now();
    type Status = { clickWriter: { visits: { spilled: number; failedBatches: number; replayed: number; postgresHealthy: boolean; dropped: object } } };
    let status: Status = { clickWriter: { visits: { spilled: 0, failedBatches: 0, replayed: 0, postgresHealthy: true, dropped: {} } } };
    while (Date.now() - outageStart < 12_000) {
      await sleep(500);
      status = (await (await fetch(`${server.url}/api/tracking/status`, { headers: authHeaders() })).json()) as Status;
      if (status.clickWriter.visits.spilled > 0 && Date.now() - outageStart > 2000) break;
    }
    const duringOutage = traffic.counts.answered302 - atOutage;
    const slowestDuringOutage = traffic.counts.maxLatencyMs;
    await allowConnections(db.name);
    await sleep(1000);
    const counts = await traffic.stop();

    expect(counts.other.size, JSON.stringify([...counts.other])).toBe(0);
    expect(counts.errors).toBe(0);
    expect(duringOutage).toBeGreaterThan(1000);
    // No request waited for Postgres (a connection attempt alone may take 3 s to fail).
    expect(slowestDuringOutage).toBeLessThan(1000);
    expect(status.clickWriter.visits.postgresHealthy).toBe(false);
    expect(status.clickWriter.visits.failedBatches).toBeGreaterThan(0);
    expect(status.clickWriter.visits.spilled).toBeGreaterThan(0);

    // Retries back off up to 5 s; give the writer time to catch up, then compare.
    await expect.poll(() => countVisits(db.url), { timeout: 15_000, interval: 250 }).toBe(counts.answered302);
    const after = (await (await fetch(`${server.url}/api/tracking/status`, { headers: authHeaders() })).json()) as Status;
    // Everything spilled during the outage was replayed.
    expect(after.clickWriter.visits.replayed).toBe(after.clickWriter.visits.spilled);
    expect(after.clickWriter.visits.dropped).toEqual({});
    expect(readdirSync(spill).filter((f) => f.endsWith('.ndjson'))).toEqual([]);
    expect(GRACEFUL_EXIT).toContain(await server.stop('SIGTERM'));
  }, 45_000);
});

describe('Redis down', () => {
  it('keeps redirecting with valid click IDs, and the visit still lands in Postgres', async () => {
    const backend = await openTestBackend('postgres');
    cleanups.push(() => backend.destroy());
    // Port 1 on loopback: nothing listens, so every Redis command fails at once.
    const t = await buildTestApp(backend, { env: { REDIS_URL: 'redis://127.0.0.1:1' }, ownConnections: true });
    cleanups.push(() => t.close());
    expect(t.app.ctx.store.kind).toBe('redis');
    await seedDirectCampaign(t.app.ctx, 'noredis');
    const res = await t.app.inject({ url: '/click/noredis', headers: { 'user-agent': 'Mozilla/5.0 Firefox/120.0' } });
    expect(res.statusCode).toBe(302);
    const clickId = /tlcid=([0-9A-Za-z]+)/.exec(String(res.headers['set-cookie']))![1];
    expect(res.headers.location).toBe(`https://offer.example/go?sub1=${clickId}`);
    await t.app.ctx.clickWriter!.flush();
    expect(await countVisits(backend.env.DATABASE_URL)).toBe(1);
    // The click-through finds the visit in Postgres when Redis cannot answer.
    const cta = await t.app.inject({ url: `/cta?cid=${clickId}` });
    expect(cta.statusCode).toBe(302);
    expect(cta.headers.location).toBe(`https://offer.example/go?sub1=${clickId}`);
    const status = (await t.app.inject({ url: '/api/tracking/status', headers: authHeaders() })).json();
    expect(status.counters.hotRecordFailed).toBeGreaterThan(0);
    expect(status.counters.uniqueCheckFailed + status.counters.uniqueCheckTimedOut).toBeGreaterThan(0);
  });
});

describe('a hung hot store', () => {
  it('never holds a visit back: it is written, counted unique, and the timeout is counted', async () => {
    const backend = await openTestBackend('embedded');
    const spill = mkdtempSync(join(tmpdir(), 'tracklane-spill-'));
    cleanups.push(() => backend.destroy(), () => rmSync(spill, { recursive: true, force: true }));
    const memory = createMemoryStore();
    // Answers nothing, ever, for the unique check (a Redis that accepted the command and froze).
    const hung: HotStore = { ...memory, setAndClaim: () => new Promise<boolean[]>(() => undefined) };
    const app = await buildApp({ config: configFrom({ LOG_LEVEL: 'silent', TRACKLANE_API_KEY: TEST_API_KEY, CLICK_SPILL_DIR: spill }), database: backend.database, store: hung });
    cleanups.push(() => app.close());
    await seedDirectCampaign(app.ctx, 'hung1');
    const started = Date.now();
    const res = await app.inject({ url: '/click/hung1', headers: { 'user-agent': 'Mozilla/5.0 Firefox/120.0' } });
    expect(res.statusCode).toBe(302);
    expect(Date.now() - started).toBeLessThan(500);
    await app.ctx.clickWriter!.flush();
    const [row] = await app.ctx.db.select().from(visits);
    expect(row).toMatchObject({ isUnique: true });
    const status = (await app.inject({ url: '/api/tracking/status', headers: authHeaders() })).json();
    expect(status.counters.uniqueCheckTimedOut).toBe(1);
  });
});
