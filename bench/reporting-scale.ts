// Reporting at scale, on its own scratch database: the click writer's insert path with the rollup
// triggers (rows/s), the bulk loader, the reports (median of 5) and table sizes per
// million visits. `npm run bench` measures the same things among the rest; this is the quick loop.
//   npx tsx bench/reporting-scale.ts ingest 200000
//   npx tsx bench/reporting-scale.ts reports 1000000 20000
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { openPostgres, rows } from '../src/db/client.js';
import { migrate } from '../src/db/migrate.js';
import { bulkLoadReportData } from '../src/reporting/bulk-load.js';
import { resolveRange, runReport, type ReportRequest } from '../src/reporting/report-query.js';
import { foldRollupDeltas } from '../src/reporting/rollup-deltas.js';
import { parseFilters, parseGroupBy } from '../src/reporting/report-spec.js';
import { createClickIdGenerator } from '../src/tracking/click-id.js';
import { createVisitInserter } from '../src/tracking/click-writer.js';
import { syntheticVisit } from './ingest.js';

const ADMIN = process.env.SCALE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const [mode = 'reports', a = '1000000', b = '20000'] = process.argv.slice(2);
const name = process.env.SCALE_DB ?? `tracklane_test_scale_${randomBytes(3).toString('hex')}`;
const keep = process.env.SCALE_KEEP === '1';

