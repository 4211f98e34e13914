// Delivers queued forwards (postback_deliveries) to traffic sources, off the postback's request.
// Claimed with FOR UPDATE SKIP LOCKED and a lease, so each is sent by one instance at a time;
// what happens after an attempt (retry with backoff, or give up) is decided in delivery-policy.ts;
// every attempt is appended to the row's log. Failed forwards can be requeued (requeueFailedDeliveries)
// once the traffic source's postback URL is fixed.
import { and, desc, eq, lt, sql, type SQL } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import { rows, type Db } from '../db/client.js';
import { sqlState } from '../db/errors.js';
import { postbackDeliveries, type ConversionStatus } from '../db/schema.js';
import { normalizeMoney } from './decimal.js';
import { decideDelivery, type AttemptResult } from './delivery-policy.js';
import { forwardUrlFor } from './forward-url.js';
import { guardedGet, OutboundRefused, type OutboundOptions } from './outbound.js';

export interface DeliveryDeps {
  db: Db;
  log: FastifyBaseLogger;
  outbound: OutboundOptions;
  /**
   * Running totals across passes (the metrics), counted per attempt as it ends: a pass that fails
   * half way (Postgres gone while writing an outcome) still counts the attempts it made.
   */
  totals?: DeliveryRunResult;
}

export interface DeliveryRunResult {
  delivered: number;
  retrying: number;
  failed: number;
}

type ClaimedDelivery = { id: string | number; url: string; attempts: number; conversion_id: string | number };

/**
 * Claims due forwards, at most `limit`, each only when no earlier forward of its conversion is
 * still pending (waiting for a retry, or being sent by this or another instance): a traffic
 * source told approved, then declined, must hear them in that order. Sent side by side, or the
 * approval retried after a 500 while the reversal went through, its last word was the wrong one.
 */
function claimDue(db: Db, now: Date, lease: Date, limit: number, conversionId?: number) {
  return rows<ClaimedDelivery>(
    db,
    sql`update postback_deliveries set next_attempt_at = ${lease.toISOString()}::timestamptz
        where id in (
          select d.id from postback_deliveries d
          where d.state = 'pending' and d.next_attempt_at <= ${now.toISOString()}::timestamptz
            ${conversionId === undefined ? sql`` : sql`and d.conversion_id = ${conversionId}`}
            and not exists (
              select 1 from postback_deliveries o
              where o.conversion_id = d.conversion_id and o.state = 'pending' and (o.created_at, o.id) < (d.created_at, d.id))
          order by d.next_attempt_at limit ${limit}
          for update of d skip locked)
        returning id, url, attempts, conversion_id`,
  );
}

/** One pass over the due deliveries. */
export async function deliverDue(deps: DeliveryDeps, now = new Date(), batch = 20): Promise<DeliveryRunResult> {
  const result: DeliveryRunResult = { delivered: 0, retrying: 0, failed: 0 };
  // Long enough for one attempt with redirects; a crashed instance's claims come back after it.
  const lease = new Date(now.getTime() + deps.outbound.timeoutMs + 60_000);
  const claimed = await claimDue(deps.db, now, lease, batch);
  /** One attempt; true when the forward is done with (delivered or given up), so the next of its conversion may go. */
  const sendOne = async (row: ClaimedDelivery): Promise<boolean> => {
    const id = Number(row.id);
    const attempts = row.attempts + 1;
    let attempt: AttemptResult;
    try {
      const answer = await guardedGet(row.url, deps.outbound);
      attempt = { kind: 'answered', statusCode: answer.statusCode, retryAfter: answer.retryAfter };
    } catch (err) {
      const reason = (err as Error).message;
      attempt = err instanceof OutboundRefused ? { kind: 'refused', reason } : { kind: 'unreachable', reason };
    }
    const { state, nextAttemptAt, error } = decideDelivery(attempt, attempts, now);
    const statusCode = attempt.kind === 'answered' ? attempt.statusCode : undefined;
    const at = new Date().toISOString();
    const entry = { at, ...(statusCode !== undefined ? { statusCode } : {}), ...(error ? { error } : {}) };
    const log = { deliveryId: id, conversionId: Number(row.conversion_id), attempt: attempts, statusCode, error, state, nextAttemptAt };
    if (state === 'delivered') deps.log.info(log, 'postback forwarded');
    else if (state === 'pending') deps.log.warn(log, 'postback forward failed, will retry');
    else deps.log.warn(log, 'postback forward given up');
    const outcome = state === 'delivered' ? 'delivered' : state === 'failed' ? 'failed' : 'retrying';
    result[outcome]++;
    if (deps.totals) deps.totals[outcome]++;
    const logEntry = sql`${postbackDeliveries.log} || ${JSON.stringify([entry])}::jsonb`;
    const [updated] = await deps.db
      .update(postbackDeliveries)
      .set({ state, attempts, nextAttemptAt, lastStatusCode: statusCode ?? null, lastError: error, log: logEntry, updatedAt: sql`now()` })
      // Only while our claim holds: a status change back to this forward's status re-arms the
      // row meanwhile (enqueueDelivery), and that later send must not be marked done by this one.
      .where(and(eq(postbackDeliveries.id, id), sql`${postbackDeliveries.nextAttemptAt} = ${lease.toISOString()}::timestamptz`))
      .returning({ id: postbackDeliveries.id });
    if (!updated) {
      // The attempt still happened: its log shows it.
      await deps.db.update(postbackDeliveries).set({ log: logEntry }).where(eq(postbackDeliveries.id, id));
      return false;
    }
    return state !== 'pending';
  };
  await Promise.all(
    claimed.map(async (first) => {
      // The conversion's next forward, if already due, follows in the same pass once this one is done.
      for (let row: ClaimedDelivery | undefined = first; row && (await sendOne(row)); ) {
        [row] = await claimDue(deps.db, now, lease, 1, Number(row.conversion_id));
      }
    }),
  );
  return result;
}

