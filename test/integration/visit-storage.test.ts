// How visits are stored (narrow rows: user agents once, role parameters once, COPY on Postgres) and
// that nothing a user reads changes: the row read back whole, var:NAME reports and filters, the
// click log, and idempotency on click ID whichever write path a batch takes.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows, type Db } from '../../src/db/client.js';
import { readLog } from '../../src/reporting/raw-logs.js';
import { resolveRange, runReport } from '../../src/reporting/report-query.js';
import { foldRollupDeltas } from '../../src/reporting/rollup-deltas.js';
import { parseFilters, parseGroupBy } from '../../src/reporting/report-spec.js';
import { createVisitInserter, textHash } from '../../src/tracking/click-writer.js';
import type { VisitRow } from '../../src/tracking/hot-click.js';
import { readStoredVisit } from '../../src/tracking/stored-visit.js';
import { BACKENDS, setupTestApp } from '../helpers/test-app.js';

const AT = new Date('2024-05-02T10:20:00Z');
const UA = 'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36';

let seq = 0;
function visit(over: Partial<VisitRow> = {}): VisitRow {
  seq++;
  return {
    clickId: `T${String(seq).padStart(10, '0')}${Math.random().toString(36).slice(2, 8)}`,
    visitedAt: AT,
    campaignId: 7,
    trafficSourceId: 3,
    ruleIndex: -1,
    pathIndex: 0,
    pathName: 'main',
    offerId: 11,
    tsCampaign: 'cmp-1',
    tsAdset: 'set-2',
    tsAd: null,
    tsPlacement: null,
    externalId: `ext-${seq}`,
    params: { utm_campaign: 'cmp-1', adset: 'set-2', fbclid: `ext-${seq}`, sub2: `zone${seq % 2}` },
    paramRoles: { campaign: 'utm_campaign', adset: 'adset', externalId: 'fbclid' },
    ip: '85.12.33.4',
    userAgent: UA,
    device: 'mobile',
    os: 'android',
    osVersion: '14',
    browser: 'chrome',
    browserVersion: '124.0.6367.82',
    country: 'DE',
    language: 'de',
    referrerDomain: 'm.facebook.com',
    isBot: false,
    isUnique: true,
    cost: '0.012500',
    ...over,
  };
}

const count = async (db: Db, q: ReturnType<typeof sql>) => Number((await rows<{ n: string }>(db, q))[0].n);

