// Redis going away under load, in a real server process. The tracker uses a private redis-server
// started here on a free loopback port and killed mid-run (the shared Redis on 6379 is never
// touched). Redirects must keep answering; postbacks for the clicks made during the outage must
// still attribute, through Postgres, once the visits are flushed; and the tracker must recover
// when Redis returns. Postgres backend only: the embedded backend has no Redis to lose.
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { freePort, spawnServer, waitForReady, type ServerProcess } from '../helpers/server-process.js';
import { seedDirectCampaignAt } from '../helpers/seed.js';
import { createTestDatabase, runAll, TEST_API_KEY } from '../helpers/test-app.js';

const cleanups: (() => unknown)[] = [];
afterAll(() => runAll(cleanups.reverse()));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A throwaway redis-server on loopback; resolves once it answers PING. */
async function startRedis(port: number): Promise<ChildProcess> {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  cleanups.push(() => proc.kill('SIGKILL'));
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    for (let i = 0; i < 100; i++) {
      try {
        if (client.status !== 'ready') await client.connect();
        if ((await client.ping()) === 'PONG') return proc;
      } catch {
        client.disconnect();
        await sleep(50);
      }
    }
    throw new Error(`redis-server did not answer on port ${port}`);
  } finally {
    client.disconnect();
  }
}

async function query<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

const POLL = { timeout: 10_000, interval: 100 };

interface Answered {
  clickId: string;
  duringOutage: boolean;
  ms: number;
}

/** Keeps `concurrency` visitors clicking until stopped; records every click ID answered with a 302. */
function clickLoad(server: ServerProcess, key: string, concurrency: number, outage: { on: boolean }) {
  const answered: Answered[] = [];
  const other: string[] = [];
  let running = true;
  let n = 0;
  const worker = async () => {
    while (running) {
      const i = n++;
      const started = performance.now();
      const duringOutage = outage.on;
      try {
        const res = await fetch(`${server.url}/click/${key}?adset_id=a${i % 5}&placement=feed`, {
          redirect: 'manual',
          headers: { 'user-agent': `Mozilla/5.0 (Linux; Android 14) Chrome/124.${i % 9}` },
          signal: AbortSignal.timeout(5000),
        });
        await res.arrayBuffer();
        const location = res.headers.get('location');
        if (res.status === 302 && location) {
          answered.push({ clickId: new URL(location).searchParams.get('sub1') ?? '', duringOutage, ms: performance.now() - started });
        } else other.push(`${res.status}`);
      } catch (err) {
        other.push((err as Error).message);
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    answered,
    other,
    async stop() {
      running = false;
      await Promise.all(workers);
    },
  };
}

describe('Redis unavailable during load (postgres backend)', () => {
  it('keeps redirecting, attributes postbacks for those clicks through Postgres, and recovers', async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const redisPort = await freePort();
    let redis = await startRedis(redisPort);

    // Seeded through a short-lived pool; the server loads campaigns at start-up.
    const { campaign } = await seedDirectCampaignAt(db.url, 'redisout', 'https://offer.example/go?sub1={clickid}');

    const port = await freePort();
    const server = spawnServer(
      {
        TRACKLANE_API_KEY: TEST_API_KEY,
        LOG_LEVEL: 'warn',
        DATABASE_URL: db.url,
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        REDIS_PREFIX: `test:${db.name}:`,
        REDIS_COMMAND_TIMEOUT_MS: '200',
        CLICK_FLUSH_MS: '100',
      },
      { port },
    );
    cleanups.push(() => server.stop('SIGKILL'));
    await waitForReady(server, { path: '/readyz' });

    const outage = { on: false };
    const load = clickLoad(server, campaign.key, 8, outage);
    // Redirects are flowing before Redis goes (however busy the machine is).
    await vi.waitFor(() => expect(load.answered.length).toBeGreaterThan(20), POLL);
    redis.kill('SIGKILL');
    outage.on = true;
    await sleep(2000);
    await load.stop();

    // Every request answered with a redirect, before and during the outage, none slow to a visitor.
    expect(load.other).toEqual([]);
    const during = load.answered.filter((a) => a.duringOutage);
    const before = load.answered.filter((a) => !a.duringOutage);
    expect(before.length).toBeGreaterThan(10);
    expect(during.length).toBeGreaterThan(10);
    for (const a of load.answered) expect(a.clickId).toMatch(/^[0-9A-Za-z]{1,24}$/);
    expect(new Set(load.answered.map((a) => a.clickId)).size).toBe(load.answered.length);
    expect(Math.max(...during.map((a) => a.ms))).toBeLessThan(2000);

    // Readiness names the dependency that is down.
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(JSON.stringify(await ready.json())).toContain('redis');

    // Every answered redirect is a visit in Postgres, once flushed.
    const countVisits = async () => Number((await query<{ n: string }>(db.url, 'select count(*) as n from visits'))[0].n);
    await expect.poll(countVisits, POLL).toBe(load.answered.length);

    // Postbacks for clicks made during the outage (and before it, whose hot records are out of
    // reach now) attribute through Postgres while Redis is still down.
    const sample = [...during.slice(0, 15), ...before.slice(0, 5)];
    for (const a of sample) {
      const res = await fetch(`${server.url}/postback?cid=${a.clickId}&payout=2.50&txid=tx-${a.clickId}`, { signal: AbortSignal.timeout(5000) });
      expect(res.status, await res.text()).toBe(200);
    }
    const ids = sample.map((a) => a.clickId);
    const conversions = await vi.waitFor(async () => {
      const rows = await query<{ click_id: string; campaign_id: number; payout: string }>(db.url, 'select click_id, campaign_id, payout from conversions where click_id = any($1)', [ids]);
      expect(rows).toHaveLength(ids.length);
      return rows;
    }, POLL);
    expect(conversions.map((c) => c.click_id).sort()).toEqual([...ids].sort());
    for (const c of conversions) {
      expect(c.campaign_id).toBe(campaign.id);
      expect(Number(c.payout)).toBe(2.5);
    }

    // Redis comes back on the same port: the tracker reconnects on its own.
    redis = await startRedis(redisPort);
    await expect.poll(() => fetch(`${server.url}/readyz`).then((r) => r.status), POLL).toBe(200);
    const after = await fetch(`${server.url}/click/${campaign.key}`, { redirect: 'manual' });
    expect(after.status).toBe(302);
    const afterId = new URL(after.headers.get('location')!).searchParams.get('sub1')!;
    const pb = await fetch(`${server.url}/postback?cid=${afterId}&payout=1&txid=after`);
    expect(pb.status).toBe(200);
    await expect.poll(async () => Number((await query<{ n: string }>(db.url, 'select count(*) as n from conversions where click_id = $1', [afterId]))[0].n), POLL).toBe(1);

    // A clean shutdown, not merely "not killed" (a crash on the way out exits 1).
    const code = await server.stop('SIGTERM');
    expect(code, server.output().slice(-3000)).toBe(0);
  }, 60_000);
});