export interface DeliveryListQuery {
  state?: 'pending' | 'delivered' | 'failed';
  conversionId?: number;
  /** Rows with an id below this (the previous page's nextCursor). */
  before?: number;
  limit: number;
}

export async function listDeliveries(db: Db, q: DeliveryListQuery) {
  const where: SQL[] = [];
  if (q.state) where.push(eq(postbackDeliveries.state, q.state));
  if (q.conversionId !== undefined) where.push(eq(postbackDeliveries.conversionId, q.conversionId));
  if (q.before !== undefined) where.push(lt(postbackDeliveries.id, q.before));
  const items = await db
    .select()
    .from(postbackDeliveries)
    .where(where.length ? and(...where) : undefined)
    .orderBy(desc(postbackDeliveries.id))
    .limit(q.limit);
  return { items, nextCursor: items.length === q.limit ? items[items.length - 1].id : null };
}

/** Which failed forwards to requeue; every criterion given must hold (at least one is). */
export interface RequeueSelection {
  ids?: number[];
  trafficSourceId?: number;
  /** Given up at or after this time (the row's updatedAt: its last attempt). */
  since?: Date;
}

export interface RequeueResult {
  /** Back to pending, due now, attempts reset, URL filled again from the current template. */
  requeued: number;
  /**
   * Matched but left failed: the traffic source has no postbackUrl or does not ask for this status
   * any more, the campaign stopped forwarding, the new URL is already queued or sent for the same
   * conversion, a later forward of the conversion was delivered, or another request requeued the
   * row meanwhile.
   */
  skipped: number;
}

/** Rows read and updated per statement: a traffic source broken for a week may have many thousands. */
const REQUEUE_PAGE = 500;

interface RequeueRow {
  id: string | number;
  conversion_id: string | number;
  conversion_found: boolean;
  click_id: string;
  external_id: string | null;
  campaign_id: number;
  offer_id: number | null;
  traffic_source_id: number;
  country: string | null;
  ts_campaign: string | null;
  ts_adset: string | null;
  ts_ad: string | null;
  ts_placement: string | null;
  params: Record<string, string> | null;
  txid: string;
  type: string;
  status: ConversionStatus;
  payout: string;
  postback_url: string | null;
  postback_statuses: string[] | null;
  campaign_name: string | null;
  forward_postbacks: boolean | null;
}

/**
 * Puts failed forwards back to pending for an attempt now, with attempts reset, and their URL
 * filled again from the traffic source's CURRENT postbackUrl: the usual reason to retry is a
 * template that was wrong (a 4xx is never retried on its own), so the old URL would fail again.
 * Filled by the same rule as when a conversion is recorded (forwardUrlFor), from the conversion
 * row, at the status and payout the forward was queued for (conversion_status_history: a forward
 * queued for `pending` must not report the later `approved`, which has its own forward). The log
 * keeps every earlier attempt and gains a `requeued` entry with the URL they went to.
 */
