// Reports: bulk-load visits and conversions spread over 30 days (server-side, INSERT ... SELECT
// FROM generate_series, so loading 10 million rows does not ship them through Node), then time the
// reports the reporting issue names through GET /api/reports on a running tracker, and measure
// the tables per million visits.
import { sql } from 'drizzle-orm';
import { rows, type Database } from '../src/db/client.js';
import { campaigns } from '../src/db/schema.js';
import type { SeededCampaign } from './lib/bench-db.js';
import { formatTable, median } from './lib/stats.js';
import type { NodeProcess } from './lib/procs.js';

export interface ReportTiming {
  name: string;
  query: string;
  targetMs: number;
  runsMs: number[];
  medianMs: number;
  rows: number | null;
  status: number;
}

export interface ReportsResult {
  loaded: { visits: number; conversions: number; days: number; seconds: number; visitsPerSecond: number };
  reports: ReportTiming[];
  tables: { table: string; bytes: number }[];
  totalVisitsInDb: number;
  bytesPerMillionVisits: number;
  table: string;
  targets: { name: string; target: string; value: string; pass: boolean | null }[];
}

const CAMPAIGNS = 20;
const ZONES = 500;
const CHUNK = 500_000;

/** Campaigns for the report data set, all sending to the benchmark's offer. */
async function seedReportCampaigns(database: Database, base: SeededCampaign): Promise<number[]> {
  const inserted = await database.db
    .insert(campaigns)
    .values(
      Array.from({ length: CAMPAIGNS }, (_, i) => ({
        key: `rep${i + 1}`,
        name: `Report campaign ${i + 1}`,
        trafficSourceId: base.trafficSourceId,
        costModel: 'cpc',
        costValue: '0.04',
        flow: { rules: [], paths: [{ offers: [{ id: base.offerId }] }] },
      })),
    )
    .returning({ id: campaigns.id });
  return inserted.map((c) => c.id);
}

/**
 * The dimensions of visit number g (a SQL integer expression), the same in the visits and the
 * conversions inserts so a conversion always copies its visit, as attribution does.
 */
function dims(g: ReturnType<typeof sql.raw>, firstCampaign: number, n: number, days: number) {
  return {
    clickId: sql`'R' || lpad((${g})::text, 14, '0')`,
    visitedAt: sql`(date_trunc('day', now()) - make_interval(days => ${days - 1})) + ((${g})::float8 / ${n}) * make_interval(days => ${days})`,
    campaignId: sql`${firstCampaign} + ((${g}) % ${CAMPAIGNS})`,
    country: sql`(array['US','GB','DE','FR','BR','IN','CA','AU','ES','IT'])[1 + ((${g}) / 7) % 10]`,
    device: sql`(array['mobile','desktop','tablet'])[1 + ((${g}) / 3) % 3]`,
    os: sql`(array['Android','iOS','Windows','macOS'])[1 + ((${g}) / 11) % 4]`,
    browser: sql`(array['Chrome','Safari','Firefox','Edge'])[1 + ((${g}) / 13) % 4]`,
    tsAdset: sql`'adset' || ((${g}) % 40)`,
    tsAd: sql`'ad' || ((${g}) % 200)`,
    tsPlacement: sql`'pl' || ((${g}) % 25)`,
    zone: sql`'z' || ((${g}) % ${ZONES})`,
    isBot: sql`(${g}) % 50 = 0`,
  };
}

