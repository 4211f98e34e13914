// Hostile input on every /api route, discovered from /openapi.json so a route added later is
// covered without editing this file: hostile ids, query values and bodies (JSON bombs, wrong
// types, NUL, invalid UTF-8). Never a 5xx, a 401 without a key, and no row written when rejected.
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCases, HOSTILE_BODIES, LONG, publicTables, type Case } from '../helpers/hostile.js';
import { authHeaders, BACKENDS, setupTestApp } from '../helpers/test-app.js';

describe.each(BACKENDS)('hostile input on /api, %s', (backend) => {
  let t: Awaited<ReturnType<typeof setupTestApp>>;
  let tables: string[] = [];
  beforeAll(async () => {
    t = await setupTestApp(backend);
    tables = await publicTables(t.app);
  });
  afterAll(async () => t?.close());

  it('every /api route from the OpenAPI document: hostile path ids, query values and bodies', async () => {
    const spec = (await t.app.inject('/openapi.json')).json() as { paths: Record<string, Record<string, unknown>> };
    const routes = Object.entries(spec.paths)
      .filter(([p]) => p.startsWith('/api/'))
      .flatMap(([p, methods]) => Object.keys(methods).map((m) => ({ path: p, method: m.toUpperCase() as InjectOptions['method'] })));
    expect(routes.length).toBeGreaterThan(0);
    const ids = ['-1', '99999999999999999999', "1'%20OR%201=1", '..%2f..%2fetc', '%00', '%ff', LONG.slice(0, 300)];
    // A cross-section of the corpus for query strings: every route gets each kind of malformation.
    const queryValues = ['%ff%fe%fd', '%E0%A4%A', '%zz', '%0d%0aSet-Cookie:%20x=1', '%00', '..%2f..%2fetc%2fpasswd', "1'%20OR%20'1'='1", '1e400', '-1', LONG];
    const cases: Case[] = [];
    for (const r of routes) {
      const fill = (id: string) => r.path.replace(/\{[^}]+\}/g, id);
      const hasParam = /\{[^}]+\}/.test(r.path);
      const withBody = r.method !== 'GET' && r.method !== 'DELETE';
      const json = { ...authHeaders(), 'content-type': 'application/json' };
      // Hostile ids with an otherwise ordinary request; hostile queries and bodies with an ordinary id.
      if (hasParam) {
        for (const id of ids) cases.push({ label: `${r.method} ${fill(id.slice(0, 30))}`, req: { method: r.method, url: fill(id), headers: withBody ? json : authHeaders(), payload: withBody ? '{}' : undefined } });
      }
      const url = fill('1');
      if (!withBody) {
        for (const v of queryValues) {
          const q = ['page', 'pageSize', 'limit', 'cursor', 'name', 'status', 'from', 'to', 'groupBy', 'tz', 'sort', 'format', 'campaign', 'attributed']
            .map((k) => `${k}=${v}`)
            .join('&');
          cases.push({ label: `${r.method} ${url}?${v.slice(0, 20)}`, req: { method: r.method, url: `${url}?${q}`, headers: authHeaders() } });
        }
      } else {
        for (const body of HOSTILE_BODIES) cases.push({ label: `${r.method} ${url} ${String(body).slice(0, 30)}`, req: { method: r.method, url, payload: body, headers: json } });
        cases.push({ label: `${r.method} ${url} csv`, req: { method: r.method, url, payload: `clickId,payout\n${'%ff,'.repeat(50)}\n"unterminated`, headers: { ...authHeaders(), 'content-type': 'text/csv' } } });
        cases.push({ label: `${r.method} ${url} If-Match`, req: { method: r.method, url, payload: '{}', headers: { ...json, 'if-match': '"\u0000\r\n"' } } });
      }
      // Without a key: 401 before anything is parsed, hostile or not.
      const noKey = await t.app.inject({ method: r.method, url: fill('1'), payload: r.method === 'GET' ? undefined : '{}', headers: { 'content-type': 'application/json' } });
      expect(noKey.statusCode, `${r.method} ${r.path} without a key`).toBe(401);
    }
    const seen = await checkCases(t.app, tables, cases);
    expect(seen[400] ?? 0).toBeGreaterThan(0);
  });

  it('keeps serving afterwards', async () => {
    expect((await t.app.inject('/healthz')).statusCode).toBe(200);
    expect((await t.app.inject({ url: '/api/api-keys', headers: authHeaders() })).statusCode).toBe(200);
  });
});
