// The click writer: visits and lander click-throughs go to Postgres behind the redirect, in
// batches of one statement each. One statement per batch keeps statement-level rollup triggers
// cheap, and every batch is idempotent on click ID so a retried or replayed batch is harmless.
// Visits on real Postgres go in with COPY (about 3x the rows/s of INSERT ... SELECT FROM unnest,
// measured in src/reporting/README.md); a batch COPY refuses for a click ID already stored (a
// retry after a lost commit answer, a spill replayed twice) is written again with the unnest
// INSERT ... ON CONFLICT DO NOTHING, which PGlite always uses.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { sql, type SQL } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import { LRUCache } from 'lru-cache';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { ClickWriter } from '../context.js';
import type { Db } from '../db/client.js';
import type { landerClicks } from '../db/schema.js';
import type { VisitRow } from './hot-click.js';
import { WriteQueue, type QueueStats } from './write-queue.js';

export type LanderClickRow = typeof landerClicks.$inferInsert;

const iso = (v: Date | string) => (typeof v === 'string' ? v : v.toISOString());
const p = (values: unknown[]) => sql.param(values);

/** tracklane_text_hash() in SQL (migration 0009): the first 8 bytes of md5, as a signed bigint. */
export const textHash = (text: string): string => createHash('md5').update(text).digest().readBigInt64BE(0).toString();

// A md5 costs ~7 us (as much as the rest of a row's serialisation); user agents and role-name
// sets repeat from visit to visit, so their hashes are remembered.
const hashes = new LRUCache<string, string>({ max: 20_000 });
const cachedHash = (text: string): string => {
  let h = hashes.get(text);
  if (h === undefined) hashes.set(text, (h = textHash(text)));
  return h;
};

/** A visit as stored: params without the ones kept in role columns, hashes instead of texts. */
interface StoredVisit {
  row: VisitRow;
  params: string;
  uaHash: string | null;
  rolesHash: string | null;
}

const ROLE_ORDER = ['campaign', 'adset', 'ad', 'placement', 'externalId'] as const;

/** Hashes seen recently and already in Postgres, so their text is not sent again every batch. */
type Known = LRUCache<string, true>;
const newKnown = (): Known => new LRUCache<string, true>({ max: 50_000 });

// Rows prepared or serialised per event-loop turn. The writer shares the loop with /click: a batch
// was prepared in one go and the COPY stream (Readable.from buffers 16 slices ahead) serialised up
// to 4,000 rows at once, so every redirect arriving meanwhile waited. Measured with
// bench/writer-bursts.ts (the loop's longest holds after the first, busy 2-core machine): 5,000-row
// batches 18-41 ms -> 3-6 ms; rows/s unchanged within noise (100-row slices cost ~25% of it;
// 250 rows are ~1 ms of work). 500-row batches (a 250 ms flush at 2,000 req/s) were too noisy to tell.
const SLICE_ROWS = 250;

async function prepare(rows: VisitRow[], known: Known) {
  const userAgents = new Map<string, string>();
  const roles = new Map<string, string>();
  const stored: StoredVisit[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    if (i > 0 && i % SLICE_ROWS === 0) await nextTurn();
    stored[i] = prepareOne(rows[i], known, userAgents, roles);
  }
  return { stored, userAgents, roles };
}

function prepareOne(row: VisitRow, known: Known, userAgents: Map<string, string>, roles: Map<string, string>): StoredVisit {
  let params = row.params ?? {};
  let rolesHash: string | null = null;
  const names = row.paramRoles;
  if (names) {
    // Only a role whose column holds exactly the parameter's value is stored once; the rest stay.
    const taken: Partial<Record<string, string>> = {};
    const rest = { ...params };
    let any = false;
    for (const role of ROLE_ORDER) {
      const name = names[role];
      if (name === undefined || rest[name] === undefined || rest[name] !== roleValue(row, role)) continue;
      taken[role] = name;
      delete rest[name];
      any = true;
    }
    if (any) {
      const json = JSON.stringify(taken);
      rolesHash = cachedHash(json);
      if (!known.has(`r${rolesHash}`)) roles.set(rolesHash, json);
      params = rest;
    }
  }
  let uaHash: string | null = null;
  if (row.userAgent) {
    uaHash = cachedHash(row.userAgent);
    if (!known.has(`u${uaHash}`)) userAgents.set(uaHash, row.userAgent);
  }
  return { row, params: JSON.stringify(params), uaHash, rolesHash };
}