export async function bulkLoad(
  database: Database,
  base: SeededCampaign,
  opts: { visits: number; conversions: number; days: number; log: (l: string) => void },
): Promise<{ campaignIds: number[]; seconds: number }> {
  const { visits: n, conversions: m, days, log } = opts;
  const campaignIds = await seedReportCampaigns(database, base);
  const first = campaignIds[0];
  if (campaignIds.some((id, i) => id !== first + i)) throw new Error('report campaigns did not get consecutive ids');
  const t0 = Date.now();
  const g = sql.raw('g');
  const d = dims(g, first, n, days);
  for (let from = 1; from <= n; from += CHUNK) {
    const to = Math.min(n, from + CHUNK - 1);
    await database.db.execute(sql`insert into visits (click_id, visited_at, campaign_id, traffic_source_id, path_index, path_name,
        offer_id, ts_campaign, ts_adset, ts_ad, ts_placement, external_id, params, ip, user_agent, device, os, browser, country,
        language, is_bot, is_unique, cost)
      select ${d.clickId}, ${d.visitedAt}, ${d.campaignId}, ${base.trafficSourceId}, 0, 'direct',
        ${base.offerId}, 'fbcamp' || (g % 7), ${d.tsAdset}, ${d.tsAd}, ${d.tsPlacement}, 'ext' || g,
        jsonb_build_object('zone', ${d.zone}, 'site_source_name', case when g % 3 = 0 then 'ig' else 'fb' end),
        '81.2.' || (g % 250) || '.' || (g % 200 + 1), 'Mozilla/5.0 (bench)', ${d.device}, ${d.os}, ${d.browser}, ${d.country},
        'en', ${d.isBot}, g % 4 <> 0, 0.04
      from generate_series(${from}::int, ${to}::int) g`);
    log(`  loaded ${to.toLocaleString('en-US')} / ${n.toLocaleString('en-US')} visits (${Math.round((Date.now() - t0) / 1000)} s)`);
  }
  // Conversion j belongs to visit j * step: spread evenly over campaigns and days.
  const step = Math.max(1, Math.floor(n / m));
  const cg = sql.raw('(j * ' + step + ')');
  const c = dims(cg, first, n, days);
  for (let from = 1; from <= m; from += CHUNK) {
    const to = Math.min(m, from + CHUNK - 1);
    await database.db.execute(sql`insert into conversions (click_id, type, txid, status, payout, original_payout, original_currency,
        cost, visited_at, converted_at, campaign_id, traffic_source_id, offer_id, path_index, path_name, country, device, os, browser,
        language, is_bot, ts_campaign, ts_adset, ts_ad, ts_placement, params)
      select ${c.clickId}, case when j % 5 = 0 then 'lead' else 'sale' end, 'tx' || j,
        case when j % 20 = 0 then 'declined' when j % 10 = 0 then 'pending' else 'approved' end,
        (1 + (j % 40) * 0.25)::numeric, (1 + (j % 40) * 0.25)::numeric, 'USD', 0,
        ${c.visitedAt}, least(now(), ${c.visitedAt} + make_interval(mins => (j % 600)::int)),
        ${c.campaignId}, ${base.trafficSourceId}, ${base.offerId}, 0, 'direct', ${c.country}, ${c.device}, ${c.os}, ${c.browser},
        'en', ${c.isBot}, 'fbcamp' || ((j * ${step}) % 7), ${c.tsAdset}, ${c.tsAd}, ${c.tsPlacement}, jsonb_build_object('zone', ${c.zone})
      from generate_series(${from}::int, ${to}::int) j
      where j * ${step} <= ${n}`);
  }
  log(`  loaded ${m.toLocaleString('en-US')} conversions (${Math.round((Date.now() - t0) / 1000)} s); analyzing`);
  await database.db.execute(sql`analyze`);
  return { campaignIds, seconds: (Date.now() - t0) / 1000 };
}

