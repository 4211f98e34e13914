// The rollups three ways on one generated data set: kept by the triggers batch by batch, rebuilt
// in bulk (what the benchmark's loader does), and not used at all (raw rows). Each rollup set
// and grain must hold the same sums, and reports must not depend on which one they read.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows, type Db } from '../../src/db/client.js';
import { bulkLoadReportData } from '../../src/reporting/bulk-load.js';
import { resolveRange, runReport, type ReportRequest } from '../../src/reporting/report-query.js';
import { parseFilters, parseGroupBy } from '../../src/reporting/report-spec.js';
import { foldRollupDeltas } from '../../src/reporting/rollup-deltas.js';
import { rebuildReportRollups } from '../../src/reporting/rollup-rebuild.js';
import { BACKENDS, setupTestApp } from '../helpers/test-app.js';

const END = new Date('2024-03-12T00:00:00Z');

/** Every rollup row that carries something, in key order, as text (exact money). */
async function snapshot(db: Db) {
  // Visits and conversions reach the rollup tables through deltas; reports fold them first, and so does this.
  await foldRollupDeltas(db);
  const visits = await rows(
    db,
    sql`select dim_set, grain, bucket::text, campaign_id, traffic_source_id, offer_id, lander_id, affiliate_network_id, rule_index, path_index, country, device, os, browser, language, is_bot,
      visits, unique_visits, clicks, cost::text from report_visit_rollup where visits <> 0 or unique_visits <> 0 or clicks <> 0 or cost <> 0 order by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16`,
  );
  const conversions = await rows(
    db,
    sql`select attribution, dim_set, grain, bucket::text, campaign_id, traffic_source_id, offer_id, lander_id, affiliate_network_id, rule_index, path_index, country, device, os, browser, language, is_bot,
      type, status, conversions, payout::text, cost::text from report_conversion_rollup where conversions <> 0 or payout <> 0 or cost <> 0
      order by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19`,
  );
  return { visits, conversions };
}

describe.each(BACKENDS)('rollups on %s', (backend) => {
  let t: Awaited<ReturnType<typeof setupTestApp>>;
  let db: Db;
  let byTriggers: Awaited<ReturnType<typeof snapshot>>;

  beforeAll(async () => {
    t = await setupTestApp(backend);
    db = t.app.ctx.db;
    // Small statements, so many trigger batches share buckets and upsert into each other's rows.
    await bulkLoadReportData(db, { visits: 3000, conversions: 300, days: 3, campaigns: 4, end: END, batchSize: 250, viaTriggers: true });
    // Lander click-throughs after the visits were written: first ones count, second slots do not.
    await db.execute(sql`insert into lander_clicks (click_id, slot, clicked_at, visited_at, offer_id, campaign_id)
      select click_id, 1, visited_at + interval '1 minute', visited_at, offer_id, campaign_id from visits where lander_id is not null and right(click_id, 1) in ('1', '5', 'a')`);
    await db.execute(sql`insert into lander_clicks (click_id, slot, clicked_at, visited_at, offer_id, campaign_id)
      select click_id, 2, visited_at + interval '2 minutes', visited_at, offer_id, campaign_id from visits where lander_id is not null and right(click_id, 1) in ('5', '7')`);
    // A network reverses some sales and approves some pending ones; an updated_at touch changes nothing.
    await db.execute(sql`update conversions set status = case when status = 'approved' then 'declined' else 'approved' end, payout = payout + 1 where id % 4 = 0`);
    await db.execute(sql`update conversions set updated_at = now() where id % 5 = 0`);
    byTriggers = await snapshot(db);
  }, 120_000);
  afterAll(async () => t?.close());

  it('keeps every set and grain: 15 minutes for set 0 only, hours and days for all', async () => {
    const grains = await rows<{ dim_set: number; grain: number; visits: number }>(
      db,
      sql`select dim_set, grain, sum(visits)::int as visits from report_visit_rollup group by 1, 2 order by 1, 2`,
    );
    expect(grains.map((g) => [g.dim_set, g.grain, g.visits])).toEqual([
      [0, 15, 3000],
      [0, 60, 3000],
      [0, 1440, 3000],
      ...[1, 2, 3, 4, 5].flatMap((s) => [
        [s, 60, 3000],
        [s, 1440, 3000],
      ]),
    ]);
  });

  it('a bulk rebuild from raw rows equals what the triggers kept', async () => {
    await db.transaction(async (tx) => rebuildReportRollups(tx as unknown as Db));
    const rebuilt = await snapshot(db);
    expect(rebuilt.visits.length).toBeGreaterThan(100);
    expect(rebuilt.conversions.length).toBeGreaterThan(100);
    expect(rebuilt.visits).toEqual(byTriggers.visits);
    expect(rebuilt.conversions).toEqual(byTriggers.conversions);
  });

  it('reports read from each rollup set equal the same reports from raw rows', async () => {
    const queries: [string, string, Record<string, string>][] = [
      ['campaign,day,country', 'America/New_York', {}],
      ['offer,lander,path,day', 'Asia/Kolkata', {}],
      ['device,hour', 'Asia/Kathmandu', {}],
      ['os,country', 'Asia/Kolkata', { campaign: '2,3' }],
      ['browser,dayOfWeek', 'UTC', {}],
      ['language,hourOfDay', 'Asia/Kathmandu', { country: 'US,IN' }],
    ];
    for (const [groupBy, tz, filters] of queries) {
      for (const attribution of ['visit', 'postback'] as const) {
        const req: ReportRequest = {
          from: { kind: 'date', date: '2024-03-09' },
          to: { kind: 'date', date: '2024-03-11' },
          tz,
          groupBy: parseGroupBy(groupBy),
          attribution,
          filters: parseFilters(filters),
          page: 1,
          pageSize: null,
        };
        const range = await resolveRange(db, req.from, req.to, tz);
        const rollup = await runReport(db, req, range);
        const raw = await runReport(db, req, range, { forceRaw: true });
        expect(rollup.source, groupBy).toBe('rollup');
        expect(rollup.rows.length, groupBy).toBeGreaterThan(1);
        expect(rollup.rows, `${groupBy} ${tz} ${attribution}`).toEqual(raw.rows);
        expect(rollup.totals, `${groupBy} ${tz} ${attribution}`).toEqual(raw.totals);
      }
    }
  });
});
