// Retries postbacks whose click was not visible when they arrived (not flushed yet by another
// instance, or unknown). Rows are claimed with FOR UPDATE SKIP LOCKED plus a lease on
// next_attempt_at, so instances never work on the same row at once; the conversions unique index
// makes a double attribution harmless even if a lease expired mid-work.
import { and, eq, sql } from 'drizzle-orm';
import { rows } from '../db/client.js';
import { pendingPostbacks } from '../db/schema.js';
import { ApiError } from '../http/errors.js';
import { findClick } from './find-click.js';
import { parsePostbackParams } from './params.js';
import { attributeToClick, type ConversionSource, type RecordDeps } from './record.js';
import { parseUploadTime } from './upload.js';

export interface PendingDeps extends RecordDeps {
  retryMinutes: number;
}

interface ClaimedRow {
  id: string | number;
  click_id: string | null;
  received_at: string | Date;
  raw_params: Record<string, string> | string;
  source_ip: string | null;
  source: ConversionSource;
  secret_hash: string | null;
  attempts: number;
}

/** Delay before the next look: 5 s, 10 s, 20 s ... capped at 5 minutes. */
export function pendingBackoffMs(attempts: number): number {
  return Math.min(5000 * 2 ** Math.max(0, attempts - 1), 5 * 60_000);
}

export interface PendingRunResult {
  attributed: number;
  waiting: number;
  unattributed: number;
  rejected: number;
  failed: number;
}

/**
 * True when a postback of `clickId` older than row `id` is still pending; it is made due at `now`
 * so the next pass takes it (and this one after it).
 */
async function olderStillPending(deps: PendingDeps, clickId: string, id: number, now: Date): Promise<boolean> {
  const older = await rows<{ id: string | number }>(
    deps.db,
    sql`update pending_postbacks set next_attempt_at = least(next_attempt_at, ${now.toISOString()}::timestamptz)
        where click_id = ${clickId} and state = 'pending' and id < ${id}
        returning id`,
  );
  return older.length > 0;
}

/** One pass over the due pending postbacks. `now` is a parameter so tests can move time. */
export async function retryPendingPostbacks(deps: PendingDeps, now = new Date(), batch = 100): Promise<PendingRunResult> {
  const result: PendingRunResult = { attributed: 0, waiting: 0, unattributed: 0, rejected: 0, failed: 0 };
  const lease = new Date(now.getTime() + 60_000);
  const claimed = await rows<ClaimedRow>(
    deps.db,
    sql`update pending_postbacks set next_attempt_at = ${lease.toISOString()}::timestamptz, attempts = attempts + 1
        where id in (
          select id from pending_postbacks
          where state = 'pending' and next_attempt_at <= ${now.toISOString()}::timestamptz
          order by next_attempt_at limit ${batch}
          for update skip locked)
        returning id, click_id, received_at, raw_params, source_ip, source, secret_hash, attempts`,
  );
  // In arrival order, and never ahead of an older postback of the same click still waiting
  // (its backoff may have it looked at later): a sale applied before its lead was turned back
  // into the lead's status, a chargeback before its approval undone by it.
  claimed.sort((a, b) => Number(a.id) - Number(b.id));
  for (const row of claimed) {
    const id = Number(row.id);
    const receivedAt = new Date(row.received_at);
    const finish = (state: 'attributed' | 'unattributed' | 'rejected', outcome: string, conversionId?: number) =>
      deps.db
        .update(pendingPostbacks)
        .set({ state, outcome, conversionId: conversionId ?? null })
        .where(and(eq(pendingPostbacks.id, id), eq(pendingPostbacks.state, 'pending')));
    try {
      const raw = typeof row.raw_params === 'string' ? (JSON.parse(row.raw_params) as Record<string, string>) : row.raw_params;
      const found = row.click_id ? await findClick(deps, row.click_id) : null;
      if (found && (await olderStillPending(deps, row.click_id!, id, now))) {
        // Both looked at again on the next pass, the older first.
        await deps.db.update(pendingPostbacks).set({ nextAttemptAt: now }).where(eq(pendingPostbacks.id, id));
        result.waiting++;
        continue;
      }
      if (found) {
        const params = parsePostbackParams(raw);
        const uploadTime = row.source === 'upload' && raw.time ? parseUploadTime(raw.time) : undefined;
        const out = await attributeToClick(deps, found.click, {
          params,
          source: row.source,
          convertedAt: uploadTime ?? receivedAt,
          receivedAt,
          sourceIp: row.source_ip ?? undefined,
          secretHash: row.secret_hash,
          enforceWindow: row.source === 'pixel',
        });
        if (out.outcome === 'outside_window') {
          await finish('rejected', 'click is outside the offer attribution window');
          result.rejected++;
        } else if (out.outcome === 'pending') {
          result.waiting++;
        } else {
          await finish('attributed', out.outcome, out.conversionId);
          result.attributed++;
        }
        continue;
      }
      if (now.getTime() - receivedAt.getTime() >= deps.retryMinutes * 60_000) {
        await finish('unattributed', `click not found within ${deps.retryMinutes} minutes`);
        result.unattributed++;
      } else {
        const next = new Date(Math.min(now.getTime() + pendingBackoffMs(row.attempts), receivedAt.getTime() + deps.retryMinutes * 60_000));
        await deps.db.update(pendingPostbacks).set({ nextAttemptAt: next }).where(eq(pendingPostbacks.id, id));
        result.waiting++;
      }
    } catch (err) {
      if (err instanceof ApiError) {
        // A wrong secret or unknown status will not get better with time: keep it, visibly refused.
        await finish('rejected', `${err.statusCode} ${err.message}`);
        deps.log.warn({ pendingId: id, clickId: row.click_id, reason: err.message }, 'pending postback refused');
        result.rejected++;
      } else {
        // Left claimed: the lease expires and a later pass tries again.
        deps.log.error({ err, pendingId: id, clickId: row.click_id }, 'pending postback retry failed');
        result.failed++;
      }
    }
  }
  return result;
}
