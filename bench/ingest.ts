// Ingestion: how fast the click writer alone puts visits into Postgres, which is how fast the
// backlog after a Postgres outage drains. Rows are generated before the clock starts; the clock
// covers handing them to the writer and its flush, the same code path the tracker uses.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { configFrom } from '../src/config.js';
import { rows, type Database } from '../src/db/client.js';
import { createClickIdGenerator } from '../src/tracking/click-id.js';
import { createClickWriter } from '../src/tracking/click-writer.js';
import type { VisitRow } from '../src/tracking/hot-click.js';
import type { SeededCampaign } from './lib/bench-db.js';
import { clientIp, USER_AGENTS } from './lib/traffic.js';

export interface IngestionResult {
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  batchMax: number;
  /** Rows found in Postgres afterwards, minus those there before. */
  verified: number;
  method: string;
}

const CHUNK = 50_000;

export function syntheticVisit(campaign: SeededCampaign, clickId: string, i: number, at: Date): VisitRow {
  return {
    clickId,
    visitedAt: at,
    campaignId: campaign.campaignId,
    trafficSourceId: campaign.trafficSourceId,
    ruleIndex: -1,
    pathIndex: 0,
    pathName: 'direct',
    offerId: campaign.offerId,
    tsCampaign: String(23850000000 + (i % 7)),
    tsAdset: String(23851000000 + (i % 31)),
    tsAd: String(23852000000 + (i % 97)),
    tsPlacement: i % 2 ? 'Facebook_Mobile_Feed' : 'Instagram_Stories',
    externalId: `IwAR${i.toString(36)}`,
    // Every query parameter of the link (bench/lib/traffic.ts clickQuery), as /click records them.
    params: {
      campaign_id: String(23850000000 + (i % 7)),
      adset_id: String(23851000000 + (i % 31)),
      ad_id: String(23852000000 + (i % 97)),
      placement: i % 2 ? 'Facebook_Mobile_Feed' : 'Instagram_Stories',
      site_source_name: 'fb',
      fbclid: `IwAR${i.toString(36)}`,
    },
    paramRoles: { campaign: 'campaign_id', adset: 'adset_id', ad: 'ad_id', placement: 'placement', externalId: 'fbclid' },
    ip: clientIp(i),
    userAgent: USER_AGENTS[i % USER_AGENTS.length],
    device: i % 3 ? 'mobile' : 'desktop',
    os: i % 3 ? 'Android' : 'Windows',
    osVersion: '14',
    browser: 'Chrome',
    browserVersion: '124.0.0.0',
    country: ['US', 'GB', 'DE', 'FR', 'BR'][i % 5],
    language: 'en',
    referrerDomain: 'm.facebook.com',
    isBot: false,
    isUnique: i % 4 !== 0,
    cost: '0.05',
  };
}

export async function runIngestion(opts: {
  database: Database;
  campaign: SeededCampaign;
  visits: number;
  log: (line: string) => void;
}): Promise<IngestionResult> {
  const { database, campaign, visits, log } = opts;
  const config = configFrom({});
  const spillDir = mkdtempSync(path.join(os.tmpdir(), 'tracklane-bench-spill-'));
  const count = async () => Number((await rows<{ n: string }>(database.db, sql`select count(*)::text as n from visits`))[0].n);
  const before = await count();
  const writer = await createClickWriter({
    db: database.db,
    pool: database.pool,
    log: pino({ level: 'warn' }),
    batchMax: config.CLICK_BATCH_MAX,
    flushMs: config.CLICK_FLUSH_MS,
    bufferMax: Math.max(config.CLICK_BUFFER_MAX, CHUNK * 2),
    spillDir,
    // As the tracking routes set it; no visit here waits on a unique-visit answer anyway.
    holdTimeoutMs: Math.max(1000, config.REDIS_COMMAND_TIMEOUT_MS * 2),
  });
  const ids = createClickIdGenerator();
  let elapsedMs = 0;
  try {
    for (let done = 0; done < visits; ) {
      const n = Math.min(CHUNK, visits - done);
      const at = new Date();
      const chunk = Array.from({ length: n }, (_, k) => syntheticVisit(campaign, ids.next(), done + k, at));
      const t0 = performance.now();
      for (const v of chunk) writer.add(v);
      await writer.flush();
      elapsedMs += performance.now() - t0;
      done += n;
      const stats = writer.stats().visits;
      if (stats.spilled > 0 || stats.failedBatches > 0) throw new Error(`click writer failed batches (${stats.lastError ?? 'unknown'})`);
    }
  } finally {
    await writer.close();
    rmSync(spillDir, { recursive: true, force: true });
  }
  const verified = (await count()) - before;
  const seconds = elapsedMs / 1000;
  const result: IngestionResult = {
    rows: visits,
    seconds,
    rowsPerSecond: visits / seconds,
    batchMax: config.CLICK_BATCH_MAX,
    verified,
    method: `createClickWriter, batches of ${config.CLICK_BATCH_MAX} (${database.pool ? 'COPY' : 'INSERT ... SELECT FROM unnest'})`,
  };
  log(`  ${visits.toLocaleString('en-US')} visits in ${seconds.toFixed(1)} s: ${Math.round(result.rowsPerSecond).toLocaleString('en-US')} rows/s; ${verified} new rows in Postgres`);
  if (verified !== visits) throw new Error(`ingestion wrote ${verified} rows for ${visits} visits`);
  return result;
}
