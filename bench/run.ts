// npm run bench: measures what users feel, against the real local Postgres and Redis, and writes
// bench/results.json. Every process is separate (tracker, baseline, load generator) and every
// socket is on 127.0.0.1. See bench/README.md for how to run and read it.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { rows, type Database } from '../src/db/client.js';
import {
  benchRedisUrl,
  clearBenchRedisPrefix,
  createBenchDatabase,
  dropBenchDatabase,
  prepareEmbedded,
  seedCampaign,
  type SeededCampaign,
} from './lib/bench-db.js';
import { interleave, type InterleavedResult, type Target } from './lib/load-rounds.js';
import { freePort, LoadGenerator, ROOT, spawnNode, type NodeProcess } from './lib/procs.js';
import { cpuPercent, formatTable, parseScale, scaled, type Cell } from './lib/stats.js';
import { runIngestion, type IngestionResult } from './ingest.js';
import { runReports, type ReportsResult } from './reports.js';
import { pickGenerator } from './lib/wrk.js';

const env = process.env;
const SCALE = parseScale(env.BENCH_SCALE);
const num = (name: string, def: number, min: number, max: number) => {
  const v = env[name] === undefined || env[name] === '' ? def : Number(env[name]);
  if (!Number.isFinite(v) || v < min || v > max) throw new Error(`invalid ${name}: expected a number ${min}-${max}`);
  return v;
};
const SETTINGS = {
  scale: SCALE,
  rounds: num('BENCH_ROUNDS', 3, 1, 20),
  roundSeconds: num('BENCH_ROUND_SECONDS', 5, 1, 120),
  connections: num('BENCH_CONNECTIONS', 32, 1, 1000),
  generator: pickGenerator(env.BENCH_GENERATOR),
  fixedSeconds: num('BENCH_FIXED_SECONDS', 10, 2, 300),
  warmupRequests: 3000,
  ingestionVisits: scaled(1_000_000, SCALE, 1000),
  reportVisits: scaled(10_000_000, SCALE, 1000),
  reportConversions: scaled(200_000, SCALE, 20),
  reportDays: 30,
};
const ONLY = new Set((env.BENCH_ONLY ?? 'redirect,postback,embedded,ingestion,reports').split(',').map((s) => s.trim()));

const stamp = `${Math.floor(Date.now() / 1000)}_${process.pid}`;
const dbName = `tracklane_bench_${stamp}`;
const redisPrefix = `bench:${stamp}:`;
const workDir = mkdtempSync(path.join(os.tmpdir(), 'tracklane-bench-'));
const API_KEY = `bench-key-${stamp}-0123456789`;
const log = (line: string) => process.stdout.write(`${line}\n`);

const cleanups: { name: string; fn: () => Promise<unknown> | unknown }[] = [];
const onCleanup = (name: string, fn: () => Promise<unknown> | unknown) => cleanups.push({ name, fn });
async function cleanup() {
  for (const { name, fn } of cleanups.reverse()) {
    try {
      await fn();
    } catch (err) {
      log(`cleanup "${name}" failed: ${(err as Error).message}`);
    }
  }
  cleanups.length = 0;
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`\n${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

function trackerEnv(extra: Record<string, string>): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    PUBLIC_URL: 'http://127.0.0.1',
    TRUST_PROXY: '127.0.0.1',
    LOG_LEVEL: 'warn',
    TRACKLANE_API_KEY: API_KEY,
    // Node flags for the tracker only (a profiler, an event-loop probe, GC settings under test).
    ...(env.BENCH_TRACKER_NODE_OPTIONS ? { NODE_OPTIONS: env.BENCH_TRACKER_NODE_OPTIONS } : {}),
    ...extra,
    // Settings under test (`BENCH_TRACKER_ENV="ROLLUP_FOLD_MS=1000 CLICK_FLUSH_MS=500"`), last so they win.
    ...Object.fromEntries((env.BENCH_TRACKER_ENV ?? '').split(/\s+/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
  };
}

async function startTracker(name: string, extra: Record<string, string>): Promise<NodeProcess> {
  const port = await freePort();
  const proc = await spawnNode({
    script: 'src/server.ts',
    env: trackerEnv(extra),
    // Flags NODE_OPTIONS refuses (`BENCH_TRACKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"`).
    nodeArgs: (env.BENCH_TRACKER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
    port,
    logFile: path.join(workDir, `${name}.log`),
    readyPath: '/readyz',
  });
  onCleanup(name, () => proc.stop('SIGKILL'));
  return proc;
}

