// How long the visit writer holds the event loop: while it writes batches of 500 and 5,000 visits
// (COPY on the real local Postgres), a setImmediate ticker records the time between two turns of
// the loop, which is how long a redirect arriving then would wait. Each gap counts as
// min(wall, process CPU), so neither being descheduled on a busy machine nor background threads
// (JIT, concurrent GC marking) are blamed on the writer, and a gap with a GC pause in it is left
// out. Run: `npx tsx bench/writer-bursts.ts` (a minute; creates and drops its own database).
import { PerformanceObserver } from 'node:perf_hooks';
import { createClickIdGenerator } from '../src/tracking/click-id.js';
import { createVisitInserter } from '../src/tracking/click-writer.js';
import type { VisitRow } from '../src/tracking/hot-click.js';
import { syntheticVisit } from './ingest.js';
import { createBenchDatabase, dropBenchDatabase, seedCampaign } from './lib/bench-db.js';

const name = `tracklane_bench_bursts_${Date.now() % 1e8}_${process.pid}`;
const { database } = await createBenchDatabase(name);
try {
  const campaign = await seedCampaign(database.db);
  const ids = createClickIdGenerator();
  const insert = createVisitInserter(database.db, database.pool);
  let n = 0;
  const batch = (size: number): VisitRow[] => Array.from({ length: size }, () => syntheticVisit(campaign, ids.next(), n++, new Date()));
  for (const [size, rounds] of [[500, 20], [5000, 5]] as const) {
    for (let i = 0; i < 3; i++) await insert(batch(size)); // warm-up: JIT, known user agents
    const batches = Array.from({ length: rounds }, () => batch(size));
    const gaps: number[] = [];
    let gcInGap = false;
    const gc = new PerformanceObserver(() => {
      gcInGap = true;
    });
    gc.observe({ entryTypes: ['gc'] });
    let on = true;
    let lastCpu = process.cpuUsage();
    let lastAt = performance.now();
    const tick = () => {
      const cpu = process.cpuUsage();
      const at = performance.now();
      if (!gcInGap) gaps.push(Math.min(at - lastAt, (cpu.user + cpu.system - lastCpu.user - lastCpu.system) / 1000));
      gcInGap = false;
      lastCpu = cpu;
      lastAt = at;
      if (on) setImmediate(tick);
    };
    setImmediate(tick);
    const started = performance.now();
    for (const b of batches) await insert(b);
    const seconds = (performance.now() - started) / 1000;
    on = false;
    gc.disconnect();
    gaps.sort((a, b) => b - a);
    const pct = (q: number) => gaps[Math.floor(gaps.length * (1 - q))].toFixed(2);
    console.log(
      `batches of ${size}: ${Math.round((rounds * size) / seconds)} rows/s; loop held (ms): p99.9 ${pct(0.999)}, ` +
        `longest five ${gaps.slice(0, 5).map((g) => g.toFixed(1)).join(' ')}`,
    );
  }
} finally {
  await database.close();
  await dropBenchDatabase(name);
}
