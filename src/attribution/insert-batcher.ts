// Group commit for new conversions. A postback is answered only once its conversion is committed
// (a network that got 200 never retries), and one commit per postback leaves throughput bound by
// fsync latency. So postbacks arriving together share one multi-row
// INSERT ... ON CONFLICT DO NOTHING RETURNING: still a single statement per batch for the rollup
// triggers, the unique index still decides duplicates (within a batch too), one commit for all.
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { rows, type Db } from '../db/client.js';
import { isUnavailable } from '../db/errors.js';
import { conversions, postbackDeliveries } from '../db/schema.js';

export type ConversionValues = typeof conversions.$inferInsert;

export interface InsertRequest {
  values: ConversionValues;
  /** Queued for forwarding in the same transaction when the row is new. */
  forward: { url: string; trafficSourceId: number } | null;
}

/**
 * The batch goes as ONE jsonb parameter that jsonb_to_recordset turns back into rows, under a
 * statement text that never changes. Profiled under postback load (node --cpu-prof), the former INSERT ... SELECT FROM unnest(31 array parameters) spent ~9% of the
 * tracker's busy CPU building the drizzle template per batch (entity checks and tracing per
 * chunk) and escaping every element into Postgres array literals in pg (arrayString,
 * escapeElement); one JSON.stringify of plain objects is native code, and the constant text
 * leaves drizzle one string and one parameter to walk. Measured (insertConversions alone, 16-row
 * batches, alternating rounds on a busy machine): client CPU ~73-104 -> ~43-65 us per conversion.
 */
const INSERT_HEAD = `insert into conversions (
    click_id, type, txid, status, payout, original_payout, original_currency, cost, visited_at, converted_at, status_received_at,
    campaign_id, traffic_source_id, offer_id, lander_id, affiliate_network_id, rule_index, path_index, path_name,
    country, device, os, browser, language, is_bot, ts_campaign, ts_adset, ts_ad, ts_placement, external_id,
    params, postback_params)
  select click_id, type, txid, status, payout, original_payout, original_currency, cost, visited_at, converted_at, status_received_at,
    campaign_id, traffic_source_id, offer_id, lander_id, affiliate_network_id, rule_index, path_index, path_name,
    country, device, os, browser, language, is_bot, ts_campaign, ts_adset, ts_ad, ts_placement, external_id,
    params, postback_params
  from jsonb_to_recordset(`;
const INSERT_TAIL = `::jsonb) as r(
    click_id text, type text, txid text, status text, payout numeric, original_payout numeric, original_currency text,
    cost numeric, visited_at timestamptz, converted_at timestamptz, status_received_at timestamptz, campaign_id int, traffic_source_id int, offer_id int,
    lander_id int, affiliate_network_id int, rule_index smallint, path_index smallint, path_name text, country text,
    device text, os text, browser text, language text, is_bot boolean, ts_campaign text, ts_adset text, ts_ad text,
    ts_placement text, external_id text, params jsonb, postback_params jsonb)
  on conflict (click_id, type, txid) do nothing
  returning id, click_id, type, txid`;
const INSERT_FROM_JSON = sql.raw(INSERT_HEAD);
const INSERT_FROM_JSON_END = sql.raw(INSERT_TAIL);
/**
 * On a pg pool the same text goes as a named (prepared) statement: each connection parses and
 * plans it once. Measured: 8-row batches inside a rolled-back transaction (no fsync) took ~985
 * -> ~770 us of Postgres time each. Transactions (forwards) and PGlite go through drizzle.
 */
const INSERT_PREPARED = { name: 'tracklane_insert_conversions', text: `${INSERT_HEAD}$1${INSERT_TAIL}` };

const iso = (d: Date | string | undefined) => (d instanceof Date ? d.toISOString() : d);

