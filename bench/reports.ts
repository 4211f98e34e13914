// Reports: bulk-load visits and conversions spread over 30 days with the reporting capability's
// own loader (server-side INSERT ... SELECT generate_series; the rollup triggers run as for real
// batches), then time the reports the reporting issue names through GET /api/reports on a running
// tracker, and measure the tables per million visits.
import { sql } from 'drizzle-orm';
import { rows, type Database } from '../src/db/client.js';
import { bulkLoadReportData } from '../src/reporting/bulk-load.js';
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
  visits: number;
  conversions: number;
  days: number;
  startTracker: () => Promise<NodeProcess>;
  apiKey: string;
  log: (l: string) => void;
}): Promise<ReportsResult> {
  const { database, log } = opts;
  log(`  bulk-loading ${opts.visits.toLocaleString('en-US')} visits and ${opts.conversions.toLocaleString('en-US')} conversions over ${opts.days} days`);
  const t0 = Date.now();
  const range = await bulkLoadReportData(database.db, { visits: opts.visits, conversions: opts.conversions, days: opts.days });
  await database.db.execute(sql`analyze`);
  const seconds = (Date.now() - t0) / 1000;
  log(`  loaded in ${seconds.toFixed(0)} s (${Math.round(opts.visits / seconds).toLocaleString('en-US')} visits/s, rollups included)`);
  const tracker = await opts.startTracker();
  try {
    // The loader's range ends on the hour before now; these are its last 30 whole UTC days.
    const day = (offset: number) => new Date(range.to.getTime() - offset * 86_400_000).toISOString().slice(0, 10);
    const from = day(opts.days - 1);
    const to = day(0);
    const oneDay = day(3);
    // Not campaign 1: the loader makes every visit with i % 50 = 0 a bot, and those all land on campaign 1.
    const oneCampaign = 2;
    const specs = [
      { name: '30 days by campaign', query: `from=${from}&to=${to}&groupBy=campaign`, targetMs: 200 },
      { name: '30 days by campaign, day, country', query: `from=${from}&to=${to}&groupBy=campaign,day,country&pageSize=1000`, targetMs: 500 },
      { name: 'var:sub2 for one campaign-day', query: `from=${oneDay}&to=${oneDay}&groupBy=var:sub2&campaign=${oneCampaign}&pageSize=1000`, targetMs: 1000 },
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
