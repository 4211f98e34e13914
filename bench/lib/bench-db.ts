// The benchmark's own database and Redis prefix: created fresh, named so nobody mistakes them,
// dropped afterwards. Nothing here touches a database or key outside those names.
import { Redis } from 'ioredis';
import pg from 'pg';
import { openEmbedded, openPostgres, type Database, type Db } from '../../src/db/client.js';
import { migrate } from '../../src/db/migrate.js';
import { campaigns, offers, trafficSources, type TrafficSourceParam } from '../../src/db/schema.js';

export const BENCH_DB_PREFIX = 'tracklane_bench_';
export const BENCH_REDIS_PREFIX = 'bench:';

export const adminUrl = () => process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const benchRedisUrl = () => process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function assertBenchDatabaseName(name: string): void {
  if (!name.startsWith(BENCH_DB_PREFIX) || !/^[a-z0-9_]+$/.test(name)) {
    throw new Error(`refusing to create or drop database "${name}": benchmark databases are named ${BENCH_DB_PREFIX}*`);
  }
}

export function databaseUrl(name: string): string {
  const u = new URL(adminUrl());
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: adminUrl() });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function createBenchDatabase(name: string): Promise<{ url: string; database: Database }> {
  assertBenchDatabaseName(name);
  await admin((c) => c.query(`create database "${name}"`));
  const url = databaseUrl(name);
  const database = openPostgres({ url, poolMax: 4 });
  await migrate(database);
  return { url, database };
}

export async function dropBenchDatabase(name: string): Promise<void> {
  assertBenchDatabaseName(name);
  await admin((c) => c.query(`drop database if exists "${name}" with (force)`));
}

export async function clearBenchRedisPrefix(prefix: string): Promise<number> {
  if (!prefix.startsWith(BENCH_REDIS_PREFIX) || prefix.length <= BENCH_REDIS_PREFIX.length) {
    throw new Error(`refusing to clear Redis prefix "${prefix}"`);
  }
  const redis = new Redis(benchRedisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let deleted = 0;
  try {
    let cursor = '0';
    // Bounded: a scan visits every key once; the cap only guards against a runaway.
    for (let i = 0; i < 1_000_000; i++) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await redis.del(...keys);
      if (cursor === '0') break;
    }
  } finally {
    redis.disconnect();
  }
  return deleted;
}

/** An embedded (PGlite) data directory, migrated, for the embedded tracker to start on. */
export async function prepareEmbedded(dataDir: string): Promise<Database> {
  const database = await openEmbedded({ dataDir });
  await migrate(database);
  return database;
}

export const FACEBOOK_PARAMS: TrafficSourceParam[] = [
  { name: 'campaign_id', token: '{{campaign.id}}', role: 'campaign' },
  { name: 'adset_id', token: '{{adset.id}}', role: 'adset' },
  { name: 'ad_id', token: '{{ad.id}}', role: 'ad' },
  { name: 'placement', token: '{{placement}}', role: 'placement' },
  { name: 'site_source_name', token: '{{site_source_name}}', role: 'custom' },
  { name: 'fbclid', token: 'fbclid', role: 'externalId' },
];

export interface SeededCampaign {
  key: string;
  campaignId: number;
  offerId: number;
  trafficSourceId: number;
}

/**
 * One Facebook-style campaign sending visitors straight to an offer, inserted directly (the same
 * rows the management API writes), so the benchmark also seeds the embedded data directory
 * before the tracker opens it.
 */
export async function seedCampaign(db: Db, key = 'bench1'): Promise<SeededCampaign> {
  const [ts] = await db.insert(trafficSources).values({ name: 'Facebook (bench)', params: FACEBOOK_PARAMS }).returning();
  const [offer] = await db
    .insert(offers)
    .values({
      name: 'Bench offer',
      url: 'https://offer.example.com/lp?sub1={clickid}&sub2={campaign.id}&sub3={country}&adset={var:adset_id}',
      payout: '2.50',
      currency: 'USD',
    })
    .returning();
  const [camp] = await db
    .insert(campaigns)
    .values({
      key,
      name: 'Bench campaign',
      trafficSourceId: ts.id,
      costModel: 'cpc',
      costValue: '0.05',
      flow: { rules: [], paths: [{ name: 'direct', offers: [{ id: offer.id }] }] },
    })
    .returning();
  return { key, campaignId: camp.id, offerId: offer.id, trafficSourceId: ts.id };
}
