// The click writer: visits and lander click-throughs go to Postgres behind the redirect, in
// batches of one INSERT ... SELECT FROM unnest(...) statement each. One statement per batch keeps
// statement-level rollup triggers cheap, works the same on pg and PGlite, and ON CONFLICT DO
// NOTHING makes a retried or replayed batch harmless.
import { sql, type SQL } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import type { ClickWriter } from '../context.js';
import type { Db } from '../db/client.js';
import type { landerClicks } from '../db/schema.js';
import type { VisitRow } from './hot-click.js';
import { WriteQueue, type QueueStats } from './write-queue.js';

export type LanderClickRow = typeof landerClicks.$inferInsert;

const iso = (v: Date | string) => (typeof v === 'string' ? v : v.toISOString());
const p = (values: unknown[]) => sql.param(values);

export async function insertVisits(db: Db, rows: VisitRow[]): Promise<void> {
  const col = <K extends keyof VisitRow>(k: K) => rows.map((r) => r[k] ?? null);
  const query: SQL = sql`insert into visits (
      click_id, visited_at, campaign_id, traffic_source_id, rule_index, path_index, path_name,
      lander_id, offer_id, affiliate_network_id, ts_campaign, ts_adset, ts_ad, ts_placement,
      external_id, params, ip, user_agent, device, os, os_version, browser, browser_version,
      country, language, referrer_domain, is_bot, is_unique, cost)
    select * from unnest(
      ${p(col('clickId'))}::text[], ${p(rows.map((r) => iso(r.visitedAt)))}::timestamptz[],
      ${p(col('campaignId'))}::int[], ${p(col('trafficSourceId'))}::int[],
      ${p(rows.map((r) => r.ruleIndex ?? -1))}::smallint[], ${p(rows.map((r) => r.pathIndex ?? 0))}::smallint[],
      ${p(col('pathName'))}::text[], ${p(col('landerId'))}::int[], ${p(col('offerId'))}::int[],
      ${p(col('affiliateNetworkId'))}::int[], ${p(col('tsCampaign'))}::text[], ${p(col('tsAdset'))}::text[],
      ${p(col('tsAd'))}::text[], ${p(col('tsPlacement'))}::text[], ${p(col('externalId'))}::text[],
      ${p(rows.map((r) => JSON.stringify(r.params ?? {})))}::jsonb[], ${p(col('ip'))}::text[],
      ${p(col('userAgent'))}::text[], ${p(col('device'))}::text[], ${p(col('os'))}::text[],
      ${p(col('osVersion'))}::text[], ${p(col('browser'))}::text[], ${p(col('browserVersion'))}::text[],
      ${p(col('country'))}::text[], ${p(col('language'))}::text[], ${p(col('referrerDomain'))}::text[],
      ${p(rows.map((r) => r.isBot ?? false))}::boolean[], ${p(rows.map((r) => r.isUnique ?? false))}::boolean[],
      ${p(rows.map((r) => r.cost ?? '0'))}::numeric[])
    on conflict (click_id) do nothing`;
  await db.execute(query);
}

export async function insertLanderClicks(db: Db, rows: LanderClickRow[]): Promise<void> {
  await db.execute(sql`insert into lander_clicks (click_id, slot, clicked_at, visited_at, offer_id, campaign_id)
    select * from unnest(
      ${p(rows.map((r) => r.clickId))}::text[], ${p(rows.map((r) => r.slot ?? 1))}::smallint[],
      ${p(rows.map((r) => iso(r.clickedAt)))}::timestamptz[], ${p(rows.map((r) => iso(r.visitedAt)))}::timestamptz[],
      ${p(rows.map((r) => r.offerId ?? null))}::int[], ${p(rows.map((r) => r.campaignId))}::int[])
    on conflict (click_id, slot) do nothing`);
}

export interface ClickWriterStats {
  visits: QueueStats & { awaitingUniqueCheck: number };
  landerClicks: QueueStats;
}

export interface TrackingClickWriter extends ClickWriter {
  /**
   * Holds a visit until its unique-visit answer is known (`release`); peek finds it at once. A visit
   * not released within `holdTimeoutMs` is buffered anyway with `isUnique` true and counted.
   */
  hold(visit: VisitRow): void;
  release(clickId: string, isUnique: boolean): void;
  addLanderClick(row: LanderClickRow): void;
  stats(): ClickWriterStats;
}

