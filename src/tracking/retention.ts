// Visit retention: raw visits (and their lander click-throughs) older than VISIT_RETENTION_DAYS are
// deleted, so the largest table stops growing with traffic (~330 MB per million visits). The report
// rollups are not touched (deletes fire no rollup trigger), so reports by campaign, offer, lander,
// source, network, path, country, device, OS, browser and language keep every day; what needs raw
// rows (var:NAME, adset, ad, placement, externalId, the click log) covers the retained days only.
// A visit is never deleted while a conversion could still be attributed to it: the cutoff is at
// least the longest attribution window of any offer.
import { sql } from 'drizzle-orm';
import type { AppContext } from '../context.js';
import { rows, type Db } from '../db/client.js';
import { startPeriodic } from '../periodic.js';

export interface RetentionPass {
  /** Visits visited before this instant were deleted. */
  cutoff: Date;
  visits: number;
  landerClicks: number;
  /** False when the pass stopped at its batch limit with more to delete (the next pass goes on). */
  done: boolean;
}

export interface RetentionOptions {
  retentionDays: number;
  now?: Date;
  /** Rows per DELETE statement: short statements, so writers and vacuum are never held for long. */
  batch?: number;
  /** Statements per table per pass. */
  maxBatches?: number;
}

/** Deletes what is past the retention (see above) in batches; returns what it deleted. */
export async function deleteExpiredVisits(db: Db, { retentionDays, now = new Date(), batch = 10_000, maxBatches = 100 }: RetentionOptions): Promise<RetentionPass> {
  const [{ days }] = await rows<{ days: number }>(db, sql`select greatest(${retentionDays}::int, coalesce(max(attribution_window_days), 0))::int as days from offers`);
  const cutoff = new Date(now.getTime() - days * 86_400_000);
  const drain = async (deleteBatch: () => Promise<number>) => {
    let total = 0;
    for (let i = 0; i < maxBatches; i++) {
      const n = await deleteBatch();
      total += n;
      if (n < batch) return { total, done: true };
    }
    return { total, done: false };
  };
  const count = async (query: ReturnType<typeof sql>) => (await rows<{ n: number }>(db, query))[0].n;
  const at = cutoff.toISOString();
  const visits = await drain(() =>
    count(sql`with d as (delete from visits where click_id in (select click_id from visits where visited_at < ${at}::timestamptz limit ${batch}) returning 1) select count(*)::int as n from d`),
  );
  const landerClicks = await drain(() =>
    count(sql`with d as (delete from lander_clicks where ctid in (select ctid from lander_clicks where visited_at < ${at}::timestamptz limit ${batch}) returning 1) select count(*)::int as n from d`),
  );
  return { cutoff, visits: visits.total, landerClicks: landerClicks.total, done: visits.done && landerClicks.done };
}

export interface RetentionStats {
  visitsDeleted: number;
  errors: number;
}

/** A pass 30 s after start and every `everyMs`; a backlog (the first pass on an old database) goes on a batch limit at a time. */
export function startRetentionWorker(ctx: AppContext, retentionDays: number, everyMs = 10 * 60_000): RetentionStats {
  const stats: RetentionStats = { visitsDeleted: 0, errors: 0 };
  startPeriodic(ctx, {
    name: 'visit retention',
    everyMs,
    firstAfterMs: 30_000,
    run: () => deleteExpiredVisits(ctx.db, { retentionDays }),
    after: (pass) => {
      stats.visitsDeleted += pass.visits;
      if (pass.visits > 0 || pass.landerClicks > 0) ctx.log.info({ ...pass, retentionDays }, 'deleted visits past their retention');
      return !pass.done;
    },
    onError: () => void stats.errors++,
  });
  return stats;
}