async function startBaseline(): Promise<NodeProcess> {
  const port = await freePort();
  const proc = await spawnNode({ script: 'bench/baseline.ts', env: {}, port, logFile: path.join(workDir, 'baseline.log'), readyPath: '/healthz' });
  onCleanup('baseline', () => proc.stop('SIGKILL'));
  return proc;
}

/** Polls until `count()` reaches `expected` (or stops moving for a while); bounded in time. */
async function waitForCount(count: () => Promise<number>, expected: number, timeoutMs = 60_000): Promise<{ count: number; waitedMs: number }> {
  const t0 = Date.now();
  let last = -1;
  let stableSince = Date.now();
  for (;;) {
    const n = await count();
    if (n >= expected) {
      // A little longer, so an over-count (duplicates) would show too.
      await new Promise((r) => setTimeout(r, 500));
      return { count: await count(), waitedMs: Date.now() - t0 };
    }
    if (n !== last) {
      last = n;
      stableSince = Date.now();
    }
    if (Date.now() - t0 > timeoutMs || Date.now() - stableSince > 15_000) return { count: n, waitedMs: Date.now() - t0 };
    await new Promise((r) => setTimeout(r, 250));
  }
}

const countVisits = (database: Database, campaignId: number) => async () =>
  Number((await rows<{ n: string }>(database.db, sql`select count(*)::text as n from visits where campaign_id = ${campaignId}`))[0].n);

