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

/** Offers whose conversions since the start of `now`'s day in `tz` reached their daily cap. */
export async function cappedOffers(db: Db, tz: string, now = new Date()): Promise<Set<number>> {
  const found = await rows<{ id: number }>(
    db,
    sql`select o.id from offers o
      where o.daily_cap is not null
        and (select count(*) from conversions c
             where c.offer_id = o.id and c.status <> 'declined'
               and c.converted_at >= (date_trunc('day', ${now.toISOString()}::timestamptz at time zone ${tz}) at time zone ${tz})) >= o.daily_cap`,
  );
  return new Set(found.map((r) => Number(r.id)));
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
