// Recomputes the report rollups from raw visits and conversions with a few GROUP BY statements,
// for bulk loads that insert with the rollup triggers disabled (a trigger per 100k-row statement
// would fan every row out 13 ways). The result must equal what the triggers build row by row;
// test/integration/reporting-rollups.test.ts compares the two on a small data set.
import { sql } from 'drizzle-orm';
import { rows, type Db } from '../db/client.js';

const ORIGIN = sql.raw(`timestamptz '2000-01-01 00:00:00+00'`);
const VISIT_COLUMNS = sql.raw(
  'dim_set, grain, bucket, campaign_id, traffic_source_id, offer_id, lander_id, affiliate_network_id, rule_index, path_index, country, device, os, browser, language, is_bot, visits, unique_visits, clicks, cost',
);
const KEY = sql.raw('1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16');

/** Visits with `clicked`: no lander, or at least one lander click-through (the trigger's rule). */
const clickedVisits = sql`(select v.*, (v.lander_id is null or lc.click_id is not null) as clicked
  from visits v left join (select distinct click_id from lander_clicks) lc on lc.click_id = v.click_id)`;

/** Coarser grains of one set from its finer rows, which are already exact sums. */
const rollUp = (set: number, fromGrain: number, toGrain: number) => sql`insert into report_visit_rollup (${VISIT_COLUMNS})
  select dim_set, ${toGrain}::smallint, date_bin(make_interval(mins => ${toGrain}), bucket, ${ORIGIN}), campaign_id, traffic_source_id, offer_id, lander_id,
    affiliate_network_id, rule_index, path_index, country, device, os, browser, language, is_bot,
    sum(visits)::int, sum(unique_visits)::int, sum(clicks)::int, sum(cost)
  from report_visit_rollup where dim_set = ${set} and grain = ${fromGrain}
  group by ${KEY} order by ${KEY}`;

/**
 * Empties both rollups and rebuilds them from every raw row. Run it inside the transaction that
 * loaded the rows with the triggers disabled, so no concurrent batch falls between the two.
 */
export async function rebuildReportRollups(db: Db): Promise<void> {
  // Pending deltas are already counted by the rebuild from raw rows.
  await db.execute(sql`truncate report_visit_rollup, report_conversion_rollup, report_visit_delta, report_conversion_delta`);
  // Sets 0 and 1 from one scan: 15-minute groups of the traffic dimensions, fanned out by the
  // same key list and key columns the folds use (migration 0013; visitor columns empty, so only
  // sets 0 and 1 are kept).
  const [{ keyColumns, keys }] = await rows<{ keyColumns: string; keys: string }>(
    db,
    sql`select tracklane_rollup_key_columns_sql() as "keyColumns", tracklane_rollup_keys_sql() as keys`,
  );
  await db.execute(sql`insert into report_visit_rollup (${VISIT_COLUMNS})
    select ${sql.raw(keyColumns)}, sum(b.visits)::int, sum(b.unique_visits)::int, sum(b.clicks)::int, sum(b.cost)
    from (
      select date_bin(interval '15 minutes', v.visited_at, ${ORIGIN}) as bucket, v.campaign_id, v.traffic_source_id, coalesce(v.offer_id, 0) as offer_id,
        coalesce(v.lander_id, 0) as lander_id, coalesce(v.affiliate_network_id, 0) as affiliate_network_id, v.rule_index, v.path_index,
        coalesce(v.country, '') as country, '' as device, '' as os, '' as browser, '' as language, v.is_bot,
        count(*) as visits, count(*) filter (where v.is_unique) as unique_visits, count(*) filter (where v.clicked) as clicks, sum(v.cost) as cost
      from ${clickedVisits} v
      group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 14
    ) b cross join ${sql.raw(keys)}
    where k.dim_set in (0, 1)
    group by ${KEY} order by ${KEY}`);
  // Sets 2-5 (one visitor dimension each) hourly from a second scan, then days from hours.
  await db.execute(sql`insert into report_visit_rollup (${VISIT_COLUMNS})
    select x.s::smallint, 60::smallint, date_bin(interval '1 hour', v.visited_at, ${ORIGIN}), v.campaign_id, v.traffic_source_id, 0, 0, 0, -1::smallint, 0::smallint,
      coalesce(v.country, ''),
      case when x.s = 2 then x.value else '' end, case when x.s = 3 then x.value else '' end,
      case when x.s = 4 then x.value else '' end, case when x.s = 5 then x.value else '' end, v.is_bot,
      count(*)::int, (count(*) filter (where v.is_unique))::int, (count(*) filter (where v.clicked))::int, sum(v.cost)
    from ${clickedVisits} v
      cross join lateral (values (2, coalesce(v.device, '')), (3, coalesce(v.os, '')), (4, coalesce(v.browser, '')), (5, coalesce(v.language, '')::text)) as x(s, value)
    group by ${KEY} order by ${KEY}`);
  for (const set of [2, 3, 4, 5]) await db.execute(rollUp(set, 60, 1440));
  // Conversions are few (a few per cent of visits): the trigger's own statement over the whole table.
  const [{ q }] = await rows<{ q: string }>(db, sql`select tracklane_conversion_rollup_sql('(select 1 as sign, n.* from conversions n)') as q`);
  await db.execute(sql.raw(q));
}

/** Runs `load` with the rollup triggers off, then rebuilds the rollups, all in one transaction. */
export async function withRollupsRebuiltAfter<T>(db: Db, load: (tx: Db) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    for (const [table, trigger] of TRIGGERS) await t.execute(sql.raw(`alter table ${table} disable trigger ${trigger}`));
    const result = await load(t);
    await rebuildReportRollups(t);
    for (const [table, trigger] of TRIGGERS) await t.execute(sql.raw(`alter table ${table} enable trigger ${trigger}`));
    return result;
  }) as Promise<T>;
}

const TRIGGERS = [
  ['visits', 'visits_rollup_trg'],
  ['lander_clicks', 'lander_clicks_rollup_trg'],
  ['conversions', 'conversions_rollup_insert_trg'],
  ['conversions', 'conversions_rollup_update_trg'],
] as const;
