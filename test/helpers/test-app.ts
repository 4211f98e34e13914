// Builds a tracker for one test file on its own fresh database and Redis prefix, on either
// backend: 'postgres' (real Postgres + Redis) or 'embedded' (PGlite in memory + in-process store).
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';
import { inject } from 'vitest';
import { buildApp } from '../../src/app.js';
import { configFrom, type Config } from '../../src/config.js';
import { openEmbedded, openPostgres, type Database } from '../../src/db/client.js';
import { migrate } from '../../src/db/migrate.js';
import type { HotStore } from '../../src/store/hot-store.js';
import { createMemoryStore } from '../../src/store/memory-store.js';
import { createRedisStore } from '../../src/store/redis-store.js';
import { adminUrl, assertTestDatabaseName, databaseUrl, TEST_DB_PREFIX, testRedisUrl } from './database-guard.js';

export type Backend = 'postgres' | 'embedded';
/** The backend matrix for suites that must behave the same on both. */
export const BACKENDS: Backend[] = ['postgres', 'embedded'];

export const TEST_API_KEY = 'test-bootstrap-key-0123456789';

/**
 * Runs every cleanup step even when an earlier one fails, then throws the first failure: a
 * cleanup that stops at its first error leaks everything after it (a database, Redis keys, a process).
 */
export async function runAll(steps: (() => unknown)[]): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length) throw failures[0];
}

/** A fresh Postgres database cloned from the run's migrated template. */
export async function createTestDatabase(): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `${TEST_DB_PREFIX}${Math.floor(Date.now() / 1000)}_${randomBytes(5).toString('hex')}`;
  assertTestDatabaseName(name);
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`create database "${name}" template "${inject('templateDatabase')}"`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: databaseUrl(name),
    async drop() {
      assertTestDatabaseName(name);
      const a = new pg.Client({ connectionString: adminUrl() });
      await a.connect();
      try {
        await a.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await a.end();
      }
    },
  };
}

/** Deletes every key under a test prefix. */
export async function clearRedisPrefix(prefix: string): Promise<void> {
  if (!prefix.startsWith('test:')) throw new Error(`refusing to clear Redis prefix "${prefix}"`);
  const redis = new Redis(testRedisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export interface TestBackendResources {
  backend: Backend;
  env: Record<string, string>;
  database: Database;
  store: HotStore;
  /** Closes the connections and removes the database and keys. */
  destroy(): Promise<void>;
}

/**
 * Opens one backend's resources. Several apps may share them (two instances on one database);
 * each app gets its own connections through `openShared` below.
 */
export async function openTestBackend(backend: Backend, env: Record<string, string> = {}): Promise<TestBackendResources> {
  if (backend === 'embedded') {
    const database = await openEmbedded({});
    await migrate(database).catch(async (err: unknown) => {
      await database.close().catch(() => undefined);
      throw err;
    });
    const store = createMemoryStore();
    return {
      backend,
      env: { ...env },
      database,
      store,
      async destroy() {
        await store.close();
        await database.close();
      },
    };
  }
  const db = await createTestDatabase();
  const prefix = `test:${db.name}:`;
  const fullEnv = { DATABASE_URL: db.url, REDIS_URL: testRedisUrl(), REDIS_PREFIX: prefix, ...env };
  const database = openPostgres({ url: db.url, poolMax: 5 });
  // Opened halfway (Redis down): what is open already is closed and dropped, not left behind.
  const store = await createRedisStore({ url: testRedisUrl(), prefix, commandTimeoutMs: 2000 }).catch(async (err: unknown) => {
    await runAll([() => database.close(), () => db.drop()]).catch(() => undefined);
    throw err;
  });
  return {
    backend,
    env: fullEnv,
    database,
    store,
    destroy: () => runAll([() => store.close(), () => database.close(), () => db.drop(), () => clearRedisPrefix(prefix)]),
  };
}

export interface TestApp {
  app: FastifyInstance;
  config: Config;
  backend: TestBackendResources;
  close(): Promise<void>;
}

/**
 * Builds an app on a backend. With `ownConnections` the app opens its own pool and Redis client
 * from the env (as a second tracker instance would); otherwise it shares the backend's.
 */
export async function buildTestApp(
  backend: TestBackendResources,
  opts: { env?: Record<string, string>; ownConnections?: boolean } = {},
): Promise<TestApp> {
  // Each app spills and replays visits in its own directory, never into another test's database;
  // close() removes them (they exist only once something spilled; a caller's own env wins).
  const spillDirs = [join(tmpdir(), `tracklane-test-spill-${randomBytes(5).toString('hex')}`), join(tmpdir(), `tracklane-test-postback-spill-${randomBytes(5).toString('hex')}`)];
  const config = configFrom({
    TRACKLANE_API_KEY: TEST_API_KEY,
    LOG_LEVEL: 'silent',
    PUBLIC_URL: 'http://track.test',
    CLICK_SPILL_DIR: spillDirs[0],
    POSTBACK_SPILL_DIR: spillDirs[1],
    ...backend.env,
    ...opts.env,
  });
  const own = opts.ownConnections && backend.backend === 'postgres';
  const app = await buildApp({
    config,
    database: own ? undefined : backend.database,
    store: own ? undefined : backend.store,
  });
  const removeSpillDirs = () => Promise.all(spillDirs.map((d) => rm(d, { recursive: true, force: true })));
  try {
    await app.ready();
  } catch (err) {
    await runAll([() => app.close(), removeSpillDirs]).catch(() => undefined);
    throw err;
  }
  return { app, config, backend, close: () => runAll([() => app.close(), removeSpillDirs]) };
}

/** One backend and one app for a test file; call in beforeAll, close in afterAll. */
export async function setupTestApp(backend: Backend, opts: { env?: Record<string, string> } = {}) {
  const resources = await openTestBackend(backend, opts.env);
  // A build that fails (a bad env, a plugin that throws) must not leave the database and keys behind.
  const t = await buildTestApp(resources, opts).catch(async (err: unknown) => {
    await resources.destroy().catch(() => undefined);
    throw err;
  });
  return {
    ...t,
    close: () => runAll([() => t.close(), () => resources.destroy()]),
  };
}

export const authHeaders = (key = TEST_API_KEY) => ({ 'api-key': key });
