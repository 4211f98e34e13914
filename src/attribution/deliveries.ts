// Delivers queued forwards (postback_deliveries) to traffic sources, off the postback's request.
// Claimed with FOR UPDATE SKIP LOCKED and a lease, so each is sent by one instance at a time;
// what happens after an attempt (retry with backoff, or give up) is decided in delivery-policy.ts;
// every attempt is appended to the row's log.
import { and, desc, eq, lt, sql, type SQL } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import { rows, type Db } from '../db/client.js';
import { postbackDeliveries } from '../db/schema.js';
import { decideDelivery, type AttemptResult } from './delivery-policy.js';
import { guardedGet, OutboundRefused, type OutboundOptions } from './outbound.js';

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
      result[state === 'delivered' ? 'delivered' : state === 'failed' ? 'failed' : 'retrying']++;
      await deps.db
        .update(postbackDeliveries)
        .set({
          state,
          attempts,
          nextAttemptAt,
          lastStatusCode: statusCode ?? null,
          lastError: error,
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
