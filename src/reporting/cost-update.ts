// Cost updates: what a campaign really spent over a time range, entered after the fact (most ad
// networks pass no cost in the link, and a CPC bid is not what was paid). The amount replaces the
// cost of the campaign's visits in the range, spread evenly over its human visits to the millionth
// (migration 0015, tracklane_set_visit_costs), and reaches the report rollups as deltas. Costs
// booked on conversions (cpa, revshare) are not visits' costs and stay as they are.
import { sql } from 'drizzle-orm';
import { rows, type Db } from '../db/client.js';
import { MONEY_SCALE, normalizeMoney } from '../attribution/decimal.js';

export interface CostUpdate {
  campaignId: number;
  from: Date;
  /** Exclusive. */
  to: Date;
  /** In the account currency, a plain decimal. */
  cost: string;
  /** Only the visits of this ad set, ad or placement (the traffic source's role values). */
  adset?: string;
  ad?: string;
  placement?: string;
}

/** `value` (a plain decimal) in millionths, exactly. */
export function toMicros(value: string): bigint {
  const [int, frac = ''] = normalizeMoney(value).split('.');
  return BigInt(int + frac.padEnd(MONEY_SCALE, '0'));
}

/** Sets the visits' cost; returns the number of human visits it was spread over (0: nothing changed). */
export async function setVisitCosts(db: Db, u: CostUpdate): Promise<number> {
  const [r] = await rows<{ n: number }>(
    db,
    sql`select tracklane_set_visit_costs(${u.campaignId}::int, ${u.from.toISOString()}::timestamptz, ${u.to.toISOString()}::timestamptz,
      ${toMicros(u.cost).toString()}::bigint, ${u.adset ?? null}::text, ${u.ad ?? null}::text, ${u.placement ?? null}::text) as n`,
  );
  return Number(r.n);
}
