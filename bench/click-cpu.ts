// CPU per /click request, the number to judge /click optimisations by on a shared, noisy machine
// (requests/s moves with whatever else runs; CPU per request much less). Starts the tracker and
// the bare-Fastify baseline, sends a fixed number of the benchmark's click requests to each, in
// alternating rounds, and prints each one's CPU (user + system, from /proc/<pid>/stat) per request.
//
//   npx tsx bench/click-cpu.ts                      # 3 rounds of 20,000 requests each
//   CLICK_CPU_REQUESTS=10000 CLICK_CPU_ROUNDS=5 npx tsx bench/click-cpu.ts
//   CLICK_CPU_PROFILE=1 npx tsx bench/click-cpu.ts  # also writes a tracker --cpu-prof to /tmp
//   CLICK_CPU_NODE_ARGS="--import ./bench/lib/alloc-probe.mjs" npx tsx bench/click-cpu.ts  # allocations
//   CLICK_CPU_PATH=postback npx tsx bench/click-cpu.ts  # /postback for visits made first, against the baseline's 200
//
// Postgres's share is read once the rollup fold has caught up with the round (delta tables empty),
// so a conversion's fold counts against the round that caused it.
import { readFileSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import { rows } from '../src/db/client.js';
import os from 'node:os';
import path from 'node:path';
import { benchRedisUrl, clearBenchRedisPrefix, createBenchDatabase, dropBenchDatabase, seedCampaign } from './lib/bench-db.js';
import { freePort, LoadGenerator, servicesCpuDelta, servicesCpuMicros, spawnNode, type NodeProcess } from './lib/procs.js';
import { pickGenerator } from './lib/wrk.js';

const REQUESTS = Number(process.env.CLICK_CPU_REQUESTS ?? 20_000);
const ROUNDS = Number(process.env.CLICK_CPU_ROUNDS ?? 3);
const GENERATOR = pickGenerator(process.env.BENCH_GENERATOR);
const PATH = process.env.CLICK_CPU_PATH === 'postback' ? 'postback' : 'click';
const WARMUP = 5000;
const stamp = `clickcpu${Date.now() % 1e8}_${process.pid}`;
const dbName = `tracklane_bench_${stamp}`;
const prefix = `bench:${stamp}:`;
const logDir = os.tmpdir();

/** [user, system] CPU of a process in µs (clock ticks are 10 ms on Linux). */
function cpuMicros(pid: number): [number, number] {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return [Number(fields[11]) * 10_000, Number(fields[12]) * 10_000];
}

const { url, database } = await createBenchDatabase(dbName);
const procs: NodeProcess[] = [];
const gen = new LoadGenerator();
try {
  const campaign = await seedCampaign(database.db);
  const tracker = await spawnNode({
    script: 'src/server.ts',
    env: {
      PUBLIC_URL: 'http://127.0.0.1', TRUST_PROXY: '127.0.0.1', LOG_LEVEL: 'warn', HOST: '127.0.0.1', DATABASE_URL: url, REDIS_URL: benchRedisUrl(), REDIS_PREFIX: prefix,
      // Settings under test, as for npm run bench: `BENCH_TRACKER_ENV="ROLLUP_FOLD_MS=1000"`.
      ...Object.fromEntries((process.env.BENCH_TRACKER_ENV ?? '').split(/\s+/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
    },
    nodeArgs: [
      ...(process.env.CLICK_CPU_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${path.join(logDir, stamp)}`] : []),
      // Other flags for the tracker: `CLICK_CPU_NODE_ARGS="--import ./bench/lib/alloc-probe.mjs"`.
      ...(process.env.CLICK_CPU_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
    ],
    port: await freePort(),
    logFile: path.join(logDir, `${stamp}-tracker.log`),
    readyPath: '/readyz',
  });
  procs.push(tracker);
  const baseline = await spawnNode({ script: 'bench/baseline.ts', env: {}, port: await freePort(), logFile: path.join(logDir, `${stamp}-baseline.log`), readyPath: '/healthz' });
  procs.push(baseline);
  const clickPlan = { kind: 'click' as const, key: campaign.key };
  const count = async (table: string) => Number((await rows<{ n: string }>(database.db, sql.raw(`select count(*)::text as n from ${table}`)))[0].n);
  const settle = async () => {
    for (let waited = 0; waited < 20_000 && (await count('report_visit_delta')) + (await count('report_conversion_delta')) > 0; waited += 50) {
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  let plan: { kind: 'click'; key: string } | { kind: 'postback'; clickIds: string[] } = clickPlan;
  if (PATH === 'postback') {
    // Visits to post back for: one per postback of every round and of the warm-up.
    const visits = (ROUNDS * REQUESTS + WARMUP) * 1.02;
    await gen.run({ type: GENERATOR, port: tracker.port, plan: clickPlan, connections: 32, amount: Math.ceil(visits), offset: 20_000_000 });
    for (let waited = 0; waited < 60_000 && (await count('visits')) < visits; waited += 200) await new Promise((r) => setTimeout(r, 200));
    const ids = (await rows<{ click_id: string }>(database.db, sql`select click_id from visits order by click_id`)).map((r) => r.click_id);
    plan = { kind: 'postback', clickIds: ids };
    await settle();
  }
  const ok = PATH === 'postback' ? 200 : 302;
  let offset = 0;
  const round = async (name: string, p: NodeProcess) => {
    const [u0, s0] = cpuMicros(p.pid);
    const services0 = servicesCpuMicros();
    const res = await gen.run({ type: GENERATOR, port: p.port, plan, connections: 32, amount: REQUESTS, offset });
    // Only the tracker's requests must be fresh (a postback's click ID is used once).
    if (p === tracker) offset += REQUESTS;
    const [u1, s1] = cpuMicros(p.pid);
    if (p === tracker) await settle();
    // What the request cost Postgres and Redis too (the tracker's visits are written by then, or nearly).
    const services = servicesCpuDelta(services0, servicesCpuMicros());
    const perRequest = (u1 - u0 + s1 - s0) / REQUESTS;
    console.log(
      `${name.padEnd(8)} ${perRequest.toFixed(1)} µs CPU/request (user ${((u1 - u0) / REQUESTS).toFixed(1)}, system ${((s1 - s0) / REQUESTS).toFixed(1)}; ` +
        `Postgres ${(services.postgres / REQUESTS).toFixed(1)}, Redis ${(services.redis / REQUESTS).toFixed(1)}; generator ${(res.generatorCpuMicros / REQUESTS).toFixed(1)}), ` +
        `${res.requestsPerSecond.toFixed(0)} req/s, ${res.statuses[ok] ?? 0}/${REQUESTS} answered ${ok}`,
    );
    return perRequest;
  };
  // Warm-up: JIT, caches, connections. The postback warm-up uses the last click IDs, which no round reaches.
  for (const p of [tracker, baseline]) await gen.run({ type: GENERATOR, port: p.port, plan, connections: 32, amount: WARMUP, offset: PATH === 'postback' ? ROUNDS * REQUESTS : 10_000_000 });
  const t: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    b.push(await round('baseline', baseline));
    t.push(await round('tracker', tracker));
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  console.log(`median: tracker ${median(t).toFixed(1)} µs, baseline ${median(b).toFixed(1)} µs per request; baseline/tracker ${((median(b) / median(t)) * 100).toFixed(0)}%`);
} finally {
  gen.close();
  for (const p of procs) await p.stop('SIGTERM');
  await database.close();
  await dropBenchDatabase(dbName);
  await clearBenchRedisPrefix(prefix);
}
if (process.env.CLICK_CPU_PROFILE) console.log(`profiles in ${path.join(logDir, stamp)}`);
