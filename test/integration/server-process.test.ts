// The process as an operator runs it: config errors, start-up on an empty database, two instances
// racing to migrate, graceful exit.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { adminUrl, assertTestDatabaseName, databaseUrl, TEST_DB_PREFIX, testRedisUrl } from '../helpers/database-guard.js';
import { clearRedisPrefix } from '../helpers/test-app.js';
import { freePort, spawnServer, waitForReady } from '../helpers/server-process.js';

const journal = JSON.parse(readFileSync(new URL('../../migrations/meta/_journal.json', import.meta.url), 'utf8'));

async function withAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: adminUrl() });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

describe('the server process', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it('exits non-zero with one line naming PORT when PORT=abc', async () => {
    const server = spawnServer({ PORT: 'abc' });
    const code = await server.exited;
    expect(code).not.toBe(0);
    expect(server.output().trim()).toBe('invalid PORT: expected an integer 1-65535');
  });

  it('two instances started together on an empty database both come up; migrations ran once', async () => {
    const name = `${TEST_DB_PREFIX}${Math.floor(Date.now() / 1000)}_race`;
    assertTestDatabaseName(name);
    await withAdmin((c) => c.query(`create database "${name}"`));
    cleanups.push(() => withAdmin((c) => c.query(`drop database if exists "${name}" with (force)`)).then(() => undefined));
    const prefix = `test:${name}:`;
    cleanups.push(() => clearRedisPrefix(prefix));
    const env = { DATABASE_URL: databaseUrl(name), REDIS_URL: testRedisUrl(), REDIS_PREFIX: prefix, TRACKLANE_API_KEY: 'race-test-key-0123456789' };
    const [p1, p2] = await Promise.all([freePort(), freePort()]);
    const a = spawnServer({ ...env, PORT: String(p1) });
    const b = spawnServer({ ...env, PORT: String(p2) });
    cleanups.push(async () => void (await Promise.all([a.stop('SIGKILL'), b.stop('SIGKILL')])));
    await Promise.all([waitForReady(a), waitForReady(b)]);

    const applied = await withAdmin(async () => {
      const c = new pg.Client({ connectionString: databaseUrl(name) });
      await c.connect();
      try {
        return (await c.query('select count(*)::int as n from drizzle.__drizzle_migrations')).rows[0].n;
      } finally {
        await c.end();
      }
    });
    expect(applied).toBe(journal.entries.length);

    const res = await fetch(`${a.url}/api/api-keys`, { headers: { 'api-key': 'race-test-key-0123456789' } });
    expect(res.status).toBe(200);
    expect(await Promise.all([a.stop('SIGTERM'), b.stop('SIGTERM')])).toEqual([0, 0]);
  });

  it('starts on the embedded default with no DATABASE_URL or REDIS_URL and prints a first API key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tracklane-embedded-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const server = spawnServer({ PORT: String(await freePort()), TRACKLANE_DATA_DIR: join(dir, 'data') });
    cleanups.push(async () => void (await server.stop('SIGKILL')));
    await waitForReady(server);
    const ready = (await (await fetch(`${server.url}/readyz`)).json()) as { backends: unknown };
    expect(ready.backends).toEqual({ postgres: 'embedded', redis: 'memory' });
    const key = /Your first API key \(shown once, keep it\): (tl_\w+)/.exec(server.output())?.[1];
    expect(key).toBeTruthy();
    expect((await fetch(`${server.url}/api/api-keys`, { headers: { 'api-key': key! } })).status).toBe(200);
    expect(server.output()).toContain('several instances need DATABASE_URL and REDIS_URL');
    expect(await server.stop('SIGTERM')).toBe(0);
  });
});
