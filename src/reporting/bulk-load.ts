// Generates report data server-side (INSERT ... SELECT generate_series) for the speed benchmark:
// visits spread over `days`, a share of them converting. Rows go in with the rollup triggers off
// and the rollups are rebuilt from all raw rows at the end, in one transaction: the same rollups
// the triggers would keep, in a fraction of the time.
import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { withRollupsRebuiltAfter } from './rollup-rebuild.js';

const BULK_USER_AGENT = 'Mozilla/5.0 (Linux; Android 14) Chrome/126.0 Mobile';

export interface BulkLoadOptions {
  visits: number;
  conversions: number;
  days: number;
  /** Last instant of the data (default now, rounded down to the hour). */
  end?: Date;
  campaigns?: number;
  /** Rows per INSERT statement. */
  batchSize?: number;
  /** Fire the rollup triggers per statement instead of rebuilding at the end (slow; for tests). */
  viaTriggers?: boolean;
}

/**
 * Inserts `visits` visits and `conversions` conversions (cycling over the generated visits, so
 * conversions <= visits). Campaigns (ids 1..campaigns) target 1-3 countries each, as real
 * campaigns do; devices, os, browsers and languages are skewed. Returns the time range written.
 */
export async function bulkLoadReportData(db: Db, opts: BulkLoadOptions): Promise<{ from: Date; to: Date }> {
  return opts.viaTriggers ? load(db, opts) : withRollupsRebuiltAfter(db, (tx) => load(tx, opts));
}

async function load(db: Db, opts: BulkLoadOptions): Promise<{ from: Date; to: Date }> {
  const campaigns = opts.campaigns ?? 50;
  const batch = opts.batchSize ?? 100_000;
  const to = opts.end ?? new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
  const from = new Date(to.getTime() - opts.days * 86_400_000);
  const spanSeconds = opts.days * 86_400;
  await db.execute(sql`insert into traffic_sources (id, name) select g, 'source ' || g from generate_series(1, 5) g on conflict do nothing`);
  await db.execute(sql`insert into campaigns (id, key, name, traffic_source_id, flow)
    select g, 'bench' || g, 'campaign ' || g, 1 + g % 5, '{"rules":[],"paths":[{"offers":[{"id":1}]}]}'::jsonb
    from generate_series(1, ${campaigns}) g on conflict do nothing`);
  await db.execute(sql`insert into user_agents (hash, user_agent) values (tracklane_text_hash(${BULK_USER_AGENT}), ${BULK_USER_AGENT}) on conflict do nothing`);
  const base = Date.now().toString(36);
  for (let start = 0; start < opts.visits; start += batch) {
    const n = Math.min(batch, opts.visits - start);
    await db.execute(sql`insert into visits (click_id, visited_at, campaign_id, traffic_source_id, rule_index, path_index, lander_id, offer_id,
        affiliate_network_id, ts_adset, ts_ad, ts_placement, external_id, params, ip, user_agent_hash, device, os, browser, country, language, is_bot, is_unique, cost)
      select ${base} || lpad(to_hex(i), 10, '0'),
        ${from.toISOString()}::timestamptz + make_interval(secs => (i::bigint * 7919) % ${spanSeconds}),
        c, 1 + c % 5, -1, (i % 2)::smallint, case when i % 3 = 0 then null else 1 + c % 7 end, 1 + (c * 3 + i % 3) % 40,
        1 + c % 4, 'adset' || (i % 20), 'ad' || (i % 60), 'site' || (i % 500), 'ext' || i,
        jsonb_build_object('sub1', 'pub' || (i % 300), 'sub2', 'zone' || (i % 1000)),
        '10.' || (i % 250) || '.' || (i / 250 % 250) || '.' || (i % 7), tracklane_text_hash(${BULK_USER_AGENT}),
        (array['mobile','mobile','mobile','desktop','tablet'])[1 + i % 5],
        (array['Android','Android','iOS','Windows','macOS','Linux'])[1 + (i / 5) % 6],
        (array['Chrome','Chrome','Safari','Samsung Internet','Firefox','Edge'])[1 + (i / 7) % 6],
        (array['US','GB','DE','FR','IN','BR','ID','MX','CA','AU','ES','IT','NP','PH','TH'])[1 + (c * 5 + (i % 3) * (1 + c % 2)) % 15],
        (array['en','en','es','de','fr','pt','hi'])[1 + (i / 11) % 7],
        i % 50 = 0, i % 4 <> 0, 0.001 * (1 + c % 5)
      from (select i, 1 + (i % ${campaigns}) as c from generate_series(${start}::bigint, ${start + n - 1}::bigint) i) s
      on conflict (click_id) do nothing`);
  }
  // Conversions copy their visit's dimensions, as attribution does; every tenth is an upsell,
  // every seventh is later declined and every fifth still pending.
  const step = Math.max(1, Math.floor(opts.visits / Math.max(1, opts.conversions)));
  for (let start = 0; start < opts.conversions; start += batch) {
    const n = Math.min(batch, opts.conversions - start);
    await db.execute(sql`insert into conversions (click_id, type, txid, status, payout, original_payout, original_currency, visited_at, converted_at,
        campaign_id, traffic_source_id, offer_id, lander_id, affiliate_network_id, rule_index, path_index, country, device, os, browser, language,
        is_bot, ts_adset, ts_ad, ts_placement, external_id, params)
      select v.click_id, case when k % 10 = 0 then 'upsell' else 'conversion' end, 'tx' || k,
        case when k % 7 = 0 then 'declined' when k % 5 = 0 then 'pending' else 'approved' end,
        1.5 + (k % 40) * 0.25, 1.5 + (k % 40) * 0.25, 'USD', v.visited_at, least(v.visited_at + make_interval(mins => (k % 2880)::int), ${to.toISOString()}::timestamptz),
        v.campaign_id, v.traffic_source_id, v.offer_id, v.lander_id, v.affiliate_network_id, v.rule_index, v.path_index, v.country, v.device, v.os,
        v.browser, v.language, v.is_bot, v.ts_adset, v.ts_ad, v.ts_placement, v.external_id, v.params
      from generate_series(${start}::bigint, ${start + n - 1}::bigint) k
      join visits v on v.click_id = ${base} || lpad(to_hex(k * ${step}), 10, '0')
      on conflict do nothing`);
  }
  return { from, to };
}