async function timeReport(port: number, apiKey: string, query: string): Promise<{ ms: number; status: number; rows: number | null; body: string }> {
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/api/reports?${query}`, { headers: { 'api-key': apiKey }, signal: AbortSignal.timeout(120_000) });
  const body = await res.text();
  const ms = performance.now() - t0;
  let n: number | null = null;
  try {
    const parsed = JSON.parse(body) as { rows?: unknown[]; totalRows?: number };
    n = typeof parsed.totalRows === 'number' ? parsed.totalRows : (parsed.rows?.length ?? null);
  } catch {
    // not JSON: reported through status
  }
  return { ms, status: res.status, rows: n, body };
}

export async function runReports(opts: {
  database: Database;
  campaign: SeededCampaign;
  visits: number;
  conversions: number;
  days: number;
  startTracker: () => Promise<NodeProcess>;
  apiKey: string;
  log: (l: string) => void;
}): Promise<ReportsResult> {
  const { database, log } = opts;
  log(`  bulk-loading ${opts.visits.toLocaleString('en-US')} visits and ${opts.conversions.toLocaleString('en-US')} conversions over ${opts.days} days`);
  const { campaignIds, seconds } = await bulkLoad(database, opts.campaign, { visits: opts.visits, conversions: opts.conversions, days: opts.days, log });
  const tracker = await opts.startTracker();
  try {
    const day = (offset: number) => new Date(Date.now() - offset * 86_400_000).toISOString().slice(0, 10);
    const from = day(opts.days - 1);
    const to = day(0);
    const oneDay = day(3);
    const specs = [
      { name: '30 days by campaign', query: `from=${from}&to=${to}&groupBy=campaign`, targetMs: 200 },
      { name: '30 days by campaign, day, country', query: `from=${from}&to=${to}&groupBy=campaign,day,country&pageSize=1000`, targetMs: 500 },
      { name: 'var:zone for one campaign-day', query: `from=${oneDay}&to=${oneDay}&groupBy=var:zone&campaign=${campaignIds[0]}&pageSize=1000`, targetMs: 1000 },
      { name: '30 days by campaign (postback time)', query: `from=${from}&to=${to}&groupBy=campaign&attribution=postback`, targetMs: 200 },
    ];
    const reports: ReportTiming[] = [];
    for (const s of specs) {
      const runs: number[] = [];
      let status = 0;
      let n: number | null = null;
      for (let i = 0; i < 5; i++) {
        const r = await timeReport(tracker.port, opts.apiKey, s.query);
        status = r.status;
        n = r.rows;
        if (r.status !== 200) {
          log(`  ${s.name}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
          break;
        }
        runs.push(r.ms);
      }
      const t: ReportTiming = { ...s, runsMs: runs, medianMs: runs.length ? median(runs) : NaN, rows: n, status };
      reports.push(t);
      log(`  ${s.name}: median ${t.medianMs.toFixed(1)} ms of ${runs.length} (${n ?? '?'} rows)`);
    }
    const tables = (
      await rows<{ table: string; bytes: string }>(
        database.db,
        sql`select c.relname as table, pg_total_relation_size(c.oid)::text as bytes from pg_class c
          join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relkind in ('r', 'p') order by pg_total_relation_size(c.oid) desc`,
      )
    ).map((r) => ({ table: r.table, bytes: Number(r.bytes) }));
    const [{ n: totalVisits }] = await rows<{ n: string }>(database.db, sql`select count(*)::text as n from visits`);
    const total = Number(totalVisits);
    const bytes = tables.reduce((a, t) => a + t.bytes, 0);
    const perMillion = bytes / (total / 1e6);
    const mb = (b: number) => b / 2 ** 20;
    const table = [
      formatTable(
        ['report', 'median ms (5 runs)', 'target ms', 'rows', 'HTTP'],
        reports.map((r) => [r.name, r.medianMs, r.targetMs, r.rows, r.status]),
      ),
      '',
      formatTable(
        ['table', 'MB', 'MB per million visits'],
        tables.filter((t) => t.bytes > 64 * 1024).map((t) => [t.table, mb(t.bytes), mb(t.bytes) / (total / 1e6)]),
      ),
      `all tables: ${mb(bytes).toFixed(1)} MB for ${total.toLocaleString('en-US')} visits = ${mb(perMillion).toFixed(1)} MB per million visits`,
    ].join('\n');
    const targets = reports
      .filter((r) => r.targetMs)
      .map((r) => ({
        name: `report: ${r.name}`,
        target: `<= ${r.targetMs} ms`,
        value: Number.isFinite(r.medianMs) ? `${r.medianMs.toFixed(1)} ms` : `HTTP ${r.status}`,
        pass: Number.isFinite(r.medianMs) ? r.medianMs <= r.targetMs : false,
      }));
    targets.push({ name: 'storage per million visits', target: '< 512 MB', value: `${mb(perMillion).toFixed(1)} MB`, pass: perMillion < 0.5 * 2 ** 30 });
    return {
      loaded: { visits: opts.visits, conversions: opts.conversions, days: opts.days, seconds, visitsPerSecond: opts.visits / seconds },
      reports,
      tables,
      totalVisitsInDb: total,
      bytesPerMillionVisits: perMillion,
      table,
      targets,
    };
  } finally {
    await tracker.stop();
  }
}