function roleValue(row: VisitRow, role: (typeof ROLE_ORDER)[number]) {
  switch (role) {
    case 'campaign': return row.tsCampaign;
    case 'adset': return row.tsAdset;
    case 'ad': return row.tsAd;
    case 'placement': return row.tsPlacement;
    case 'externalId': return row.externalId;
  }
}

const VISIT_COLUMNS = `click_id, visited_at, campaign_id, traffic_source_id, rule_index, path_index, path_name,
  lander_id, offer_id, affiliate_network_id, ts_campaign, ts_adset, ts_ad, ts_placement,
  external_id, params, param_roles_hash, ip, user_agent_hash, device, os, os_version, browser, browser_version,
  country, language, referrer_domain, is_bot, is_unique, cost`;

function unnestInsert(stored: StoredVisit[]): SQL {
  const col = <K extends keyof VisitRow>(k: K) => stored.map((s) => s.row[k] ?? null);
  return sql`insert into visits (${sql.raw(VISIT_COLUMNS)})
    select * from unnest(
      ${p(col('clickId'))}::text[], ${p(stored.map((s) => iso(s.row.visitedAt)))}::timestamptz[],
      ${p(col('campaignId'))}::int[], ${p(col('trafficSourceId'))}::int[],
      ${p(stored.map((s) => s.row.ruleIndex ?? -1))}::smallint[], ${p(stored.map((s) => s.row.pathIndex ?? 0))}::smallint[],
      ${p(col('pathName'))}::text[], ${p(col('landerId'))}::int[], ${p(col('offerId'))}::int[],
      ${p(col('affiliateNetworkId'))}::int[], ${p(col('tsCampaign'))}::text[], ${p(col('tsAdset'))}::text[],
      ${p(col('tsAd'))}::text[], ${p(col('tsPlacement'))}::text[], ${p(col('externalId'))}::text[],
      ${p(stored.map((s) => s.params))}::jsonb[], ${p(stored.map((s) => s.rolesHash))}::bigint[], ${p(col('ip'))}::text[],
      ${p(stored.map((s) => s.uaHash))}::bigint[], ${p(col('device'))}::text[], ${p(col('os'))}::text[],
      ${p(col('osVersion'))}::text[], ${p(col('browser'))}::text[], ${p(col('browserVersion'))}::text[],
      ${p(col('country'))}::text[], ${p(col('language'))}::text[], ${p(col('referrerDomain'))}::text[],
      ${p(stored.map((s) => s.row.isBot ?? false))}::boolean[], ${p(stored.map((s) => s.row.isUnique ?? false))}::boolean[],
      ${p(stored.map((s) => s.row.cost ?? '0'))}::numeric[])
    on conflict (click_id) do nothing`;
}

// COPY text format: backslash, tab, newline and carriage return are escaped; \N is NULL.
const SPECIAL = /[\\\t\n\r]/;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const escapeCopy = (v: string) => (SPECIAL.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => ESCAPES[c]) : v);
const text = (v: string | null | undefined) => (v === null || v === undefined ? '\\N' : escapeCopy(v));
const num = (v: number | null | undefined) => (v === null || v === undefined ? '\\N' : String(v));