const admin = new pg.Client({ connectionString: ADMIN });
await admin.connect();
const exists = (await admin.query('select 1 from pg_database where datname = $1', [name])).rowCount;
if (!exists) await admin.query(`create database "${name}"`);
const database = openPostgres({ url: ADMIN.replace(/\/[^/]*$/, `/${name}`) });
const db = database.db;
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
try {
  // SCALE_NO_MIGRATE=1 measures a database prepared by hand (an older migration, for before/after).
  if (process.env.SCALE_NO_MIGRATE !== '1') await migrate(database);
  if (mode === 'ingest') {
    const total = Number(a);
    const campaign: Parameters<typeof syntheticVisit>[0] = { key: 'c1', campaignId: 1, trafficSourceId: 1, offerId: 1 };
    const ids = createClickIdGenerator();
    // SCALE_UNNEST=1 measures the INSERT ... FROM unnest path (PGlite's, and the idempotent retry).
    const batchSize = Number(process.env.SCALE_BATCH ?? 2000);
    const insertVisits = createVisitInserter(db, process.env.SCALE_UNNEST === '1' ? undefined : database.pool);
    for (const triggers of [false, true]) {
      await db.execute(sql.raw(`alter table visits ${triggers ? 'enable' : 'disable'} trigger visits_rollup_trg`));
      let ms = 0;
      for (let done = 0; done < total; done += batchSize) {
        const at = new Date();
        const batch = Array.from({ length: batchSize }, (_, k) => syntheticVisit(campaign, ids.next(), done + k, at));
        const t0 = performance.now();
        await insertVisits(batch);
        ms += performance.now() - t0;
      }
      console.log(`click writer insert (${process.env.SCALE_UNNEST === '1' ? 'unnest' : 'COPY'}), batches of ${batchSize}, triggers ${triggers ? 'on ' : 'off'}: ${total} rows in ${(ms / 1000).toFixed(1)} s = ${Math.round(total / (ms / 1000))} rows/s`);
    }
    await foldRollupDeltas(db);
    const [r] = await rows(db, sql`select count(*)::int as n, (select sum(visits)::int from report_visit_rollup where dim_set = 0 and grain = 1440) as rolled from visits`);
    console.log(`visits ${r.n}, in the daily rollup ${r.rolled} (the trigger-off half is not rolled up)`);
    // The writer's rows carry every query parameter and a full user agent, as /click records them
    // (the bulk loader's do not), so this is the visits table's size per million for real traffic.
    const [s] = await rows<{ visits: number; side: number }>(
      db,
      sql`select pg_total_relation_size('visits')::float8 as visits, (pg_total_relation_size('user_agents') + pg_total_relation_size('visit_param_roles'))::float8 as side`,
    );
    const perM = (bytes: number) => (bytes / 1048576 / (Number(r.n) / 1e6)).toFixed(1);
    console.log(`visits with indexes: ${perM(s.visits)} MB per million visits (+ user_agents, visit_param_roles: ${(s.side / 1048576).toFixed(2)} MB in all)`);
  } else {
    const visits = Number(a);
    const conversions = Number(b);
    const t0 = performance.now();
    const range = await bulkLoadReportData(db, { visits, conversions, days: 30, end: new Date('2026-01-31T00:00:00Z') });
    console.log(`bulk load ${visits} visits + ${conversions} conversions (rollups rebuilt): ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await db.execute(sql`vacuum analyze`);
    const day = (o: number) => new Date(range.to.getTime() - o * 86_400_000).toISOString().slice(0, 10);
    const specs: [string, string, Record<string, string>, string][] = [
      ['30 days by campaign', 'campaign', {}, 'UTC'],
      ['30 days by campaign (NY)', 'campaign', {}, 'America/New_York'],
      ['30 days by campaign, day, country (NY)', 'campaign,day,country', {}, 'America/New_York'],
      ['30 days by campaign, day, country (Kolkata)', 'campaign,day,country', {}, 'Asia/Kolkata'],
      ['30 days by offer, day (NY)', 'offer,day', {}, 'America/New_York'],
      ['30 days by device, day (NY)', 'device,day', {}, 'America/New_York'],
      ['30 days by campaign (postback time)', 'campaign', {}, 'UTC'],
    ];
    for (const [label, groupBy, filters, tz] of specs) {
      const req: ReportRequest = {
        from: { kind: 'date', date: day(29) },
        to: { kind: 'date', date: day(0) },
        tz,
        groupBy: parseGroupBy(groupBy),
        attribution: label.includes('postback') ? 'postback' : 'visit',
        filters: parseFilters(filters),
        page: 1,
        pageSize: 1000,
      };
      await timed(label, req);
    }
    await timed('var:sub2, one campaign-day', {
      from: { kind: 'date', date: day(3) },
      to: { kind: 'date', date: day(3) },
      tz: 'UTC',
      groupBy: parseGroupBy('var:sub2'),
      attribution: 'visit',
      filters: parseFilters({ campaign: '2' }),
      page: 1,
      pageSize: 1000,
    });
    const sizes = await rows<{ relname: string; mb: number; heap: number; rows: number }>(
      db,
      sql`select c.relname, round(pg_total_relation_size(c.oid) / 1048576.0, 1)::float8 as mb, round(pg_relation_size(c.oid) / 1048576.0, 1)::float8 as heap,
        c.reltuples::float8 as rows from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind = 'r' and pg_total_relation_size(c.oid) > 1048576 order by 2 desc`,
    );
    for (const s of sizes) console.log(`${s.relname.padEnd(28)} ${String(s.mb).padStart(8)} MB (heap ${s.heap}) ${Math.round(s.rows)} rows`);
    const total = sizes.reduce((x, s) => x + s.mb, 0);
    console.log(`all: ${total.toFixed(1)} MB = ${(total / (visits / 1e6)).toFixed(1)} MB per million visits`);
    const per = await rows(db, sql`select dim_set, grain, count(*)::int as n from report_visit_rollup group by 1, 2 order by 1, 2`);
    console.log('visit rollup rows by set/grain', JSON.stringify(per.map((r) => [r.dim_set, r.grain, r.n])));
  }
} finally {
  await database.close();
  if (!keep) await admin.query(`drop database if exists "${name}" with (force)`);
  await admin.end();
}

async function timed(label: string, req: ReportRequest) {
  const runs: number[] = [];
  let n = 0;
  let source = '';
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const range = await resolveRange(db, req.from, req.to, req.tz);
    const r = await runReport(db, req, range);
    runs.push(performance.now() - t0);
    n = r.totalRows;
    source = r.source;
  }
  console.log(`${label.padEnd(44)} median ${median(runs).toFixed(1)} ms (${runs.map((x) => x.toFixed(0)).join(' ')}), ${n} rows, ${source}`);
}
