// Postgres CPU per conversion of the postback insert (insertConversions: one statement per batch,
// its triggers and its commit), by batch size, from /proc (all Postgres processes). It shows the
// fixed cost of a batch against the cost of a row, which sets how the insert batcher should batch.
//
//   npx tsx bench/conversion-cost.ts              # 8,000 conversions per batch size
//   CONVERSION_COST_ROWS=20000 npx tsx bench/conversion-cost.ts
import { insertConversions, type InsertRequest } from '../src/attribution/insert-batcher.js';
import { foldRollupDeltas } from '../src/reporting/rollup-deltas.js';
import { createClickIdGenerator } from '../src/tracking/click-id.js';
import { createBenchDatabase, dropBenchDatabase, seedCampaign } from './lib/bench-db.js';
import { servicesCpuDelta, servicesCpuMicros } from './lib/procs.js';
import { variedVisitor } from './lib/varied.js';

const ROWS = Number(process.env.CONVERSION_COST_ROWS ?? 8000);
const CONCURRENCY = Number(process.env.CONVERSION_COST_CONCURRENCY ?? 1);
const SIZES = (process.env.CONVERSION_COST_BATCHES ?? '1,8,32,128').split(',').map(Number);

const name = `tracklane_bench_conversioncost_${process.pid}`;
const { database } = await createBenchDatabase(name);
try {
  const campaign = await seedCampaign(database.db);
  const ids = createClickIdGenerator();
  const request = (i: number): InsertRequest => ({
    values: {
      clickId: ids.next(), type: 'conversion', txid: `tx${i}`, status: 'approved', payout: '12.5', originalPayout: '12.5', originalCurrency: 'USD', cost: '0.05',
      visitedAt: new Date(Date.now() - 60_000), convertedAt: new Date(), campaignId: campaign.campaignId, trafficSourceId: campaign.trafficSourceId,
      // As varied as the benchmark's visits (bench/rollup-cost.ts), which the conversions copy.
      offerId: campaign.offerId, ...variedVisitor(i), isBot: false,
      tsCampaign: '23850000001', tsAdset: '23851000002', tsAd: '23852000003', tsPlacement: 'Instagram_Stories', externalId: `IwAR${i}`,
      params: { campaign_id: '23850000001', adset_id: '23851000002', ad_id: '23852000003', placement: 'Instagram_Stories', fbclid: `IwAR${i}` },
      postbackParams: { cid: 'x', payout: '12.5', txid: `tx${i}` },
    },
    forward: null,
  });
  // Experiments: CONVERSION_COST_SQL="alter table ... disable trigger ..." runs first.
  if (process.env.CONVERSION_COST_SQL) await database.pool!.query(process.env.CONVERSION_COST_SQL);
  let base = 0;
  for (const size of SIZES) {
    const s0 = servicesCpuMicros();
    const t0 = performance.now();
    // CONVERSION_COST_CONCURRENCY batches in flight at once, as the insert batcher runs them.
    let next = 0;
    const lane = async () => {
      while (next < ROWS) {
        const from = next;
        next += size;
        await insertConversions(database.db, Array.from({ length: Math.min(size, ROWS - from) }, (_, k) => request(base + from + k)));
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, lane));
    base += ROWS;
    const ms = performance.now() - t0;
    const pg = servicesCpuDelta(s0, servicesCpuMicros()).postgres;
    console.log(`batches of ${String(size).padStart(4)}: ${(pg / ROWS).toFixed(1).padStart(6)} µs Postgres CPU and ${((ms * 1000) / ROWS).toFixed(1).padStart(6)} µs wall per conversion`);
  }
  // The conversions' share of the rollup fold (what a report or the background worker pays later).
  const s0 = servicesCpuMicros();
  const t0 = performance.now();
  const folded = await foldRollupDeltas(database.db);
  const total = ROWS * SIZES.length;
  console.log(`fold of ${total} conversions into ${folded} rollup rows: ${(servicesCpuDelta(s0, servicesCpuMicros()).postgres / total).toFixed(1)} µs Postgres CPU per conversion, ${(performance.now() - t0).toFixed(0)} ms`);
} finally {
  await database.close();
  await dropBenchDatabase(name);
}