/** Rows [from, to) of the batch as COPY text, in VISIT_COLUMNS order. */
function visitsCopyText(stored: StoredVisit[], from = 0, to = stored.length): string {
  const lines: string[] = new Array(to - from);
  for (let i = from; i < to; i++) {
    const { row: r, params, uaHash, rolesHash } = stored[i];
    lines[i - from] =
      `${escapeCopy(r.clickId)}\t${iso(r.visitedAt)}\t${r.campaignId}\t${r.trafficSourceId}\t${r.ruleIndex ?? -1}\t${r.pathIndex ?? 0}\t` +
      `${text(r.pathName)}\t${num(r.landerId)}\t${num(r.offerId)}\t${num(r.affiliateNetworkId)}\t${text(r.tsCampaign)}\t` +
      `${text(r.tsAdset)}\t${text(r.tsAd)}\t${text(r.tsPlacement)}\t${text(r.externalId)}\t${escapeCopy(params)}\t${rolesHash ?? '\\N'}\t` +
      `${text(r.ip)}\t${uaHash ?? '\\N'}\t${text(r.device)}\t${text(r.os)}\t${text(r.osVersion)}\t${text(r.browser)}\t` +
      `${text(r.browserVersion)}\t${text(r.country)}\t${text(r.language)}\t${text(r.referrerDomain)}\t${r.isBot ? 't' : 'f'}\t` +
      `${r.isUnique ? 't' : 'f'}\t${r.cost ?? '0'}\n`;
  }
  return lines.join('');
}

const UNIQUE_VIOLATION = '23505';

export interface VisitInserter {
  (rows: VisitRow[]): Promise<void>;
}

/**
 * Writes batches of visits. With `pool` (real Postgres) a batch is one COPY; without it, one
 * INSERT ... SELECT FROM unnest. Either way the user agents and role-name sets the batch needs are
 * upserted first (their own statement: an orphan row there is harmless, a visit never points at a
 * missing one), skipping those this inserter already wrote.
 */
export function createVisitInserter(db: Db, pool?: pg.Pool): VisitInserter {
  const known = newKnown();
  return async (rows) => {
    if (rows.length === 0) return;
    const { stored, userAgents, roles } = await prepare(rows, known);
    if (userAgents.size > 0 || roles.size > 0) {
      await db.execute(sql`with ua as (
          insert into user_agents (hash, user_agent) select * from unnest(${p([...userAgents.keys()])}::bigint[], ${p([...userAgents.values()])}::text[])
          on conflict do nothing)
        insert into visit_param_roles (hash, names) select * from unnest(${p([...roles.keys()])}::bigint[], ${p([...roles.values()])}::jsonb[])
        on conflict do nothing`);
      for (const h of userAgents.keys()) known.set(`u${h}`, true);
      for (const h of roles.keys()) known.set(`r${h}`, true);
    }
    if (pool && !(await copyVisits(pool, stored))) return;
    await db.execute(unnestInsert(stored));
  };
}

// Serialised a slice at a time, so Postgres parses one slice while the next is being built, with
// a turn of the event loop between slices (see SLICE_ROWS) so redirects are answered meanwhile.
async function* copyChunks(stored: StoredVisit[]) {
  for (let i = 0; i < stored.length; i += SLICE_ROWS) {
    if (i > 0) await nextTurn();
    yield Buffer.from(visitsCopyText(stored, i, Math.min(stored.length, i + SLICE_ROWS)));
  }
}

/** One COPY; false when done, true when a click ID was already stored and the batch needs the idempotent path. */
async function copyVisits(pool: pg.Pool, stored: StoredVisit[]): Promise<boolean> {
  const client = await pool.connect();
  // A checked-out client has no pool listener: a connection cut mid-COPY (Postgres restarted, the
  // backend terminated) would otherwise be an unhandled 'error' that ends the process. The COPY's
  // own promise rejects with it, so here it is only kept to discard the connection.
  let connectionError: Error | undefined;
  const onError = (err: Error) => {
    connectionError = err;
  };
  client.on('error', onError);
  let discard: Error | undefined;
  try {
    // highWaterMark 1: the stream asks for a slice only when the last one went on to the socket.
    await pipeline(Readable.from(copyChunks(stored), { highWaterMark: 1 }), client.query(copyFrom(`copy visits (${VISIT_COLUMNS}) from stdin`)));
    return false;
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (code === UNIQUE_VIOLATION && !connectionError) return true;
    // The connection stays only after Postgres refused the data itself (classes 22 and 23); after
    // anything else it may be mid-protocol or dead, so the pool gets a fresh one.
    if (connectionError || !/^2[23]/.test(code)) discard = connectionError ?? (err as Error);
    throw err;
  } finally {
    client.removeListener('error', onError);
    client.release(discard);
  }
}

