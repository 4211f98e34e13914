import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import Fastify, { LogController } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, loggerOptions } from '../../src/app.js';
import { configFrom } from '../../src/config.js';
import { registerErrorHandling } from '../../src/http/errors.js';
import { readiness } from '../../src/http/health.js';
import { createApiKey } from '../../src/management/api-keys.js';
import { apiKeys } from '../../src/db/schema.js';
import { allowConnections, refuseConnections } from '../helpers/outage.js';
import { BACKENDS, openTestBackend, setupTestApp, TEST_API_KEY } from '../helpers/test-app.js';

/** The tracker's logger options (level, redaction, serializers), writing into `lines`. */
function capturedLogger(lines: string[], env: Record<string, string> = {}) {
  const options = loggerOptions(configFrom({ LOG_LEVEL: 'info', ...env })) as object;
  return { ...options, stream: { write: (line: string) => void lines.push(line) } };
}

describe.each(BACKENDS)('foundation on %s', (backend) => {
  let t: Awaited<ReturnType<typeof setupTestApp>>;
  beforeAll(async () => {
    t = await setupTestApp(backend);
  });
  afterAll(async () => t?.close());

  it('answers /healthz and /readyz', async () => {
    expect((await t.app.inject('/healthz')).json()).toEqual({ status: 'ok' });
    const ready = await t.app.inject('/readyz');
    expect(ready.statusCode).toBe(200);
    expect(ready.json().status).toBe('ready');
  });

  it('401s without a key, with a wrong key, and with a revoked key', async () => {
    const none = await t.app.inject('/api/api-keys');
    expect(none.statusCode).toBe(401);
    expect(none.json().error.code).toBe('unauthorized');
    expect((await t.app.inject({ url: '/api/api-keys', headers: { 'api-key': 'tl_wrong' } })).statusCode).toBe(401);
    expect((await t.app.inject({ url: '/api/api-keys', headers: { authorization: 'Bearer tl_wrong' } })).statusCode).toBe(401);

    const { id, key } = await createApiKey(t.app.ctx.db, 'to revoke');
    expect((await t.app.inject({ url: '/api/api-keys', headers: { 'api-key': key } })).statusCode).toBe(200);
    const del = await t.app.inject({ method: 'DELETE', url: `/api/api-keys/${id}`, headers: { 'api-key': TEST_API_KEY } });
    expect(del.statusCode).toBe(204);
    expect((await t.app.inject({ url: '/api/api-keys', headers: { 'api-key': key } })).statusCode).toBe(401);
  });

  it('accepts a created key with api-key and with Bearer, and the bootstrap key', async () => {
    const { key } = await createApiKey(t.app.ctx.db, 'reporting tool');
    const viaHeader = await t.app.inject({ url: '/api/api-keys', headers: { 'api-key': key } });
    expect(viaHeader.statusCode).toBe(200);
    expect(viaHeader.json().items.map((k: { name: string }) => k.name)).toContain('reporting tool');
    expect((await t.app.inject({ url: '/api/api-keys', headers: { authorization: `Bearer ${key}` } })).statusCode).toBe(200);
    expect((await t.app.inject({ url: '/api/api-keys', headers: { 'api-key': TEST_API_KEY } })).statusCode).toBe(200);
  });

  it('gives read-only keys GET on everything but the keys, and nothing else', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/api-keys', headers: { 'api-key': TEST_API_KEY }, payload: { name: 'optimiser', scope: 'read' } });
    expect(res.statusCode).toBe(201);
    expect(res.json().scope).toBe('read');
    const read = { authorization: `Bearer ${res.json().key}` };
    expect((await t.app.inject({ url: '/api/campaigns', headers: read })).statusCode).toBe(200);
    expect((await t.app.inject({ url: '/api/reports?from=2026-01-01&to=2026-01-02', headers: read })).statusCode).toBe(200);
    for (const req of [
      { method: 'POST' as const, url: '/api/traffic-sources', payload: { name: 'nope' } },
      { method: 'DELETE' as const, url: '/api/campaigns/1' },
      { method: 'GET' as const, url: '/api/api-keys' },
      { method: 'POST' as const, url: '/api/api-keys', payload: { name: 'escalate' } },
    ]) {
      const denied = await t.app.inject({ ...req, headers: read });
      expect(denied.statusCode, `${req.method} ${req.url}`).toBe(403);
      expect(denied.json().error.message).toContain('read-only');
    }
    const list = (await t.app.inject({ url: '/api/api-keys', headers: { 'api-key': TEST_API_KEY } })).json();
    expect(list.items.find((k: { name: string }) => k.name === 'optimiser').scope).toBe('read');
    expect(list.items.find((k: { name: string }) => k.name !== 'optimiser').scope).toBe('admin');
  });

  it('stores keys hashed, never in clear', async () => {
    const { key } = await createApiKey(t.app.ctx.db, 'hash check');
    const stored = await t.app.ctx.db.select().from(apiKeys);
    expect(stored.length).toBeGreaterThan(0);
    for (const row of stored) {
      expect(row.keyHash).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(row)).not.toContain(key);
    }
  });

  it('creates a key over the API and shows it once', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/api-keys', headers: { 'api-key': TEST_API_KEY }, payload: { name: 'from api' } });
    expect(res.statusCode).toBe(201);
    const { key } = res.json();
    expect(key).toMatch(/^tl_[0-9A-Za-z]{32}$/);
    const list = await t.app.inject({ url: '/api/api-keys', headers: { 'api-key': key } });
    // The key works and the list names it, yet never shows it: a 401 body would not contain it either.
    expect(list.statusCode).toBe(200);
    expect(list.json().items.map((k: { name: string }) => k.name)).toContain('from api');
    expect(JSON.stringify(list.json())).not.toContain(key);
  });

  it('answers bad input with the one JSON error shape naming the field', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/api-keys', headers: { 'api-key': TEST_API_KEY }, payload: { name: '' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'invalid_request', field: 'name' } });
    const badJson = await t.app.inject({
      method: 'POST',
      url: '/api/api-keys',
      headers: { 'api-key': TEST_API_KEY, 'content-type': 'application/json' },
      payload: '{"name":',
    });
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json()).toEqual({ error: { code: 'invalid_request', message: expect.stringMatching(/JSON/) } });
    const unknown = await t.app.inject('/nope');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('not_found');
  });

  it('takes Content-Type: application/json with an empty body as no body, and words Fastify\'s refusals in the API\'s codes', async () => {
    // Many HTTP clients send the header on every call; a DELETE (or a clone without options) has no body.
    const json = { 'api-key': TEST_API_KEY, 'content-type': 'application/json' };
    const { id, key } = await createApiKey(t.app.ctx.db, 'revoked by a chatty client');
    const del = await t.app.inject({ method: 'DELETE', url: `/api/api-keys/${id}`, headers: json, payload: '' });
    expect(del.statusCode, del.body).toBe(204);
    expect((await t.app.inject({ url: '/api/api-keys', headers: { 'api-key': key } })).statusCode).toBe(401);
    // A create with no body is still a 400 naming what is missing, in the one shape.
    const empty = await t.app.inject({ method: 'POST', url: '/api/api-keys', headers: json, payload: '' });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error.code).toBe('invalid_request');

    const badJson = await t.app.inject({ method: 'POST', url: '/api/api-keys', headers: json, payload: '{"name":' });
    expect(badJson.json()).toMatchObject({ error: { code: 'invalid_request' } });
    const poisoned = await t.app.inject({ method: 'POST', url: '/api/api-keys', headers: json, payload: '{"__proto__":{"scope":"admin"},"name":"p"}' });
    expect(poisoned.json()).toMatchObject({ error: { code: 'invalid_request' } });
    const tooLarge = await t.app.inject({ method: 'POST', url: '/api/api-keys', headers: json, payload: JSON.stringify({ name: 'x'.repeat(1_100_000) }) });
    expect(tooLarge.statusCode).toBe(413);
    expect(tooLarge.json()).toMatchObject({ error: { code: 'payload_too_large' } });
    const xml = await t.app.inject({ method: 'POST', url: '/api/api-keys', headers: { ...json, 'content-type': 'application/xml' }, payload: '<a/>' });
    expect(xml.statusCode).toBe(415);
    expect(xml.json()).toMatchObject({ error: { code: 'unsupported_media_type' } });
  });

  it('serves the OpenAPI document and the docs page', async () => {
    const spec = await t.app.inject('/openapi.json');
    expect(spec.statusCode).toBe(200);
    expect(spec.json().openapi).toMatch(/^3\./);
    expect(Object.keys(spec.json().paths)).toContain('/api/api-keys');
    const docs = await t.app.inject('/docs/');
    expect(docs.statusCode).toBe(200);
    expect(docs.body).toContain('swagger');
  });
});

