// The hostile-input corpus and the checker shared by the hostile-input suites: send each request,
// and collect every 5xx, every duplicated Location header, every rejected request that wrote a
// row, and every answered redirect that did not record exactly one visit.
import { sql } from 'drizzle-orm';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { expect } from 'vitest';
import { rows } from '../../src/db/client.js';

export const LONG = 'A'.repeat(20_000);
/** Values for query parameters, path segments and JSON strings. Encoded with care: some are meant to be malformed. */
export const HOSTILE_RAW = [
  '%ff%fe%fd', // invalid UTF-8
  '%E0%A4%A', // truncated escape
  '%zz', // not an escape
  '%', // lone percent
  '%C0%AF', // overlong UTF-8 '/'
  '%0d%0aSet-Cookie:%20x=1', // header injection
  '%0d%0aLocation:%20https://evil.example',
  '%00', // NUL
  'a%00b',
  '..%2f..%2f..%2fetc%2fpasswd', // traversal
  '../../../../etc/passwd',
  '%2e%2e%2f%2e%2e%2f',
  "1'%20OR%20'1'='1", // SQL
  '1;%20DROP%20TABLE%20visits;--',
  '%27%22%5C%3B--',
  '%24%7Bjndi:ldap://127.0.0.1/a%7D',
  '%7B%7B7*7%7D%7D',
  '-1',
  '1e400',
  'NaN',
  '99999999999999999999999999',
  '0x7fffffff',
  '%F0%9F%98%80', // emoji
  '%ED%A0%80', // lone surrogate in UTF-8
  '//evil.example',
  '@evil.example',
  '%5Cevil.example',
  'javascript:alert(1)',
  LONG,
];

/** JSON bodies: bombs and wrong types. */
const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
const deepObj = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
export const HOSTILE_BODIES: (string | Buffer)[] = [
  deep(10_000),
  deepObj(10_000),
  JSON.stringify(Array.from({ length: 100_000 }, (_, i) => i)),
  JSON.stringify({ name: Array.from({ length: 50_000 }, () => 'x') }),
  JSON.stringify({ name: 'x'.repeat(900_000) }),
  '{"name":',
  '{"name":"a\u0000b"}',
  '{"name":"\\u0000"}',
  '{"name":"\\ud800"}',
  '{"__proto__":{"admin":true},"name":"p"}',
  '{"constructor":{"prototype":{"x":1}}}',
  'null',
  'true',
  '12',
  '"string"',
  '[]',
  '{}',
  JSON.stringify({ name: 123, url: ['a'], payout: { $gt: 0 }, flow: 'x', params: 'x', weight: -1, status: 'deleted' }),
  JSON.stringify({ name: null, url: null, payout: null, flow: null }),
  JSON.stringify({ name: "x'); DROP TABLE campaigns;--", url: 'javascript:alert(1)', payout: '1e400', currency: 'ZZZZ' }),
  JSON.stringify({ name: 'x', url: 'https://ok.example/?a={nosuchtoken}', payout: 'NaN', flow: { paths: [] } }),
  Buffer.from([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), // invalid UTF-8 inside JSON
];

export const HOSTILE_HEADERS: Record<string, string>[] = [
  { 'user-agent': LONG },
  { 'user-agent': '\u0000\u0001\u0002' },
  { 'accept-language': `${'x-'.repeat(2000)};q=abc` },
  { referer: 'http://[::1' },
  { referer: 'javascript:alert(1)' },
  { 'x-forwarded-for': 'not-an-ip, 999.1.1.1, ::ffff:zz' },
  { cookie: `tl_cid=${'%ff'.repeat(200)}; tl_cid=../../x; =;;;` },
  { accept: 'application/json', 'content-type': 'application/json' },
];

export interface Case {
  label: string;
  req: InjectOptions;
}

/**
 * Every table of the public schema, for exact row counts, but the report rollups and their deltas:
 * they are derived from the raw tables counted here, and the background fold moves rows between
 * them at any time.
 */
export async function publicTables(app: FastifyInstance): Promise<string[]> {
  return (
    await rows<{ table_name: string }>(
      app.ctx.db,
      sql`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' and table_name not like 'report\\_%' order by 1`,
    )
  ).map((r) => r.table_name);
}

/** Exact row counts of the tables, one round trip; the click writer is flushed first. */
export async function snapshot(app: FastifyInstance, tables: string[]): Promise<Record<string, string>> {
  await app.ctx.clickWriter?.flush();
  const [r] = await rows<Record<string, string>>(
    app.ctx.db,
    sql.raw(`select ${tables.map((n) => `(select count(*) from "${n}")::text as "${n}"`).join(', ')}`),
  );
  return r;
}

/** Sends each case; fails listing every offender; returns how often each status was seen. */
export async function checkCases(app: FastifyInstance, tables: string[], cases: Case[]): Promise<Record<number, number>> {
  const seen: Record<number, number> = {};
  const failures: string[] = [];
  let before = await snapshot(app, tables);
  for (const c of cases) {
    const res = await app.inject(c.req);
    seen[res.statusCode] = (seen[res.statusCode] ?? 0) + 1;
    if (res.statusCode >= 500) failures.push(`${c.label} answered ${res.statusCode}: ${res.body.slice(0, 200)}`);
    if (Array.isArray(res.headers.location)) failures.push(`${c.label}: several Location headers`);
    const after = await snapshot(app, tables);
    // A redirect that was answered is a visit that must be recorded, hostile values and all.
    if (res.statusCode === 302 && c.label.startsWith('/click') && Number(after.visits) !== Number(before.visits) + 1) {
      failures.push(`${c.label} answered 302 but ${Number(after.visits) - Number(before.visits)} visits were written`);
    }
    if (res.statusCode >= 400) {
      const changed = Object.keys(after).filter((k) => after[k] !== before[k]);
      if (changed.length) failures.push(`${c.label} was rejected (${res.statusCode}) but wrote rows in ${changed.join(', ')}`);
    }
    before = after;
  }
  expect(failures).toEqual([]);
  return seen;
}
