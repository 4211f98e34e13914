// Offer daily caps: an affiliate network stops paying for an offer's conversions past its daily
// cap, so once an offer has that many conversions (approved or pending) since midnight in
// ACCOUNT_TIMEZONE, flows send visitors to the other offers of the path until the day turns. The
// counts come from Postgres every few seconds, on every instance, so /click only looks up a set; a
// burst can overshoot a cap by what converts within those seconds.
import { sql } from 'drizzle-orm';
import type { AppContext } from '../context.js';
import { rows, type Db } from '../db/client.js';
import { startPeriodic } from '../periodic.js';

export interface OfferCaps {
  /** The offers at or over their cap now (as of the last refresh). */
  capped(): ReadonlySet<number>;
  refresh(): Promise<void>;
}

/**
 * Offers whose conversions since the start of `now`'s day in `tz` reached their daily cap. The
 * offers with a cap are read first: with none (the usual case), conversions are not touched. As
 * one statement, the count ran every 5 s even with no cap set, ~70 ms each under postback load
 * (pg_stat_statements).
 */
export async function cappedOffers(db: Db, tz: string, now = new Date()): Promise<Set<number>> {
  const caps = await rows<{ id: number; daily_cap: number }>(db, sql`select id, daily_cap from offers where daily_cap is not null`);
  if (caps.length === 0) return new Set();
  const ids = caps.map((c) => Number(c.id));
  const counts = await rows<{ offer_id: number; n: string }>(
    db,
    sql`select offer_id, count(*)::text as n from conversions
      where offer_id = any(${`{${ids.join(',')}}`}::int[]) and status <> 'declined'
        and converted_at >= (date_trunc('day', ${now.toISOString()}::timestamptz at time zone ${tz}) at time zone ${tz})
      group by offer_id`,
  );
  const reached = new Map(counts.map((c) => [Number(c.offer_id), Number(c.n)]));
  return new Set(caps.filter((c) => (reached.get(Number(c.id)) ?? 0) >= Number(c.daily_cap)).map((c) => Number(c.id)));
}

const NONE: ReadonlySet<number> = new Set();

/** Keeps the capped set fresh every `everyMs`; a failed refresh keeps the last answer. */
export function startOfferCapMonitor(ctx: AppContext, everyMs = 5000): OfferCaps {
  let current: ReadonlySet<number> = NONE;
  const task = startPeriodic(ctx, {
    name: 'offer caps',
    everyMs,
    firstAfterMs: 0,
    run: () => cappedOffers(ctx.db, ctx.config.ACCOUNT_TIMEZONE),
    after: (set) => {
      current = set.size > 0 ? set : NONE;
    },
  });
  return { capped: () => current, refresh: task.runNow };
}
