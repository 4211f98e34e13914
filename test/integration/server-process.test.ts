// The process as an operator runs it: config errors, start-up on an empty database, two instances
// racing to migrate, graceful exit.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { adminUrl, assertTestDatabaseName, databaseUrl, TEST_DB_PREFIX, testRedisUrl } from '../helpers/database-guard.js';
import { clearRedisPrefix } from '../helpers/test-app.js';
import { freePort, spawnServer, waitForReady } from '../helpers/server-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs a CLI (`npm run apikey`, `npm run migrate`) as the operator would, through tsx. */
const runCli = (script: string, args: string[], env: Record<string, string>) => runNode(['--import', 'tsx', script, ...args], env);

function runNode(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proc.stdout.on('data', (d) => (output += d));
    proc.stderr.on('data', (d) => (output += d));
    proc.once('exit', (code) => resolve({ code, output }));
  });
}

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

  it('compiles as `npm start` and the Dockerfile build it (tsc -p tsconfig.build.json)', async () => {
    // The tests run the TypeScript through tsx, which does not check types: a type error once passed
    // the whole suite while `npm start` and `docker build` stopped at the compiler.
    const tsc = await runNode([join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', 'tsconfig.build.json'], {});
    expect(tsc.output).toBe('');
    expect(tsc.code).toBe(0);
  }, 120_000);

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

  it('refuses a second process on the same embedded data directory with one line, and keeps the first one\'s data', async () => {
    // PGlite holds the database in the process: a second process on the directory (a second
    // `npm start`, `npm run apikey` as the README says) forked the data, and the last to close won.
    const dir = mkdtempSync(join(tmpdir(), 'tracklane-embedded-lock-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const env = { TRACKLANE_DATA_DIR: dir, TRACKLANE_API_KEY: 'lock-test-key-0123456789' };
    const first = spawnServer({ ...env, PORT: String(await freePort()) });
    cleanups.push(async () => void (await first.stop('SIGKILL')));
    await waitForReady(first, { timeoutMs: 60_000 });
    const api = (path: string, init: RequestInit = {}) =>
      fetch(first.url + path, { ...init, headers: { 'api-key': env.TRACKLANE_API_KEY, 'content-type': 'application/json' } });
    expect((await api('/api/traffic-sources', { method: 'POST', body: JSON.stringify({ name: 'kept' }) })).status).toBe(201);

    const second = spawnServer({ ...env, PORT: String(await freePort()) });
    cleanups.push(async () => void (await second.stop('SIGKILL')));
    expect(await second.exited).toBe(1);
    const lines = second.output().trim().split('\n');
    expect(lines, second.output()).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^tracklane failed to start: TRACKLANE_DATA_DIR ${dir} is in use by another Tracklane process \\(pid ${first.proc.pid}, `));

    const cli = await runCli('src/cli/apikey.ts', ['create', '--name', 'from the cli'], env);
    expect(cli.code).toBe(1);
    expect(cli.output.trim()).toMatch(/^TRACKLANE_DATA_DIR .* is in use by another Tracklane process .*\/api\/api-keys/);
    expect((await runCli('src/cli/migrate.ts', [], env)).code).toBe(1);

    // The first is untouched, and a clean stop releases the directory.
    const listBefore = (await (await api('/api/traffic-sources')).json()) as { items: { name: string }[] };
    expect(listBefore.items.map((t) => t.name)).toEqual(['kept']);
    expect(await first.stop('SIGTERM')).toBe(0);
    expect(existsSync(join(dir, 'tracklane.lock'))).toBe(false);

    // A lock left by a killed process is taken over: a crash must not keep the tracker down.
    const killed = spawnServer({ ...env, PORT: String(await freePort()) });
    cleanups.push(async () => void (await killed.stop('SIGKILL')));
    await waitForReady(killed, { timeoutMs: 60_000 });
    await killed.stop('SIGKILL');
    expect(existsSync(join(dir, 'tracklane.lock'))).toBe(true);
    const listed = await runCli('src/cli/apikey.ts', ['list'], env);
    expect(listed.code, listed.output).toBe(0);
    const third = spawnServer({ ...env, PORT: String(await freePort()) });
    cleanups.push(async () => void (await third.stop('SIGKILL')));
    await waitForReady(third, { timeoutMs: 60_000 });
    const listAfter = (await (await fetch(`${third.url}/api/traffic-sources`, { headers: { 'api-key': env.TRACKLANE_API_KEY } })).json()) as { items: { name: string }[] };
    expect(listAfter.items.map((t) => t.name)).toEqual(['kept']);
    expect(await third.stop('SIGTERM')).toBe(0);
  }, 180_000);

  it('stops with one line naming PORT when the port is taken, and releases the data directory', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const port = (taken.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'tracklane-port-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const server = spawnServer({ PORT: String(port), TRACKLANE_DATA_DIR: dir, TRACKLANE_API_KEY: 'port-test-key-0123456789', LOG_LEVEL: 'silent' });
    cleanups.push(async () => void (await server.stop('SIGKILL')));
    expect(await server.exited).toBe(1);
    expect(server.output().trim()).toBe(`tracklane failed to start: PORT ${port} on HOST 127.0.0.1 is already in use (another process listens there)`);
    expect(existsSync(join(dir, 'tracklane.lock'))).toBe(false);
  }, 60_000);

  it('stops with one line naming DATABASE_URL when Postgres does not answer', async () => {
    const server = spawnServer({ PORT: String(await freePort()), DATABASE_URL: 'postgres://postgres@127.0.0.1:1/tracklane_test_nowhere', LOG_LEVEL: 'silent' });
    cleanups.push(async () => void (await server.stop('SIGKILL')));
    expect(await server.exited).toBe(1);
    expect(server.output().trim()).toBe(
      'tracklane failed to start: cannot use Postgres at DATABASE_URL (postgres 127.0.0.1:1/tracklane_test_nowhere): connect ECONNREFUSED 127.0.0.1:1',
    );
    const migrate = await runCli('src/cli/migrate.ts', [], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/tracklane_test_nowhere' });
    expect(migrate.code).toBe(1);
    expect(migrate.output.trim()).toBe('migrate failed: cannot use Postgres at DATABASE_URL (postgres 127.0.0.1:1/tracklane_test_nowhere): connect ECONNREFUSED 127.0.0.1:1');
    const badConfig = await runCli('src/cli/migrate.ts', [], { PORT: 'abc' });
    expect(badConfig.output.trim()).toBe('migrate failed: invalid PORT: expected an integer 1-65535');
  }, 60_000);

  it('says how many migrations it applied, and that an up-to-date database is up to date', async () => {
    // It printed "migrations applied" either way: an operator could not tell a change from a no-op.
    const name = `${TEST_DB_PREFIX}${Math.floor(Date.now() / 1000)}_migrate`;
    assertTestDatabaseName(name);
    await withAdmin((c) => c.query(`create database "${name}"`));
    cleanups.push(() => withAdmin((c) => c.query(`drop database if exists "${name}" with (force)`)).then(() => undefined));
    const n = journal.entries.length;
    const fresh = await runCli('src/cli/migrate.ts', [], { DATABASE_URL: databaseUrl(name) });
    expect(fresh.output.trim()).toBe(`applied ${n} migrations to postgres 127.0.0.1:5432/${name} (${n} in all)`);
    expect(fresh.code).toBe(0);
    const again = await runCli('src/cli/migrate.ts', [], { DATABASE_URL: databaseUrl(name) });
    expect(again.output.trim()).toBe(`postgres 127.0.0.1:5432/${name} is up to date (${n} migrations)`);
    expect(again.code).toBe(0);
  }, 60_000);

  it('cuts a request that does not finish at shutdown, so the shutdown steps still run and it exits 0', async () => {
    // A client sending its body a byte a second held app.close() until SHUTDOWN_TIMEOUT_MS killed the
    // process (exit 1, "killed by timeout" in plain text), with no shutdown step run: buffered visits
    // unwritten, the embedded data directory's lock left behind.
    const dir = mkdtempSync(join(tmpdir(), 'tracklane-drain-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const key = 'drain-test-key-0123456789';
    const server = spawnServer({ PORT: String(await freePort()), TRACKLANE_DATA_DIR: dir, TRACKLANE_API_KEY: key, SHUTDOWN_TIMEOUT_MS: '8000' });
    cleanups.push(async () => void (await server.stop('SIGKILL')));
    await waitForReady(server, { timeoutMs: 60_000 });

    const slow = connect(Number(new URL(server.url).port), '127.0.0.1');
    cleanups.push(async () => void slow.destroy());
    await new Promise<void>((resolve) => slow.once('connect', resolve));
    slow.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => slow.once('close', () => resolve()));
    // Node answers 100 Continue once it has parsed the headers: from then on the request is in
    // flight, whatever the load on this machine (a SIGTERM before that finds an idle connection).
    const continued = new Promise<void>((resolve) => slow.once('data', (d) => String(d).startsWith('HTTP/1.1 100') && resolve()));
    slow.write(`POST /api/conversions HTTP/1.1\r\nHost: x\r\napi-key: ${key}\r\ncontent-type: text/csv\r\ncontent-length: 100000\r\nexpect: 100-continue\r\n\r\n`);
    await continued;
    slow.write('clickId,payout\r\n');

    const started = Date.now();
    expect(await server.stop('SIGTERM')).toBe(0);
    // The drain gets a quarter of SHUTDOWN_TIMEOUT_MS; the steps after it take a moment, never the rest.
    expect(Date.now() - started).toBeLessThan(8000);
    await closed;
    const lines = server.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; afterMs?: number });
    expect(lines.find((l) => l.msg === 'requests still in flight at shutdown; closing their connections')?.afterMs).toBe(2000);
    expect(lines.map((l) => l.msg)).toContain('stopped');
    expect(server.output()).not.toContain('killed by timeout');
    // The database's shutdown step ran: the directory is released.
    expect(existsSync(join(dir, 'tracklane.lock'))).toBe(false);
  }, 120_000);

  it('starts on the embedded default with no DATABASE_URL or REDIS_URL and prints a first API key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tracklane-embedded-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const server = spawnServer({ PORT: String(await freePort()), TRACKLANE_DATA_DIR: join(dir, 'data') });
    cleanups.push(async () => void (await server.stop('SIGKILL')));
    await waitForReady(server);
    const ready = (await (await fetch(`${server.url}/readyz`)).json()) as { backends: unknown };
    expect(ready.backends).toEqual({ postgres: 'embedded', redis: 'memory' });
    const key = /Your first API key \(shown once, keep it\): (tl_\w+)/.exec(server.output())?.[1];
    expect(key, server.output()).toMatch(/^tl_[0-9A-Za-z]{32}$/);
    expect((await fetch(`${server.url}/api/api-keys`, { headers: { 'api-key': key! } })).status).toBe(200);
    expect(server.output()).toContain('several instances need DATABASE_URL and REDIS_URL');
    expect(await server.stop('SIGTERM')).toBe(0);
  });
});
