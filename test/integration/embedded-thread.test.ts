// The embedded database on its own thread behaves as PGlite did on the answering thread: errors keep
// their SQLSTATE, transactions commit or roll back as a whole and hold off other statements, and a
// stopped thread fails calls the way an unreachable Postgres does.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEmbedded, rows, type Database } from '../../src/db/client.js';
import { isFatal, startEmbeddedThread, type EmbeddedThreadEvent } from '../../src/db/embedded-thread.js';
import { isUnavailable, sqlState } from '../../src/db/errors.js';

describe('embedded database thread', () => {
  let database: Database;
  beforeAll(async () => {
    database = await openEmbedded({});
    await database.db.execute(sql`create table t (id int primary key, note text, at timestamptz)`);
  });
  afterAll(async () => database?.close());

  it('returns rows, with timestamps as Postgres writes them (drizzle parses them itself)', async () => {
    await database.db.execute(sql`insert into t values (1, 'one', '2026-11-22 10:00:00+00')`);
    expect(await rows(database.db, sql`select id, note, at from t where id = 1`)).toEqual([{ id: 1, note: 'one', at: '2026-11-22 10:00:00+00' }]);
  });

  it('keeps the SQLSTATE and details of an error, which is not "Postgres away"', async () => {
    const err = await database.db.execute(sql`insert into t values (1, 'again', now())`).catch((e: unknown) => e);
    expect(sqlState(err)).toBe('23505');
    expect(isUnavailable(err)).toBe(false);
    // The thread goes on after an error.
    expect(await rows(database.db, sql`select count(*)::int as n from t`)).toEqual([{ n: 1 }]);
  });

  it('commits a transaction as a whole, rolls it back on a throw, and holds other statements until it ends', async () => {
    await database.db.transaction(async (tx) => {
      await tx.execute(sql`insert into t values (2, 'two', now())`);
      await tx.execute(sql`insert into t values (3, 'three', now())`);
    });
    const failed = await database.db
      .transaction(async (tx) => {
        await tx.execute(sql`insert into t values (4, 'four', now())`);
        throw new Error('changed my mind');
      })
      .catch((e: Error) => e.message);
    expect(failed).toBe('changed my mind');
    expect(await rows(database.db, sql`select id from t order by id`)).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);

    let release!: () => void;
    const hold = new Promise<void>((resolve) => (release = resolve));
    let inserted!: () => void;
    const insideTransaction = new Promise<void>((resolve) => (inserted = resolve));
    const order: string[] = [];
    const tx = database.db.transaction(async (t) => {
      await t.execute(sql`insert into t values (5, 'five', now())`);
      inserted();
      await hold;
      order.push('transaction ends');
    });
    // The transaction holds the thread now (a fixed sleep here let a busy machine send the outside
    // statement before the transaction had begun).
    await insideTransaction;
    const outside = rows<{ n: number }>(database.db, sql`select count(*)::int as n from t`).then((r) => {
      order.push('outside statement');
      return r[0].n;
    });
    // Time for a statement that is not held to come back; it must not have.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(order).toEqual([]);
    release();
    await tx;
    // It waited for the commit, so it sees row 5.
    expect(await outside).toBe(4);
    expect(order).toEqual(['transaction ends', 'outside statement']);
  });

  it('fails every call after close as Postgres away (SQLSTATE 57P01), so writers keep their data', async () => {
    const other = await openEmbedded({});
    await other.close();
    const err = await other.db.execute(sql`select 1`).catch((e: unknown) => e);
    expect(isUnavailable(err)).toBe(true);
  });

  it('starts a thread that died again on the same data directory, with the data intact; calls meanwhile fail as Postgres away', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tracklane-embedded-thread-'));
    const events: EmbeddedThreadEvent[] = [];
    const thread = await startEmbeddedThread(dir, { onEvent: (e) => events.push(e), restartDelayMs: 50 });
    try {
      await thread.client.query('create table kept (n int)');
      await thread.client.query('insert into kept values (1), (2)');
      await thread.thread().terminate(); // as a WebAssembly abort would end it
      const during = await thread.client.query('select 1').catch((e: unknown) => e);
      expect(isUnavailable(during)).toBe(true);
      await expect.poll(() => events.map((e) => e.type), { timeout: 20_000 }).toEqual(['died', 'restarted']);
      const after = (await thread.client.query('select count(*)::int as n from kept')) as { rows: { n: number }[] };
      expect(after.rows).toEqual([{ n: 2 }]);
    } finally {
      await thread.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ends the thread on a WebAssembly trap or an Emscripten exit, which leave PGlite broken; not on an SQL error', () => {
    // The lib settings carry no WebAssembly values; Node has them.
    const { RuntimeError } = (globalThis as unknown as { WebAssembly: { RuntimeError: ErrorConstructor } }).WebAssembly;
    expect(isFatal(new RuntimeError('unreachable'))).toBe(true);
    expect(isFatal(Object.assign(new Error('Program terminated with exit(1)'), { name: 'ExitStatus' }))).toBe(true);
    expect(isFatal(new Error('query failed', { cause: new RuntimeError('memory access out of bounds') }))).toBe(true);
    expect(isFatal(Object.assign(new Error('duplicate key value violates unique constraint "t_pkey"'), { code: '23505' }))).toBe(false);
    expect(isFatal({ errno: 44 })).toBe(false);
  });

  it('fails a call whose parameters cannot be sent to the thread, and goes on', async () => {
    const err = await database.db.execute(sql`select ${(() => 1) as unknown as number} as f`).catch((e: unknown) => e);
    expect(String((err as Error).cause)).toMatch(/could not be cloned/);
    expect(await rows(database.db, sql`select 1 as one`)).toEqual([{ one: 1 }]);
  });
});