/** One row as jsonb_to_recordset reads it: the column names, defaults filled in (JSON has no DEFAULT). */
const jsonRow = (r: ConversionValues) => ({
  click_id: r.clickId,
  type: r.type ?? 'conversion',
  txid: r.txid ?? '',
  status: r.status,
  payout: r.payout,
  original_payout: r.originalPayout,
  original_currency: r.originalCurrency,
  cost: r.cost ?? '0',
  // ISO 8601, which timestamptz reads exactly. As strings here: a Date takes JSON.stringify off
  // its fast path through the whole row (measured: 3.9 -> 2.2 us per row for 12-row batches).
  visited_at: iso(r.visitedAt),
  converted_at: iso(r.convertedAt),
  // Absent (a key JSON.stringify leaves out, read as null) for a postback recorded as it arrives.
  status_received_at: r.statusReceivedAt ? iso(r.statusReceivedAt) : undefined,
  campaign_id: r.campaignId,
  traffic_source_id: r.trafficSourceId,
  offer_id: r.offerId ?? null,
  lander_id: r.landerId ?? null,
  affiliate_network_id: r.affiliateNetworkId ?? null,
  rule_index: r.ruleIndex ?? -1,
  path_index: r.pathIndex ?? 0,
  path_name: r.pathName ?? null,
  country: r.country ?? null,
  device: r.device ?? null,
  os: r.os ?? null,
  browser: r.browser ?? null,
  language: r.language ?? null,
  is_bot: r.isBot ?? false,
  ts_campaign: r.tsCampaign ?? null,
  ts_adset: r.tsAdset ?? null,
  ts_ad: r.tsAd ?? null,
  ts_placement: r.tsPlacement ?? null,
  external_id: r.externalId ?? null,
  params: r.params ?? {},
  postback_params: r.postbackParams ?? {},
});

async function insertRows(db: Db, rowsIn: readonly ConversionValues[]) {
  const json = JSON.stringify(rowsIn.map(jsonRow));
  type Inserted = { id: string | number; click_id: string; type: string; txid: string };
  // A transaction handle has no $client, so its statements stay inside the transaction.
  const client = (db as unknown as { $client?: unknown }).$client;
  const out =
    client instanceof pg.Pool
      ? (await client.query<Inserted>({ ...INSERT_PREPARED, values: [json] })).rows
      : await rows<Inserted>(db, sql`${INSERT_FROM_JSON}${sql.param(json)}${INSERT_FROM_JSON_END}`);
  return out.map((r) => ({ id: Number(r.id), clickId: r.click_id, type: r.type, txid: r.txid }));
}

/** Inserts the rows that are new; resolves each request with its id, or null for a duplicate. */
export async function insertConversions(db: Db, reqs: readonly InsertRequest[]): Promise<(number | null)[]> {
  const write = async (d: Db) => {
    const inserted = await insertRows(d, reqs.map((r) => r.values));
    const idByKey = new Map(inserted.map((r) => [`${r.clickId}\u0000${r.type}\u0000${r.txid}`, r.id]));
    // Identical requests in one batch: the first gets the row, the rest are duplicates.
    const ids = reqs.map((r) => {
      const key = `${r.values.clickId}\u0000${r.values.type ?? 'conversion'}\u0000${r.values.txid ?? ''}`;
      const id = idByKey.get(key);
      if (id === undefined) return null;
      idByKey.delete(key);
      return id;
    });
    const deliveries = reqs.flatMap((r, i) => (r.forward && ids[i] !== null ? [{ conversionId: ids[i]!, trafficSourceId: r.forward.trafficSourceId, url: r.forward.url }] : []));
    if (deliveries.length) await d.insert(postbackDeliveries).values(deliveries).onConflictDoNothing();
    return ids;
  };
  // Without forwards the INSERT commits on its own: no BEGIN/COMMIT round trips.
  if (!reqs.some((r) => r.forward)) return write(db);
  return db.transaction((tx) => write(tx as unknown as Db));
}

export interface InsertBatcher {
  insert(req: InsertRequest): Promise<number | null>;
  /** Waits for everything queued. */
  drain(): Promise<void>;
}