export async function requeueFailedDeliveries(
  deps: { db: Db; accountCurrency: string; log?: FastifyBaseLogger },
  selection: RequeueSelection,
  now = new Date(),
): Promise<RequeueResult> {
  const result: RequeueResult = { requeued: 0, skipped: 0 };
  const filters: SQL[] = [sql`d.state = 'failed'`];
  if (selection.ids) filters.push(sql`d.id in (${sql.join(selection.ids.map((id) => sql`${id}::bigint`), sql`, `)})`);
  if (selection.trafficSourceId !== undefined) filters.push(sql`d.traffic_source_id = ${selection.trafficSourceId}`);
  if (selection.since) filters.push(sql`d.updated_at >= ${selection.since.toISOString()}::timestamptz`);
  const entry = { at: now.toISOString(), event: 'requeued' };
  // Rows that stay failed (skipped) would be read again: page by id instead.
  let after = 0;
  for (;;) {
    const page = await rows<RequeueRow>(
      deps.db,
      sql`select d.id, d.conversion_id, c.id is not null as conversion_found, c.click_id, c.external_id, c.campaign_id, c.offer_id,
            d.traffic_source_id, c.country, c.ts_campaign, c.ts_adset, c.ts_ad, c.ts_placement, c.params, c.txid, c.type,
            coalesce(h.status, c.status) as status, coalesce(h.payout, c.payout)::text as payout,
            ts.postback_url, ts.postback_statuses, cp.name as campaign_name, cp.forward_postbacks
          from postback_deliveries d
          left join conversions c on c.id = d.conversion_id
          left join traffic_sources ts on ts.id = d.traffic_source_id
          left join campaigns cp on cp.id = c.campaign_id
          -- The status the forward was queued for: its history row is written in the same
          -- transaction as the forward (both stamped with that transaction's now()).
          left join lateral (
            select status, payout from conversion_status_history
            where conversion_id = d.conversion_id and changed_at <= d.created_at
            order by changed_at desc, id desc limit 1) h on true
          where ${sql.join(filters, sql` and `)} and d.id > ${after}
          order by d.id limit ${REQUEUE_PAGE}`,
    );
    if (page.length === 0) break;
    after = Number(page[page.length - 1].id);

    const updates: { id: number; url: string }[] = [];
    const taken = new Set<string>();
    for (const r of page) {
      const url = r.conversion_found
        ? forwardUrlFor(
            r.postback_url === null ? undefined : { postbackUrl: r.postback_url, postbackStatuses: r.postback_statuses ?? [] },
            r.forward_postbacks === null ? undefined : { forwardPostbacks: r.forward_postbacks, name: r.campaign_name ?? '' },
            {
              clickId: r.click_id,
              externalId: r.external_id,
              campaignId: r.campaign_id,
              offerId: r.offer_id,
              trafficSourceId: r.traffic_source_id,
              country: r.country,
              tsCampaign: r.ts_campaign,
              tsAdset: r.ts_adset,
              tsAd: r.ts_ad,
              tsPlacement: r.ts_placement,
              params: r.params ?? {},
            },
            // Canonical, as a recorded conversion's payout is filled (numeric reads back as 12.500000).
            { txid: r.txid, type: r.type, status: r.status, payout: normalizeMoney(r.payout) },
            deps.accountCurrency,
          )
        : null;
      // Two forwards of one conversion that now fill to the same URL (a template without
      // {status}) are sent once, as the unique index does when forwards are queued.
      const key = `${r.conversion_id}\u0000${url}`;
      if (url === null || taken.has(key)) continue;
      taken.add(key);
      updates.push({ id: Number(r.id), url });
    }
    const done = await requeuePage(deps.db, updates, entry, now);
    result.requeued += done;
    result.skipped += page.length - done;
    if (page.length < REQUEUE_PAGE) break;
  }
  deps.log?.info({ selection, ...result }, 'failed postback forwards requeued');
  return result;
}

/** One UPDATE for the page; the rows it changed. */
async function requeuePage(db: Db, updates: { id: number; url: string }[], entry: object, now: Date): Promise<number> {
  if (updates.length === 0) return 0;
  const update = (list: { id: number; url: string }[]) =>
    rows<{ id: string | number }>(
      db,
      sql`update postback_deliveries d
          set state = 'pending', url = r.url, attempts = 0, next_attempt_at = ${now.toISOString()}::timestamptz,
            last_status_code = null, last_error = null, updated_at = now(),
            log = d.log || jsonb_build_array(${JSON.stringify(entry)}::jsonb || jsonb_build_object('previousUrl', d.url))
          from jsonb_to_recordset(${JSON.stringify(list)}::jsonb) as r(id bigint, url text)
          where d.id = r.id and d.state = 'failed'
            -- Already queued or sent for this conversion: the unique index would refuse it.
            and not exists (select 1 from postback_deliveries o where o.conversion_id = d.conversion_id and o.url = r.url and o.id <> d.id)
            -- A later status of the conversion reached the traffic source: this older one sent now
            -- would be its last word (an approval after the chargeback it already heard).
            and not exists (
              select 1 from postback_deliveries l
              where l.conversion_id = d.conversion_id and l.state = 'delivered' and (l.created_at, l.id) > (d.created_at, d.id))
          returning d.id`,
    );
  try {
    return (await update(updates)).length;
  } catch (err) {
    if (sqlState(err) !== '23505') throw err;
    // A forward with the same URL was queued between our check and the write (a postback or
    // another requeue at the same moment): row by row, so only that one is skipped.
    let done = 0;
    for (const u of updates) {
      try {
        done += (await update([u])).length;
      } catch (e) {
        if (sqlState(e) !== '23505') throw e;
      }
    }
    return done;
  }
}
