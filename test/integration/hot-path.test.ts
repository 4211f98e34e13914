// The batched pieces of the hot paths, on both backends: the store's setAndClaim (hot record +
// unique-visit marker of many visits in one call), /click's per-turn hot writes, and the postback
// insert batcher (a few batches in flight, duplicates still decided by the unique index).
import { eq, sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { insertConversions, createInsertBatcher, type InsertRequest } from '../../src/attribution/insert-batcher.js';
import { rows } from '../../src/db/client.js';
import { conversions } from '../../src/db/schema.js';
import { createHotVisitWriter, hotClickKey, loadHotClick, toHotClick } from '../../src/tracking/hot-click.js';
import { createFixture, newClickId, seedVisit, visitFor, type Fixture } from '../helpers/attribution-fixtures.js';
import { BACKENDS, setupTestApp } from '../helpers/test-app.js';

/**
 * The database handle with every statement the batcher sends counted: through drizzle's execute,
 * and on real Postgres through the pool's query (the batcher's prepared statement goes there).
 */
function watchStatements<T extends object>(db: T, on: { start(): void; end(): void }): T {
  const counted = (target: object, method: string) => async (...args: unknown[]) => {
    on.start();
    try {
      return await (Reflect.get(target, method) as (...a: unknown[]) => Promise<unknown>).apply(target, args);
    } finally {
      on.end();
    }
  };
  return new Proxy(db, {
    get(target, prop, receiver) {
      if (prop === 'execute') return counted(target, 'execute');
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === '$client' && value instanceof pg.Pool) {
        // Still a pg.Pool to instanceof (the batcher checks it), with query counted.
        return new Proxy(value, { get: (pool, p, r) => (p === 'query' ? counted(pool, 'query') : Reflect.get(pool, p, r)) });
      }
      return value;
    },
  });
}

/** `db` with its statements counted: how many in all, and the most running at once. */
function countStatements<T extends object>(db: T) {
  const counts = { statements: 0, running: 0, maxRunning: 0 };
  const watched = watchStatements(db, {
    start() {
      counts.running++;
      counts.statements++;
      counts.maxRunning = Math.max(counts.maxRunning, counts.running);
    },
    end() {
      counts.running--;
    },
  });
  return { watched, counts };
}