/**
 * Up to `maxInFlight` batches at once. The conversions triggers only append to
 * report_conversion_delta (migration 0011), so concurrent batches share no row and never wait on
 * each other's locks; their commits overlap and Postgres flushes several with one WAL fsync.
 * (Before, every batch upserted the same hot rollup rows and held their locks until commit:
 * 4 in flight gave 195 postbacks/s, most backends waiting on Lock:transactionid.) Whatever arrives
 * while all slots are busy forms the next batch, so batches grow with the load.
 * With `maxInFlight` = 1, a finished batch lingers briefly for the next cohort (see below).
 *
 * While a batch is in flight, another starts only once `minBatchWhileBusy` postbacks wait (a
 * request never waits longer than the batches already running: when the last one ends, whatever
 * is queued goes). Without it, each free slot took whatever one turn had parsed, so under load
 * most batches held 1-3 rows and each postback paid nearly a whole statement, write syscall and
 * commit of its own (the pg socket write alone was ~15% of the tracker's busy CPU). Measured with
 * the jsonb statement above, quick bench (32 connections): tracker CPU per postback ~207 -> ~141 us.
 */
export function createInsertBatcher(db: Db, { maxBatch = 1000, maxLingerMs = 10, maxInFlight = 4, minBatchWhileBusy = 8 } = {}): InsertBatcher {
  type Waiting = { req: InsertRequest; resolve: (id: number | null) => void; reject: (err: unknown) => void };
  let queue: Waiting[] = [];
  let inFlight = 0;
  let scheduled = false;
  let linger: NodeJS.Timeout | undefined;
  let lingerTarget = 0;
  const idle: (() => void)[] = [];

  const run = async (batch: Waiting[]) => {
    try {
      const ids = await insertConversions(db, batch.map((b) => b.req));
      batch.forEach((b, i) => b.resolve(ids[i]));
    } catch (err) {
      // Postgres away is not one bad row: every request gets the answer now (the service keeps
      // them in the postback spill). Retried one by one, each waited for a connection timeout
      // in turn, so the last of a batch was answered minutes later.
      if (batch.length === 1 || isUnavailable(err)) return batch.forEach((b) => b.reject(err));
      // One bad row must not fail its neighbours: retry each alone, each with its own answer.
      for (const b of batch) {
        await insertConversions(db, [b.req]).then(
          ([id]) => b.resolve(id),
          (e: unknown) => b.reject(e),
        );
      }
    }
  };
  const settleIdle = () => {
    if (inFlight === 0 && queue.length === 0 && !linger) idle.splice(0).forEach((f) => f());
  };
  const endLinger = () => {
    clearTimeout(linger);
    linger = undefined;
    pump();
  };
  const dispatch = () => {
    const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
    queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch);
    inFlight++;
    const started = performance.now();
    // run() settles every request itself and never rejects, so nothing here can go unhandled.
    void run(batch).finally(() => {
      inFlight--;
      if (maxInFlight === 1 && batch.length > 1 && queue.length > 0 && queue.length < maxBatch) {
        // Under load, the networks just answered send their next postbacks a few ms later. Sending
        // what is queued at once splits the clients into two cohorts that alternate, each batch
        // half full (measured: 32 connections gave batches of 15 and 17, each paying the whole
        // per-statement cost and a commit). So wait for them, until the queue holds both cohorts
        // or for at most half the last batch's time (capped).
        lingerTarget = queue.length + batch.length;
        linger = setTimeout(endLinger, Math.min(maxLingerMs, Math.max(1, (performance.now() - started) / 2)));
      } else {
        pump();
      }
      settleIdle();
    });
  };
  const pump = () => {
    scheduled = false;
    if (linger) return;
    while (inFlight < maxInFlight && queue.length > 0 && (inFlight === 0 || queue.length >= minBatchWhileBusy)) dispatch();
    settleIdle();
  };
  return {
    insert(req) {
      return new Promise((resolve, reject) => {
        queue.push({ req, resolve, reject });
        if (linger) {
          if (queue.length >= lingerTarget) endLinger();
        } else if (!scheduled && inFlight < maxInFlight && (inFlight === 0 || queue.length >= minBatchWhileBusy)) {
          // Requests parsed in the same turn of the event loop go out together; while every slot
          // is busy, they wait and go out as the next batch.
          scheduled = true;
          setImmediate(pump);
        }
      });
    },
    drain() {
      if (inFlight === 0 && queue.length === 0 && !linger) return Promise.resolve();
      return new Promise((resolve) => idle.push(resolve));
    },
  };
}
