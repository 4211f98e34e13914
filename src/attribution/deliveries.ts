// Delivers queued forwards (postback_deliveries) to traffic sources, off the postback's request.
// Claimed with FOR UPDATE SKIP LOCKED and a lease, so each is sent by one instance at a time;
// failures retry with exponential backoff; every attempt is appended to the row's log.
import { and, desc, eq, lt, sql, type SQL } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import { rows, type Db } from '../db/client.js';
import { postbackDeliveries } from '../db/schema.js';
import { guardedGet, OutboundRefused, type OutboundOptions } from './outbound.js';

export const MAX_DELIVERY_ATTEMPTS = 8;

/** 30 s, 1 min, 2 min ... capped at 6 h. */
export function deliveryBackoffMs(attempts: number): number {
  return Math.min(30_000 * 2 ** Math.max(0, attempts - 1), 6 * 3600_000);
}

export interface DeliveryDeps {
  db: Db;
  log: FastifyBaseLogger;
  outbound: OutboundOptions;
}

export interface DeliveryRunResult {
  delivered: number;
  retrying: number;
  failed: number;
}

/** One pass over the due deliveries. */
export async function deliverDue(deps: DeliveryDeps, now = new Date(), batch = 20): Promise<DeliveryRunResult> {
  const result: DeliveryRunResult = { delivered: 0, retrying: 0, failed: 0 };
  // Long enough for one attempt with redirects; a crashed instance's claims come back after it.
  const lease = new Date(now.getTime() + deps.outbound.timeoutMs + 60_000);
  const claimed = await rows<{ id: string | number; url: string; attempts: number; conversion_id: string | number }>(
    deps.db,
    sql`update postback_deliveries set next_attempt_at = ${lease.toISOString()}::timestamptz
        where id in (
          select id from postback_deliveries
          where state = 'pending' and next_attempt_at <= ${now.toISOString()}::timestamptz
          order by next_attempt_at limit ${batch}
          for update skip locked)
        returning id, url, attempts, conversion_id`,
  );
  await Promise.all(
    claimed.map(async (row) => {
      const id = Number(row.id);
      const attempts = row.attempts + 1;
      let statusCode: number | undefined;
      let error: string | undefined;
      let permanent = false;
      try {
        statusCode = (await guardedGet(row.url, deps.outbound)).statusCode;
        if (statusCode < 200 || statusCode >= 300) error = `HTTP ${statusCode}`;
      } catch (err) {
        error = (err as Error).message;
        // A refused target stays refused until the user fixes the URL or the setting.
        permanent = err instanceof OutboundRefused;
      }
      const at = new Date().toISOString();
      const entry = { at, ...(statusCode !== undefined ? { statusCode } : {}), ...(error ? { error } : {}) };
      const state = !error ? 'delivered' : permanent || attempts >= MAX_DELIVERY_ATTEMPTS ? 'failed' : 'pending';
      const next = new Date(now.getTime() + deliveryBackoffMs(attempts));
      const log = { deliveryId: id, conversionId: Number(row.conversion_id), attempt: attempts, statusCode, error, state };
      if (state === 'delivered') deps.log.info(log, 'postback forwarded');
      else deps.log.warn(log, 'postback forward failed');
      result[state === 'delivered' ? 'delivered' : state === 'failed' ? 'failed' : 'retrying']++;
      await deps.db
        .update(postbackDeliveries)
        .set({
          state,
          attempts,
          nextAttemptAt: next,
          lastStatusCode: statusCode ?? null,
          lastError: error ?? null,
          log: sql`${postbackDeliveries.log} || ${JSON.stringify([entry])}::jsonb`,
          updatedAt: sql`now()`,
        })
        .where(eq(postbackDeliveries.id, id));
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