describe.each(BACKENDS)('hot path on %s', (backend) => {
  let t: Awaited<ReturnType<typeof setupTestApp>>;
  let f: Fixture;
  beforeAll(async () => {
    t = await setupTestApp(backend);
    f = await createFixture(t.app.ctx.db);
  });
  afterAll(async () => t?.close());

  it('setAndClaim sets every value and claims each marker once, also twice in one call', async () => {
    const { store } = t.app.ctx;
    const a = `hp:${newClickId()}`;
    const b = `hp:${newClickId()}`;
    const claims = await store.setAndClaim([
      { key: `${a}:v`, value: 'one', ttlSeconds: 60, claimKey: `${a}:u`, claimTtlSeconds: 60 },
      { key: `${b}:v`, value: 'two', ttlSeconds: 60, claimKey: `${a}:u`, claimTtlSeconds: 60 },
      { key: `${b}:w`, value: 'three', ttlSeconds: 60, claimKey: `${b}:u`, claimTtlSeconds: 60 },
    ]);
    expect(claims).toEqual([true, false, true]);
    expect(await store.get(`${a}:v`)).toBe('one');
    expect(await store.get(`${b}:v`)).toBe('two');
    expect(await store.get(`${b}:w`)).toBe('three');
    // A later call sees the markers; the value is overwritten (a lander click refreshes the record).
    expect(await store.setAndClaim([{ key: `${a}:v`, value: 'again', ttlSeconds: 60, claimKey: `${b}:u`, claimTtlSeconds: 60 }])).toEqual([false]);
    expect(await store.get(`${a}:v`)).toBe('again');
    expect(await store.setAndClaim([])).toEqual([]);
  });

  it('gets of one turn (one MGET on Redis) each get their own value, absent keys null', async () => {
    const { store } = t.app.ctx;
    const k = `hp:${newClickId()}`;
    await store.set(`${k}:1`, 'one', 60);
    await store.set(`${k}:3`, 'three', 60);
    const keys = [`${k}:1`, `${k}:2`, `${k}:3`, `${k}:1`];
    expect(await Promise.all(keys.map((key) => store.get(key)))).toEqual(['one', null, 'three', 'one']);
    expect(await store.get(`${k}:3`)).toBe('three');
  });

  it('setAndClaim markers expire with their own TTL', async () => {
    const { store } = t.app.ctx;
    const k = `hp:${newClickId()}`;
    const claim = () => store.setAndClaim([{ key: `${k}:v`, value: 'x', ttlSeconds: 60, claimKey: `${k}:u`, claimTtlSeconds: 1 }]);
    expect(await claim()).toEqual([true]);
    // Claimable again once its 1 s is up, long before the value's 60 s (polled: no fixed sleep to tune).
    await expect.poll(claim, { timeout: 10_000, interval: 100 }).toEqual([true]);
    expect(await store.get(`${k}:v`)).toBe('x');
  });

  it('hot writes of one turn go out together and each visit gets its own answer', async () => {
    const { store } = t.app.ctx;
    const answers = new Map<string, boolean>();
    const calls: number[] = [];
    const counting = { ...store, setAndClaim: (entries: Parameters<typeof store.setAndClaim>[0]) => (calls.push(entries.length), store.setAndClaim(entries)) };
    const done = new Promise<void>((resolve, reject) => {
      const writer = createHotVisitWriter(counting, {
        maxBatch: 4,
        onClaimed: (id, first) => {
          answers.set(id, first);
          if (answers.size === 6) resolve();
        },
        // A failed call fails the test at once, rather than leaving it to wait for the timeout.
        onFailed: (_ids, err) => reject(err),
      });
      const visitor = `v${newClickId()}`;
      for (let i = 0; i < 6; i++) {
        const v = visitFor(f, { clickId: newClickId() });
        // Visits 0-2 share a visitor: only the first is unique.
        writer.add(v.clickId, { key: hotClickKey(v.clickId), value: JSON.stringify(toHotClick(v)), ttlSeconds: 60, claimKey: `uniq:${f.campaignId}:${i < 3 ? visitor : `${visitor}${i}`}`, claimTtlSeconds: 60 });
      }
    });
    await done;
    expect(calls).toEqual([4, 2]);
    expect([...answers.values()]).toEqual([true, false, false, true, true, true]);
    const first = [...answers.keys()][0];
    expect((await loadHotClick(store, first))?.clickId).toBe(first);
  });

  it('hot writes report a failing store for every visit of the call', async () => {
    const failed: string[] = [];
    const errors: string[] = [];
    const claimed: string[] = [];
    const broken = { ...t.app.ctx.store, setAndClaim: () => Promise.reject(new Error('store down')) };
    await new Promise<void>((resolve) => {
      const writer = createHotVisitWriter(broken, {
        onClaimed: (id) => claimed.push(id),
        // Asserted below, not in here: a failed expect inside the writer's callback may never reach the test.
        onFailed: (ids, err) => {
          errors.push(err.message);
          failed.push(...ids);
          resolve();
        },
      });
      writer.add('a1', { key: 'hp:a1', value: '1', ttlSeconds: 60, claimKey: 'hp:a1:u', claimTtlSeconds: 60 });
      writer.add('a2', { key: 'hp:a2', value: '1', ttlSeconds: 60, claimKey: 'hp:a2:u', claimTtlSeconds: 60 });
    });
    expect(failed).toEqual(['a1', 'a2']);
    expect(errors).toEqual(['store down']);
    expect(claimed).toEqual([]);
  });

  it('the insert batcher records concurrent postbacks once each, duplicates included, with batches in flight together', async () => {
    const { db } = t.app.ctx;
    const visits = await Promise.all(Array.from({ length: 40 }, () => seedVisit(t.app.ctx, f, 'postgres')));
    const request = (clickId: string, txid: string): InsertRequest => ({
      values: {
        clickId, type: 'conversion', txid, status: 'approved', payout: '1.5', originalPayout: '1.5', originalCurrency: 'USD', cost: '0',
        visitedAt: new Date(), convertedAt: new Date(), campaignId: f.campaignId, trafficSourceId: f.trafficSourceId, offerId: f.offerId,
      },
      forward: null,
    });
    // Counts statements running at once through the database's own view of the batcher's inserts.
    const { watched, counts } = countStatements(db);
    const batcher = createInsertBatcher(watched, { maxInFlight: 3 });
    // On Postgres a lock held elsewhere keeps the first batch from committing before the others are
    // sent (on a busy machine it sometimes did), so the three are certainly in flight together.
    const blocker = backend === 'postgres' ? await t.app.ctx.database.pool!.connect() : undefined;
    await blocker?.query('begin; lock table conversions in share mode');
    // Three waves a turn apart, each its own batch, all in flight together: the unique index, not
    // the order, decides which of two identical postbacks gets the row.
    const first = visits.map((v, i) => batcher.insert(request(v.clickId, `tx${i}`)));
    await new Promise((r) => setImmediate(r));
    const repeats = visits.map((v, i) => batcher.insert(request(v.clickId, `tx${i}`)));
    await new Promise((r) => setImmediate(r));
    const sameBatch = [batcher.insert(request(visits[0].clickId, 'twin')), batcher.insert(request(visits[0].clickId, 'twin'))];
    if (blocker) {
      await vi.waitFor(() => expect(counts.running).toBeGreaterThanOrEqual(2));
      await blocker.query('commit');
      blocker.release();
    }
    const [ids, repeatIds, twins] = await Promise.all([Promise.all(first), Promise.all(repeats), Promise.all(sameBatch)]);
    await batcher.drain();
    expect(counts.statements).toBeGreaterThanOrEqual(2);
    // PGlite often answers a batch before the next turn, so only the pool shows the overlap.
    expect(counts.maxRunning).toBeGreaterThanOrEqual(backend === 'postgres' ? 2 : 1);
    expect(counts.maxRunning).toBeLessThanOrEqual(3);
    // Each postback and its repeat: exactly one of the two recorded.
    expect(ids.map((id, i) => [id, repeatIds[i]].filter((x) => typeof x === 'number').length)).toEqual(ids.map(() => 1));
    expect(twins.filter((id) => id !== null)).toHaveLength(1);
    const [n] = await rows<{ n: string; s: string }>(db, sql`select count(*)::text as n, sum(payout)::text as s from conversions where campaign_id = ${f.campaignId} and txid like 'tx%'`);
    expect(Number(n.n)).toBe(40);
    expect(Number(n.s)).toBe(60);
    expect(await db.select({ id: conversions.id }).from(conversions).where(eq(conversions.txid, 'twin'))).toHaveLength(1);
    // A request after the load gets its answer without waiting on anything left over.
    const [late] = await insertConversions(db, [request(visits[0].clickId, 'late')]);
    expect(late).not.toBeNull();
    expect(await db.select({ id: conversions.id }).from(conversions).where(eq(conversions.txid, 'late'))).toHaveLength(1);
  });

  it('the insert batcher starts another batch beside a running one only once enough postbacks wait, and strands none', async () => {
    const { db } = t.app.ctx;
    const visits = await Promise.all(Array.from({ length: 4 }, () => seedVisit(t.app.ctx, f, 'postgres')));
    const { watched, counts } = countStatements(db);
    const batcher = createInsertBatcher(watched, { maxInFlight: 4, minBatchWhileBusy: 8 });
    const request = (clickId: string): InsertRequest => ({
      values: {
        clickId, type: 'conversion', txid: 'minbatch', status: 'approved', payout: '2', originalPayout: '2', originalCurrency: 'USD', cost: '0',
        visitedAt: new Date(), convertedAt: new Date(), campaignId: f.campaignId, trafficSourceId: f.trafficSourceId, offerId: f.offerId,
      },
      forward: null,
    });
    const first = batcher.insert(request(visits[0].clickId));
    await new Promise((r) => setImmediate(r));
    // Three postbacks a turn later: too few to open a second statement beside the first.
    const rest = visits.slice(1).map((v) => batcher.insert(request(v.clickId)));
    const ids = await Promise.all([first, ...rest]);
    await batcher.drain();
    expect(ids).toEqual(Array(4).fill(expect.any(Number)));
    expect(counts.statements).toBe(2);
    expect(counts.maxRunning).toBe(1);
    const [n] = await rows<{ n: string }>(db, sql`select count(*)::text as n from conversions where txid = 'minbatch'`);
    expect(Number(n.n)).toBe(4);
  });
});
