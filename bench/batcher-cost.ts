// The postback insert batcher on its own, in a closed loop like the benchmark's (32 postbacks in
// flight, each sending the next once answered), without HTTP or Redis: conversions/s, Postgres CPU
// and this process's CPU per conversion, for several batching settings in alternating rounds.
//
//   npx tsx bench/batcher-cost.ts
//   BATCHER_COST_SETTINGS="4x8,2x16,1x32" BATCHER_COST_ROWS=20000 npx tsx bench/batcher-cost.ts
// A setting "AxB" is maxInFlight A, minBatchWhileBusy B.
import { createInsertBatcher, type InsertRequest } from '../src/attribution/insert-batcher.js';
import { createClickIdGenerator } from '../src/tracking/click-id.js';
import { createBenchDatabase, dropBenchDatabase, seedCampaign } from './lib/bench-db.js';
import { servicesCpuDelta, servicesCpuMicros } from './lib/procs.js';
import { variedVisitor } from './lib/varied.js';

const ROWS = Number(process.env.BATCHER_COST_ROWS ?? 20_000);
const CLIENTS = Number(process.env.BATCHER_COST_CLIENTS ?? 32);
const SETTINGS = (process.env.BATCHER_COST_SETTINGS ?? '4x8,2x16,1x32').split(',').map((s) => s.split('x').map(Number) as [number, number]);
const ROUNDS = Number(process.env.BATCHER_COST_ROUNDS ?? 2);

const name = `tracklane_bench_batchercost_${process.pid}`;
const { database } = await createBenchDatabase(name);
try {
  const campaign = await seedCampaign(database.db);
  const ids = createClickIdGenerator();
  let n = 0;
  const request = (): InsertRequest => {
    const i = n++;
    return {
      values: {
        clickId: ids.next(), type: 'conversion', txid: `tx${i}`, status: 'approved', payout: '12.5', originalPayout: '12.5', originalCurrency: 'USD', cost: '0.05',
        visitedAt: new Date(Date.now() - 60_000), convertedAt: new Date(), campaignId: campaign.campaignId, trafficSourceId: campaign.trafficSourceId,
        offerId: campaign.offerId, ...variedVisitor(i), isBot: false, tsCampaign: '23850000001', tsAdset: '23851000002', tsAd: '23852000003',
        tsPlacement: 'Instagram_Stories', externalId: `IwAR${i}`, params: { campaign_id: '23850000001', fbclid: `IwAR${i}` }, postbackParams: { cid: 'x', txid: `tx${i}` },
      },
      forward: null,
    };
  };
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [maxInFlight, minBatchWhileBusy] of SETTINGS) {
      const batcher = createInsertBatcher(database.db, { maxInFlight, minBatchWhileBusy });
      let sent = 0;
      const client = async () => {
        while (sent < ROWS) {
          sent++;
          await batcher.insert(request());
        }
      };
      const s0 = servicesCpuMicros();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await Promise.all(Array.from({ length: CLIENTS }, client));
      await batcher.drain();
      const ms = performance.now() - t0;
      const c = process.cpuUsage(c0);
      const pg = servicesCpuDelta(s0, servicesCpuMicros()).postgres;
      console.log(
        `round ${round} ${maxInFlight}x${minBatchWhileBusy}: ${Math.round(ROWS / (ms / 1000))} conversions/s, ` +
          `Postgres ${(pg / ROWS).toFixed(1)} µs and this process ${((c.user + c.system) / ROWS).toFixed(1)} µs CPU per conversion`,
      );
    }
  }
} finally {
  await database.close();
  await dropBenchDatabase(name);
}