async function probe(port: number, p: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}${p}`, { redirect: 'manual', headers: { 'x-forwarded-for': '81.2.69.160' } });
  await res.arrayBuffer();
  return res.status;
}

interface RedirectSection extends InterleavedResult {
  trackerPeakRssMb: number | null;
  visits: { answered302: number; inPostgres: number; waitedMs: number; lost: number; extra: number };
  fixedRate?: {
    rate: number;
    seconds: number;
    answered302: number;
    other: number;
    errors: number;
    p50: number;
    p99: number;
    p999: number;
    serviceP50: number;
    serviceP99: number;
    serviceP999: number;
    maxSendLagMs: number | null;
    perSecond: { maxMs: number; over5ms: number }[];
    /** The baseline on the same fixed-rate schedule, just before. */
    baselineControl: { p50: number; p99: number; p999: number; perSecond: { maxMs: number; over5ms: number }[] };
    generatorCpuPercent: number | null;
  };
}

interface PostbackSection extends InterleavedResult {
  conversions: { answered200: number; inPostgres: number; duplicated: number; lost: number; waitedMs: number };
}

interface Results {
  date: string;
  machine: { cpus: number; cpuModel: string; memoryGb: number; node: string; platform: string };
  settings: typeof SETTINGS;
  durationSeconds?: number;
  redirect?: RedirectSection | { skipped: string };
  postback?: PostbackSection | { skipped: string };
  trackerShutdown?: { ms: number; code: number | null; killed: boolean };
  embedded?: (InterleavedResult & { trackerPeakRssMb: number | null; visits: { answered302: number; inPostgres: number; lost: number; extra: number } }) | { skipped: string };
  ingestion?: IngestionResult | { skipped: string };
  reports?: ReportsResult | { skipped: string };
  targets: { name: string; target: string; value: string; pass: boolean | null }[];
}

async function main() {
  const t0 = Date.now();
  const results: Results = {
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
    },
    settings: SETTINGS,
    targets: [],
  };
  log(`Tracklane benchmark, scale ${SCALE}, ${results.machine.cpus} CPUs (${results.machine.cpuModel}); logs in ${workDir}`);

  const { url: dbUrl, database } = await createBenchDatabase(dbName);
  onCleanup('bench database', () => dropBenchDatabase(dbName));
  onCleanup('bench database pool', () => database.close());
  onCleanup('bench redis keys', () => clearBenchRedisPrefix(redisPrefix));
  const campaign = await seedCampaign(database.db);
  const pgEnv = { DATABASE_URL: dbUrl, REDIS_URL: benchRedisUrl(), REDIS_PREFIX: redisPrefix };

  const gen = new LoadGenerator();
  onCleanup('load generator', () => gen.close());
  const baseline = await startBaseline();
  const baseTarget = (plan: Target['plan'], okStatus: number): Target => ({ name: 'baseline', pid: baseline.pid, port: baseline.port, plan, okStatus });

  if (ONLY.has('redirect') || ONLY.has('postback')) {
    const tracker = await startTracker('tracker-postgres', pgEnv);
    const probeStatus = await probe(tracker.port, `/click/${campaign.key}?campaign_id=1`);
    if (probeStatus !== 302) {
      results.redirect = { skipped: `/click answered ${probeStatus}, not 302: is the tracking capability registered?` };
      log(`redirect: skipped (${(results.redirect as { skipped: string }).skipped})`);
    } else {
      results.redirect = await redirectPhase(gen, tracker, baseTarget({ kind: 'click', key: campaign.key }, 302), database, campaign);
      if (ONLY.has('postback')) results.postback = await postbackPhase(gen, tracker, baseline, database, campaign);
    }
    results.trackerShutdown = await tracker.stop('SIGTERM', 20_000);
    log(`tracker stopped (SIGTERM) in ${results.trackerShutdown.ms} ms${results.trackerShutdown.killed ? ' (had to SIGKILL)' : ''}`);
  }

  if (ONLY.has('embedded')) results.embedded = await embeddedPhase(gen, baseTarget({ kind: 'click', key: 'bench1' }, 302));
  await baseline.stop();
  gen.close();

  if (ONLY.has('ingestion')) {
    log('\n== Ingestion: the click writer alone');
    results.ingestion = await runIngestion({ database, campaign, visits: SETTINGS.ingestionVisits, log }).catch((err: Error) => ({ skipped: err.message }));
  }
  if (ONLY.has('reports')) {
    log('\n== Reports');
    results.reports = await runReports({
      database,
      visits: SETTINGS.reportVisits,
      conversions: SETTINGS.reportConversions,
      days: SETTINGS.reportDays,
      startTracker: () => startTracker('tracker-reports', pgEnv),
      apiKey: API_KEY,
      log,
    }).catch((err: Error) => ({ skipped: err.message }));
  }

  results.durationSeconds = Math.round((Date.now() - t0) / 1000);
  results.targets = targets(results);
  printSummary(results);
  const out = path.join(ROOT, 'bench/results.json');
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  log(`\nwrote ${path.relative(process.cwd(), out)} (${results.durationSeconds} s)`);
}

async function redirectPhase(
  gen: LoadGenerator,
  tracker: NodeProcess,
  baseTarget: Target,
  database: Database,
  campaign: SeededCampaign,
): Promise<RedirectSection> {
  log('\n== Redirect: /click vs a bare Fastify 302, interleaved');
  const target: Target = { name: 'tracker', pid: tracker.pid, port: tracker.port, plan: { kind: 'click', key: campaign.key }, okStatus: 302 };
  const r = await interleave(gen, baseTarget, target, { ...SETTINGS, log });
  let answered = r.target.okTotal + 1; // + the probe
  let fixedRate: RedirectSection['fixedRate'];
  const rate = Math.max(10, Math.floor(r.target.requestsPerSecond / 2));
  log(`\n== Latency at a fixed rate: ${rate} req/s (half the measured maximum) for ${SETTINGS.fixedSeconds} s`);
  // The same schedule on the baseline first: the generator, the kernel and the other processes on
  // these cores add their own tail, and this says how much of the tracker's is theirs.
  const c = await gen.run({ type: 'fixed', port: baseTarget.port, plan: target.plan, rate, durationS: SETTINGS.fixedSeconds, offset: 20_000_000, maxSockets: 64 });
  const control = { p50: c.latency.p50, p99: c.latency.p99, p999: c.latency.p999, perSecond: c.perSecond ?? [] };
  log(`  baseline (control): p50 ${c.latency.p50.toFixed(2)} ms, p99 ${c.latency.p99.toFixed(2)} ms, p99.9 ${c.latency.p999.toFixed(2)} ms`);
  const f = await gen.run({
    type: 'fixed',
    port: tracker.port,
    plan: target.plan,
    rate,
    durationS: SETTINGS.fixedSeconds,
    offset: 10_000_000,
    maxSockets: 64,
  });
  const f302 = f.statuses['302'] ?? 0;
  answered += f302;
  fixedRate = {
    rate,
    seconds: SETTINGS.fixedSeconds,
    answered302: f302,
    other: Object.entries(f.statuses).reduce((a, [c, n]) => (c === '302' ? a : a + n), 0),
    errors: f.errors + f.timeouts,
    p50: f.latency.p50,
    p99: f.latency.p99,
    p999: f.latency.p999,
    serviceP50: f.serviceLatency!.p50,
    serviceP99: f.serviceLatency!.p99,
    serviceP999: f.serviceLatency!.p999,
    maxSendLagMs: f.maxSendLagMs ?? null,
    perSecond: f.perSecond ?? [],
    baselineControl: control,
    generatorCpuPercent: cpuPercent(f.generatorCpuMicros, f.wallMs),
  };
  log(`  tracker: p50 ${f.latency.p50.toFixed(2)} ms, p99 ${f.latency.p99.toFixed(2)} ms, p99.9 ${f.latency.p999.toFixed(2)} ms (from scheduled send); ${f302} answered 302`);
  log(`  per second, slowest answer ms / answers over 5 ms: ${fixedRate.perSecond.map((x) => `${x.maxMs}/${x.over5ms}`).join(' ')}`);

  log(`\n== Visits in Postgres vs redirects answered (${answered})`);
  const w = await waitForCount(countVisits(database, campaign.campaignId), answered);
  log(`  ${w.count} visits after ${w.waitedMs} ms`);
  return {
    ...r,
    trackerPeakRssMb: tracker.peakRssMb(),
    visits: { answered302: answered, inPostgres: w.count, waitedMs: w.waitedMs, lost: Math.max(0, answered - w.count), extra: Math.max(0, w.count - answered) },
    fixedRate,
  };
}

async function postbackPhase(gen: LoadGenerator, tracker: NodeProcess, baseline: NodeProcess, database: Database, campaign: SeededCampaign): Promise<PostbackSection | { skipped: string }> {
  log('\n== Postback: /postback with existing click IDs vs a bare Fastify 200, interleaved');
  const ids = (await rows<{ click_id: string }>(database.db, sql`select click_id from visits where campaign_id = ${campaign.campaignId} order by click_id`)).map(
    (r) => r.click_id,
  );
  // The probe uses the last ID; the load uses every other one at most once (a distinct txid each).
  const probeId = ids.pop();
  if (!probeId) return { skipped: 'no visits to post back for' };
  const status = await probe(tracker.port, `/postback?cid=${probeId}&payout=1.00&txid=probe`);
  if (status !== 200) return { skipped: `/postback answered ${status}, not 200: is the attribution capability registered?` };
  const warmup = Math.min(SETTINGS.warmupRequests, Math.floor(ids.length / 4));
  const perRound = Math.floor((ids.length - warmup - SETTINGS.connections * 4 * (SETTINGS.rounds + 1)) / SETTINGS.rounds);
  if (perRound < 100) return { skipped: `only ${ids.length} click IDs: too few for ${SETTINGS.rounds} rounds` };
  // Baseline and tracker walk the same numbering; only the tracker's requests must be unique.
  const plan = { kind: 'postback' as const, clickIds: ids };
  const r = await interleave(
    gen,
    { name: 'baseline', pid: baseline.pid, port: baseline.port, plan, okStatus: 200 },
    { name: 'tracker', pid: tracker.pid, port: tracker.port, plan, okStatus: 200 },
    { ...SETTINGS, warmupRequests: warmup, maxPerRound: perRound, log },
  );
  const answered = r.target.okTotal + 1;
  const count = async () =>
    Number((await rows<{ n: string }>(database.db, sql`select count(*)::text as n from conversions where campaign_id = ${campaign.campaignId}`))[0].n);
  const w = await waitForCount(count, answered, 30_000);
  const [dup] = await rows<{ n: string }>(
    database.db,
    sql`select count(*)::text as n from (select click_id from conversions where campaign_id = ${campaign.campaignId} group by click_id having count(*) > 1) d`,
  );
  const duplicated = Number(dup.n);
  log(`  ${w.count} conversions for ${answered} postbacks answered 200; ${duplicated} clicks with more than one`);
  return { ...r, conversions: { answered200: answered, inPostgres: w.count, duplicated, lost: Math.max(0, answered - w.count), waitedMs: w.waitedMs } };
}

async function embeddedPhase(gen: LoadGenerator, baseTarget: Target): Promise<Results['embedded']> {
  log('\n== Embedded default (PGlite + in-process store): /click vs the same baseline');
  const dataDir = path.join(workDir, 'embedded-data');
  mkdirSync(dataDir, { recursive: true });
  onCleanup('embedded data', () => rmSync(dataDir, { recursive: true, force: true }));
  const seedDb = await prepareEmbedded(dataDir);
  const campaign = await seedCampaign(seedDb.db);
  await seedDb.close();
  const tracker = await startTracker('tracker-embedded', { TRACKLANE_DATA_DIR: dataDir });
  const status = await probe(tracker.port, `/click/${campaign.key}?campaign_id=1`);
  if (status !== 302) {
    await tracker.stop();
    return { skipped: `/click answered ${status} on the embedded backend` };
  }
  const r = await interleave(gen, baseTarget, { name: 'tracker', pid: tracker.pid, port: tracker.port, plan: baseTarget.plan, okStatus: 302 }, { ...SETTINGS, log });
  const peak = tracker.peakRssMb();
  const answered = r.target.okTotal + 1;
  // PGlite is single-process: the visits can be counted only after the tracker has let go.
  const stopped = await tracker.stop('SIGTERM', 30_000);
  log(`  embedded tracker stopped in ${stopped.ms} ms`);
  const check = await prepareEmbedded(dataDir);
  const inDb = await countVisits(check, campaign.campaignId)();
  await check.close();
  log(`  ${inDb} visits in PGlite for ${answered} redirects answered`);
  return { ...r, trackerPeakRssMb: peak, visits: { answered302: answered, inPostgres: inDb, lost: Math.max(0, answered - inDb), extra: Math.max(0, inDb - answered) } };
}

const has = <T extends object>(v: T | { skipped: string } | undefined): v is T => !!v && !('skipped' in v);

function targets(r: Results): Results['targets'] {
  const out: Results['targets'] = [];
  const pct = (v: number | null) => (v === null ? '-' : `${(v * 100).toFixed(0)}%`);
  if (has(r.redirect)) {
    out.push({ name: '/click vs baseline', target: '>= 50%', value: pct(r.redirect.ratio), pass: r.redirect.ratio === null ? null : r.redirect.ratio >= 0.5 });
    if (r.redirect.fixedRate)
      out.push({ name: 'fixed-rate p99', target: '<= 5 ms', value: `${r.redirect.fixedRate.p99.toFixed(2)} ms`, pass: r.redirect.fixedRate.p99 <= 5 });
    const v = r.redirect.visits;
    out.push({ name: 'visits lost / extra', target: '0 / 0', value: `${v.lost} / ${v.extra}`, pass: v.lost === 0 && v.extra === 0 });
  }
  if (has(r.postback)) {
    out.push({ name: '/postback vs baseline', target: '>= 40%', value: pct(r.postback.ratio), pass: r.postback.ratio === null ? null : r.postback.ratio >= 0.4 });
    const c = r.postback.conversions;
    out.push({ name: 'conversions lost / duplicated', target: '0 / 0', value: `${c.lost} / ${c.duplicated}`, pass: c.lost === 0 && c.duplicated === 0 });
  }
  if (has(r.embedded)) {
    const v = r.embedded.visits;
    out.push({ name: 'embedded visits lost / extra', target: '0 / 0', value: `${v.lost} / ${v.extra}`, pass: v.lost === 0 && v.extra === 0 });
  }
  if (has(r.ingestion)) out.push({ name: 'ingestion rows/s', target: '>= 50,000', value: Math.round(r.ingestion.rowsPerSecond).toLocaleString('en-US'), pass: r.ingestion.rowsPerSecond >= 50_000 });
  if (has(r.reports)) for (const t of r.reports.targets) out.push(t);
  return out;
}

function printSummary(r: Results) {
  log('\n== Summary');
  const lines: Cell[][] = [];
  const addPair = (label: string, s: InterleavedResult, rss: number | null) => {
    lines.push([`${label} baseline`, s.baseline.requestsPerSecond, s.baseline.p50, s.baseline.p99, s.baseline.p999, s.baseline.targetCpuPercent, s.baseline.generatorCpuPercent, s.baseline.postgresCpuPercent, s.baseline.redisCpuPercent, s.baseline.machineCpuPercent, s.baseline.stealCpuPercent, null, null]);
    lines.push([`${label} tracker`, s.target.requestsPerSecond, s.target.p50, s.target.p99, s.target.p999, s.target.targetCpuPercent, s.target.generatorCpuPercent, s.target.postgresCpuPercent, s.target.redisCpuPercent, s.target.machineCpuPercent, s.target.stealCpuPercent, s.ratio === null ? null : `${(s.ratio * 100).toFixed(0)}%`, rss]);
  };
  if (has(r.redirect)) {
    addPair('/click (Postgres+Redis)', r.redirect, r.redirect.trackerPeakRssMb);
    const f = r.redirect.fixedRate;
    if (f) {
      const b = f.baselineControl;
      lines.push([`/click fixed ${f.rate} req/s baseline`, f.rate, b.p50, b.p99, b.p999, null, null, null, null, null, null, null, null]);
      lines.push([`/click fixed ${f.rate} req/s tracker`, f.answered302 / f.seconds, f.p50, f.p99, f.p999, null, f.generatorCpuPercent, null, null, null, null, null, null]);
    }
  }
  if (has(r.postback)) addPair('/postback', r.postback, null);
  if (has(r.embedded)) addPair('/click (embedded)', r.embedded, r.embedded.trackerPeakRssMb);
  if (lines.length) log(formatTable(['load', 'req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'server CPU %', 'loadgen CPU %', 'postgres CPU %', 'redis CPU %', 'machine CPU %', 'steal %', 'vs baseline', 'peak RSS MB'], lines));
  for (const [name, s] of Object.entries({ redirect: r.redirect, postback: r.postback, embedded: r.embedded, ingestion: r.ingestion, reports: r.reports })) {
    if (s && 'skipped' in s) log(`${name}: skipped: ${s.skipped}`);
  }
  if (has(r.ingestion)) log(`\nIngestion: ${r.ingestion.rows.toLocaleString('en-US')} visits in ${r.ingestion.seconds.toFixed(1)} s = ${Math.round(r.ingestion.rowsPerSecond).toLocaleString('en-US')} rows/s (${r.ingestion.method})`);
  if (has(r.reports)) log(`\n${r.reports.table}`);
  if (r.targets.length) {
    log('\nTargets');
    log(formatTable(['target', 'goal', 'measured', 'pass'], r.targets.map((t) => [t.name, t.target, t.value, t.pass === null ? '-' : t.pass ? 'yes' : 'NO'])));
  }
}

main()
  .catch((err: Error) => {
    log(`benchmark failed: ${err.stack ?? err.message}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanup();
    // Logs stay behind when something failed, so the reason can be read.
    if (!process.exitCode && !env.BENCH_KEEP_LOGS) rmSync(workDir, { recursive: true, force: true });
    else log(`tracker and baseline logs kept in ${workDir}`);
  });
