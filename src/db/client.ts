// The database handle shared by every capability: real Postgres (pg pool) or, when no
// DATABASE_URL is set, embedded Postgres (PGlite). Both are drizzle PgDatabase over the same
// schema, so every query is written once; `kind` lets a fast path (COPY) pick its driver.
import { mkdirSync } from 'node:fs';
import type { SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { lockDataDir } from './data-dir-lock.js';
import { startEmbeddedThread, type EmbeddedThread, type EmbeddedThreadEvent } from './embedded-thread.js';
import * as schema from './schema.js';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface Database {
  readonly kind: 'postgres' | 'embedded';
  readonly db: Db;
  /** Present for real Postgres only: the pool, for COPY and LISTEN-style work. */
  readonly pool?: pg.Pool;
  /** Where the data lives, for the start-up log (never includes a password). */
  readonly describe: string;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Runs a raw SQL statement and returns its rows, identically on both drivers. */
export async function rows<T = Record<string, unknown>>(db: Db, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown as { rows: T[] };
  return result.rows;
}

export interface PostgresOptions {
  url: string;
  poolMax?: number;
  onError?: (err: Error) => void;
}

export function openPostgres({ url, poolMax = 10, onError }: PostgresOptions): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolMax,
    // A dead Postgres must fail a flush quickly (the click writer retries), not hang it.
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30000,
    keepAlive: true,
  });
  // An idle client losing its connection emits here; unhandled, it would crash the process.
  pool.on('error', (err) => onError?.(err));
  const db = drizzlePg(pool, { schema }) as unknown as Db;
  const u = new URL(url);
  return {
    kind: 'postgres',
    db,
    pool,
    describe: `postgres ${u.hostname}:${u.port || 5432}${u.pathname}`,
    async ping() {
      await pool.query('select 1');
    },
    async close() {
      await pool.end();
    },
  };
}

export interface EmbeddedOptions {
  /** A directory for the data, or undefined for an in-memory database (tests). */
  dataDir?: string;
  /** Told when the database's thread dies and when it has been started again. */
  onThreadEvent?: (event: EmbeddedThreadEvent) => void;
}

export async function openEmbedded({ dataDir, onThreadEvent }: EmbeddedOptions): Promise<Database> {
  const { drizzle: drizzlePglite } = await import('drizzle-orm/pglite');
  let unlock = () => {};
  if (dataDir) {
    mkdirSync(dataDir, { recursive: true });
    // Before PGlite reads a file: a second process on the directory would fork the data.
    unlock = lockDataDir(dataDir);
  }
  let thread: EmbeddedThread;
  try {
    // On a thread of its own: PGlite runs each statement on the thread that calls it (embedded-thread.ts).
    thread = await startEmbeddedThread(dataDir, { onEvent: onThreadEvent });
  } catch (err) {
    unlock();
    throw err;
  }
  const db = drizzlePglite(thread.client as never, { schema }) as unknown as Db;
  return {
    kind: 'embedded',
    db,
    describe: dataDir ? `embedded postgres (PGlite) in ${dataDir}` : 'embedded postgres (PGlite) in memory',
    async ping() {
      await thread.client.query('select 1');
    },
    async close() {
      try {
        await thread.close();
      } finally {
        unlock();
      }
    },
  };
}