/** Stateless form of createVisitInserter (no cache of stored user agents). */
export async function insertVisits(db: Db, rows: VisitRow[], pool?: pg.Pool): Promise<void> {
  await createVisitInserter(db, pool)(rows);
}

async function insertLanderClicks(db: Db, rows: LanderClickRow[]): Promise<void> {
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
  /** The latest figures this thread has (a recording thread sends them every second). */
  stats(): ClickWriterStats;
  /** The figures as of now, where they live on another thread. */
  freshStats(): Promise<ClickWriterStats>;
}

export interface ClickWriterOptions {
  db: Db;
  /** Real Postgres only: visits then go in with COPY. */
  pool?: pg.Pool;
  log: FastifyBaseLogger;
  batchMax: number;
  flushMs: number;
  bufferMax: number;
  spillDir: string;
  writeTimeoutMs?: number;
  holdTimeoutMs: number;
  /**
   * How long close() may take (part of SHUTDOWN_TIMEOUT_MS): writes are tried until then, and what
   * Postgres has not taken by then is spilled, before the process is killed with it in memory.
   */
  closeBudgetMs?: number;
  /** Called for each visit buffered because its unique-visit answer came too late. */
  onHoldTimeout?: () => void;
}

const reviveDates =
  <T>(...fields: string[]) =>
  (row: Record<string, unknown>): T => {
    for (const f of fields) if (typeof row[f] === 'string') row[f] = new Date(row[f] as string);
    return row as T;
  };

/** close()'s budget when none is given: half the default SHUTDOWN_TIMEOUT_MS. */
const DEFAULT_CLOSE_BUDGET_MS = 5000;

export async function createClickWriter(opts: ClickWriterOptions): Promise<TrackingClickWriter> {
  const common = { batchMax: opts.batchMax, flushMs: opts.flushMs, bufferMax: opts.bufferMax, spillDir: opts.spillDir, log: opts.log, writeTimeoutMs: opts.writeTimeoutMs };
  const writeVisits = createVisitInserter(opts.db, opts.pool);
  const visits = new WriteQueue<VisitRow>({
    ...common,
    name: 'visits',
    write: writeVisits,
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
  const stats = (): ClickWriterStats => ({ visits: { ...visits.getStats(), awaitingUniqueCheck: waiting.size }, landerClicks: clicks.getStats() });

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
  const flushAll = async (spillOnFailure: boolean, attempts: number, deadline = Infinity, final = false) => {
    // Only the visits held now: under live traffic new ones keep arriving and wait for the next flush.
    const held = [...waiting.keys()];
    const giveUp = Math.min(deadline, Date.now() + opts.holdTimeoutMs + sweepEvery * 2);
    while (held.some((id) => waiting.has(id)) && Date.now() < giveUp) await new Promise((r) => setTimeout(r, 5));
    for (const id of held) if (waiting.has(id)) timedOut(id);
    const how = { spillOnFailure, attempts, deadline, final };
    await Promise.all([visits.flush(how), clicks.flush(how)]);
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
      // A few quick retries ride out a blip; what Postgres still refuses, or has not taken within the
      // budget, goes to disk for the next start.
      await flushAll(true, 3, Date.now() + (opts.closeBudgetMs ?? DEFAULT_CLOSE_BUDGET_MS), true);
    },
    stats,
    freshStats: async () => stats(),
  };
}