export interface ClickWriterOptions {
  db: Db;
  log: FastifyBaseLogger;
  batchMax: number;
  flushMs: number;
  bufferMax: number;
  spillDir: string;
  writeTimeoutMs?: number;
  holdTimeoutMs: number;
  /** Called for each visit buffered because its unique-visit answer came too late. */
  onHoldTimeout?: () => void;
}

const reviveDates =
  <T>(...fields: string[]) =>
  (row: Record<string, unknown>): T => {
    for (const f of fields) if (typeof row[f] === 'string') row[f] = new Date(row[f] as string);
    return row as T;
  };

export async function createClickWriter(opts: ClickWriterOptions): Promise<TrackingClickWriter> {
  const common = { batchMax: opts.batchMax, flushMs: opts.flushMs, bufferMax: opts.bufferMax, spillDir: opts.spillDir, log: opts.log, writeTimeoutMs: opts.writeTimeoutMs };
  const visits = new WriteQueue<VisitRow>({
    ...common,
    name: 'visits',
    write: (rows) => insertVisits(opts.db, rows),
    revive: reviveDates<VisitRow>('visitedAt'),
    keyOf: (r) => r.clickId,
  });
  const clicks = new WriteQueue<LanderClickRow>({
    ...common,
    name: 'lander_clicks',
    write: (rows) => insertLanderClicks(opts.db, rows),
    revive: reviveDates<LanderClickRow>('clickedAt', 'visitedAt'),
    keyOf: (r) => `${r.clickId}:${r.slot ?? 1}`,
  });
  await Promise.all([visits.start(), clicks.start()]);

  // Held visits in arrival order (Map keeps insertion order), so the sweep stops at the first young one.
  const waiting = new Map<string, { visit: VisitRow; heldAt: number }>();
  let closed = false;
  const release = (clickId: string, isUnique: boolean) => {
    const held = waiting.get(clickId);
    if (!held) return;
    waiting.delete(clickId);
    held.visit.isUnique = isUnique;
    visits.add(held.visit);
  };
  // One timer for every held visit instead of one per visit: the hot path stays allocation-light.
  const sweepEvery = Math.max(10, Math.min(250, Math.floor(opts.holdTimeoutMs / 4)));
  const timedOut = (clickId: string) => {
    opts.onHoldTimeout?.();
    release(clickId, true);
  };
  const sweep = () => {
    const deadline = Date.now() - opts.holdTimeoutMs;
    for (const [clickId, held] of waiting) {
      if (held.heldAt > deadline) break;
      timedOut(clickId);
    }
  };
  const sweeper = setInterval(sweep, sweepEvery);
  sweeper.unref();

  /** Waits for held visits to be released (by their answer or the sweep), then writes everything. */
  const flushAll = async (spillOnFailure: boolean, attempts: number) => {
    // Only the visits held now: under live traffic new ones keep arriving and wait for the next flush.
    const held = [...waiting.keys()];
    const giveUp = Date.now() + opts.holdTimeoutMs + sweepEvery * 2;
    while (held.some((id) => waiting.has(id)) && Date.now() < giveUp) await new Promise((r) => setTimeout(r, 5));
    for (const id of held) if (waiting.has(id)) timedOut(id);
    await Promise.all([visits.flush({ spillOnFailure, attempts }), clicks.flush({ spillOnFailure, attempts })]);
  };

  return {
    add(visit) {
      visits.add(visit);
    },
    hold(visit) {
      waiting.set(visit.clickId, { visit, heldAt: Date.now() });
    },
    release,
    addLanderClick(row) {
      clicks.add(row);
    },
    peek(clickId) {
      return waiting.get(clickId)?.visit ?? visits.peek(clickId);
    },
    flush: () => flushAll(true, 1),
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([visits.stop(), clicks.stop()]);
      clearInterval(sweeper);
      // A few quick retries ride out a blip; what Postgres still refuses goes to disk for the next start.
      await flushAll(true, 3);
    },
    stats: () => ({ visits: { ...visits.getStats(), awaitingUniqueCheck: waiting.size }, landerClicks: clicks.getStats() }),
  };
}