describe('the error handler and the log', () => {
  async function appThrowing(lines: string[]) {
    // As the tracker runs: no access log (a postback's URL holds its secret).
    const app = Fastify({ logger: capturedLogger(lines), logController: new LogController({ disableRequestLogging: true }) });
    registerErrorHandling(app);
    const enospc = Object.assign(new Error("ENOSPC: no space left on device, write '/var/lib/tracklane/postback-spill/1.ndjson'"), { code: 'ENOSPC' });
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    app.get('/bug', async () => {
      throw new TypeError("Cannot read properties of undefined (reading 'id')");
    });
    app.get('/full', async () => {
      throw enospc;
    });
    app.get('/away', async () => {
      throw new DrizzleQueryError('insert into affiliate_networks (name, postback_secret) values ($1, $2)', ['n', 'secret-in-params-4711'], refused);
    });
    await app.ready();
    return app;
  }

  it('answers a bug with 500 and the request id, which the log line carries with the route (never the query string)', async () => {
    const lines: string[] = [];
    const app = await appThrowing(lines);
    const res = await app.inject('/bug?secret=postback-secret-in-url');
    expect(res.statusCode).toBe(500);
    const id = res.headers['x-request-id'];
    expect(id).toMatch(/^req-/);
    expect(res.json()).toEqual({ error: { code: 'internal_error', message: `internal error (request ${id}; the tracker's log has the details)` } });
    const logged = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'unhandled error');
    expect(logged).toMatchObject({ level: 50, reqId: id, method: 'GET', route: '/bug', err: { type: 'TypeError' } });
    expect(lines.join('')).not.toContain('postback-secret-in-url');
    await app.close();
  });

  it('answers a full or read-only disk with 503 and Retry-After, not a 500, and logs it as an error', async () => {
    const lines: string[] = [];
    const app = await appThrowing(lines);
    const res = await app.inject('/full');
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('30');
    expect(res.json()).toEqual({ error: { code: 'unavailable', message: 'the tracker cannot write to its disk (ENOSPC); try again shortly' } });
    const logged = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'cannot write to disk: it is full or read-only');
    expect(logged).toMatchObject({ level: 50, route: '/full', err: { code: 'ENOSPC' } });
    await app.close();
  });

  it('logs a statement Postgres did not take without its parameters', async () => {
    const lines: string[] = [];
    const app = await appThrowing(lines);
    const res = await app.inject('/away');
    expect(res.statusCode).toBe(503);
    const logged = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'Postgres is unavailable');
    expect(logged).toMatchObject({ level: 40, route: '/away', err: 'connect ECONNREFUSED 127.0.0.1:5432 (in: insert into affiliate_networks (name, postback_secret) values ($1, $2))' });
    expect(lines.join('')).not.toContain('secret-in-params-4711');
    await app.close();
  });

  it("words a Redis that is reconnecting in /readyz as that, not in ioredis's terms", async () => {
    const ok = { ping: async () => undefined };
    const offline = { ping: async () => Promise.reject(new Error("Stream isn't writeable and enableOfflineQueue options is false")) };
    const result = await readiness({ database: ok, store: offline } as never);
    expect(result).toEqual({ ready: false, failing: { redis: 'not connected (reconnecting)' } });
  });

  it("keeps an affiliate network's postback secret out of the log when Postgres is away as it is created", async () => {
    // Seen live: the 503 was right, but the warning carried drizzle's message, every parameter in it.
    const resources = await openTestBackend('postgres');
    const lines: string[] = [];
    const spill = mkdtempSync(join(tmpdir(), 'tracklane-foundation-log-'));
    const env = { ...resources.env, TRACKLANE_API_KEY: TEST_API_KEY, CLICK_SPILL_DIR: join(spill, 'v'), POSTBACK_SPILL_DIR: join(spill, 'p'), POSTBACK_WORKER_MS: '0' };
    const app = await buildApp({ config: configFrom(env), database: resources.database, store: resources.store, logger: capturedLogger(lines, env) });
    const dbName = new URL(resources.env.DATABASE_URL).pathname.slice(1);
    try {
      await app.ready();
      await refuseConnections(dbName);
      const res = await app.inject({
        method: 'POST',
        url: '/api/affiliate-networks',
        headers: { 'api-key': TEST_API_KEY },
        payload: { name: 'Network', preset: 'tune', postbackSecret: 'never-in-the-log-4711' },
      });
      expect(res.statusCode, res.body).toBe(503);
      expect(lines.map((l) => JSON.parse(l).msg)).toContain('Postgres is unavailable');
      expect(lines.join('')).not.toContain('never-in-the-log-4711');
    } finally {
      await allowConnections(dbName);
      await app.close();
      await resources.destroy();
      rmSync(spill, { recursive: true, force: true });
    }
  });
});