describe.each(BACKENDS)('visit storage on %s', (backend) => {
  let t: Awaited<ReturnType<typeof setupTestApp>>;
  let db: Db;
  let write: ReturnType<typeof createVisitInserter>;

  beforeAll(async () => {
    t = await setupTestApp(backend);
    db = t.app.ctx.db;
    // The tracker's own choice: COPY when a pg pool is there (backend 'postgres'), unnest on PGlite.
    write = createVisitInserter(db, t.app.ctx.database.pool);
  });
  afterAll(async () => t?.close());

  it('reads a visit back whole while storing its user agent and role parameters once', async () => {
    const batch = [visit(), visit(), visit({ userAgent: null, paramRoles: null })];
    await write(batch);
    for (const v of batch) {
      const back = await readStoredVisit(db, v.clickId);
      expect(back).toMatchObject({ clickId: v.clickId, params: v.params, userAgent: v.userAgent, tsCampaign: 'cmp-1', externalId: v.externalId, cost: '0.012500' });
    }
    const [stored] = await rows<{ params: unknown; ua: string }>(db, sql`select params, user_agent_hash::text as ua from visits where click_id = ${batch[0].clickId}`);
    const params = typeof stored.params === 'string' ? JSON.parse(stored.params) : stored.params;
    expect(params).toEqual({ sub2: batch[0].params!.sub2 });
    expect(stored.ua).toBe(textHash(UA));
    expect(await count(db, sql`select count(*)::text as n from user_agents where user_agent = ${UA}`)).toBe(1);
  });

  it('keeps a parameter in params when its value is not the role column value', async () => {
    // A role column holding something else (a second param of the same role won) never loses the param.
    const v = visit({ tsCampaign: 'other', params: { utm_campaign: 'cmp-1', sub2: 'x' } });
    await write([v]);
    expect((await readStoredVisit(db, v.clickId))!.params).toEqual({ utm_campaign: 'cmp-1', sub2: 'x' });
  });

  it('computes the same user-agent hash in SQL as in the writer', async () => {
    for (const text of [UA, 'curl/8.0', 'ünïcødé ✓ 𝄞', '']) {
      const [r] = await rows<{ h: string }>(db, sql`select tracklane_text_hash(${text})::text as h`);
      expect(r.h).toBe(textHash(text));
    }
  });

  it('writes text with tabs, newlines, backslashes and \\N exactly', async () => {
    const odd = 'a\tb\nc\\d\\N\re "q" ü';
    const v = visit({ pathName: odd, tsAd: '\\N', referrerDomain: '\\', userAgent: `UA ${odd}`, params: { k: odd, 'tab\tkey': 'v\\' } });
    await write([v]);
    const back = (await readStoredVisit(db, v.clickId))!;
    expect(back).toMatchObject({ pathName: odd, tsAd: '\\N', referrerDomain: '\\', userAgent: `UA ${odd}` });
    // Role columns set without their parameters in the query add nothing to params.
    expect(back.params).toEqual({ k: odd, 'tab\tkey': 'v\\' });
  });

  it('writes a retried batch once, and the new rows of a batch that is partly stored', async () => {
    const first = [visit({ campaignId: 8 }), visit({ campaignId: 8 })];
    await write(first);
    const rolled = async () => {
      await foldRollupDeltas(db);
      return count(db, sql`select coalesce(sum(visits), 0)::text as n from report_visit_rollup where dim_set = 0 and grain = 1440 and campaign_id = 8`);
    };
    expect(await rolled()).toBe(2);
    // The same batch again (a commit whose answer was lost), then one that adds a row to it.
    await write(first);
    await write([...first, visit({ campaignId: 8 })]);
    expect(await count(db, sql`select count(*)::text as n from visits where campaign_id = 8`)).toBe(3);
    expect(await rolled()).toBe(3);
  });

  it('writes a batch larger than one COPY slice whole, and rolls it up once', async () => {
    const batch = Array.from({ length: 1234 }, (_, i) => visit({ campaignId: 10, isUnique: i % 2 === 0, userAgent: `UA ${i % 40}` }));
    await write(batch);
    expect(await count(db, sql`select count(*)::text as n from visits where campaign_id = 10`)).toBe(1234);
    await foldRollupDeltas(db);
    expect(await count(db, sql`select sum(unique_visits)::text as n from report_visit_rollup where dim_set = 0 and grain = 15 and campaign_id = 10`)).toBe(617);
    expect((await readStoredVisit(db, batch[1233].clickId))!.userAgent).toBe('UA 33');
  });

  it('reports and filters by var:NAME whether the parameter is stored in params or a role column', async () => {
    const batch = Array.from({ length: 6 }, (_, i) => visit({ campaignId: 9, tsCampaign: `c${i % 2}`, params: { utm_campaign: `c${i % 2}`, adset: 'set-2', fbclid: `f${i}`, sub2: `z${i % 3}` } }));
    await write(batch);
    const report = async (groupBy: string, filters: Record<string, string> = {}) => {
      const req = {
        from: { kind: 'date' as const, date: '2024-05-02' },
        to: { kind: 'date' as const, date: '2024-05-02' },
        tz: 'UTC',
        groupBy: parseGroupBy(groupBy),
        attribution: 'visit' as const,
        filters: parseFilters({ campaign: '9', ...filters }),
        page: 1,
        pageSize: 100,
      };
      const r = await runReport(db, req, await resolveRange(db, req.from, req.to, req.tz));
      // In value order, so the whole answer is compared: a stray row (a lost value, a null group) fails.
      return r.rows.map((row) => [row[groupBy], row.visits]).sort((x, y) => String(x[0]).localeCompare(String(y[0])));
    };
    expect(await report('var:utm_campaign')).toEqual([['c0', 3], ['c1', 3]]);
    expect(await report('var:sub2')).toEqual([['z0', 2], ['z1', 2], ['z2', 2]]);
    expect(await report('var:sub2', { 'var:utm_campaign': 'c1' })).toEqual([['z0', 1], ['z1', 1], ['z2', 1]]);
    expect(await report('var:fbclid', { 'var:fbclid': 'f4' })).toEqual([['f4', 1]]);

    const range = await resolveRange(db, { kind: 'date', date: '2024-05-02' }, { kind: 'date', date: '2024-05-02' }, 'UTC');
    const log = await readLog(db, { kind: 'clicks', range, filters: parseFilters({ campaign: '9', 'var:utm_campaign': 'c0' }), attribution: 'visit', limit: 10 });
    expect(log.items).toHaveLength(3);
    for (const item of log.items) {
      const params = typeof item.params === 'string' ? JSON.parse(item.params) : item.params;
      expect(params).toMatchObject({ utm_campaign: 'c0', adset: 'set-2' });
      expect(item.userAgent).toBe(UA);
    }
  });
});
