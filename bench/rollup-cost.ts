// Postgres CPU per visit of the click writer's COPY, of the rollup delta trigger, and of the fold
// (all Postgres processes, from /proc), for visits as varied as the benchmark's: a dozen device /
// OS / browser combinations, five languages, 40 countries. The numbers in src/reporting/README.md
// come from here.
//
//   npx tsx bench/rollup-cost.ts                 # 60,000 visits in batches of 3,000
//   ROLLUP_COST_VISITS=200000 npx tsx bench/rollup-cost.ts
import { sql } from 'drizzle-orm';
import { rows } from '../src/db/client.js';
import { foldRollupDeltas } from '../src/reporting/rollup-deltas.js';
import { createClickIdGenerator } from '../src/tracking/click-id.js';
import { createVisitInserter } from '../src/tracking/click-writer.js';
import { syntheticVisit } from './ingest.js';
import { createBenchDatabase, dropBenchDatabase, seedCampaign } from './lib/bench-db.js';
import { servicesCpuDelta, servicesCpuMicros } from './lib/procs.js';
import { variedVisitor } from './lib/varied.js';

const VISITS = Number(process.env.ROLLUP_COST_VISITS ?? 60_000);
const BATCH = 3000;

/** Postgres CPU (µs) and wall time (ms) of `work`. */
async function measure(work: () => Promise<unknown>) {
  const s0 = servicesCpuMicros();
  const t0 = performance.now();
  await work();
  return { ms: performance.now() - t0, cpu: servicesCpuDelta(s0, servicesCpuMicros()).postgres };
}

const name = `tracklane_bench_rollupcost_${process.pid}`;
const { database } = await createBenchDatabase(name);
const { db } = database;
try {
  const campaign = await seedCampaign(db);
  const ids = createClickIdGenerator();
  const insert = createVisitInserter(db, database.pool);
  const load = async () => {
    for (let done = 0; done < VISITS; done += BATCH) {
      const at = new Date();
      await insert(
        Array.from({ length: Math.min(BATCH, VISITS - done) }, (_, k) => {
          const i = done + k;
          return { ...syntheticVisit(campaign, ids.next(), i, at), ...variedVisitor(i) };
        }),
      );
    }
  };
  const line = (label: string, m: { ms: number; cpu: number }) =>
    console.log(`${label.padEnd(26)} ${(m.cpu / VISITS).toFixed(1).padStart(5)} µs Postgres CPU per visit, ${m.ms.toFixed(0)} ms`);

  await db.execute(sql`alter table visits disable trigger visits_rollup_trg`);
  line('COPY, trigger off', await measure(load));
  await db.execute(sql`alter table visits enable trigger visits_rollup_trg`);
  line('COPY + delta trigger', await measure(load));
  const [d] = await rows<{ n: number }>(db, sql`select count(*)::int as n from report_visit_delta`);
  let folded = 0;
  line('fold', await measure(async () => (folded = await foldRollupDeltas(db))));
  console.log(`(${VISITS} visits made ${d.n} delta rows, folded into ${folded} rollup rows)`);
} finally {
  await database.close();
  await dropBenchDatabase(name);
}
