-- Visit rollups are no longer upserted by every click-writer batch, and the fan-out to the 13
-- (set, grain) keys no longer calls a function per row. At the benchmark's 12,000 visits/s (a dozen
-- user agents, visitors from 40 countries) the visits trigger cost Postgres ~35% of a core, more than
-- the COPY itself, on the cores /click shares; most of it was tracklane_rollup_keys(), a set-returning
-- function run once per 15-minute group (~34 us a call, not inlined).
-- Now the triggers append each batch's 15-minute groups to report_visit_delta (no index, no shared
-- row), and tracklane_fold_visit_deltas() upserts them into report_visit_rollup once a second and
-- before every report (src/reporting/rollup-deltas.ts), fanning out by a cross join with a constant
-- key list. Measured with 60,000 such visits (src/reporting/README.md): Postgres CPU 6.0 us per visit
-- for COPY + trigger, and 1.2 us per visit for the fold (15.7 us with the function).
ALTER TABLE report_visit_delta SET (autovacuum_vacuum_threshold = 2000, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_insert_threshold = 2000, autovacuum_vacuum_insert_scale_factor = 0);
--> statement-breakpoint
-- The (set, grain) keys of the rollups, as a relation `k` to cross join (see migration 0007 for the
-- sets): set 0 at 15 minutes, 1 hour and 1 UTC day, sets 1-5 at 1 hour and 1 UTC day.
CREATE OR REPLACE FUNCTION tracklane_rollup_keys_sql() RETURNS text
LANGUAGE sql IMMUTABLE AS $f$
  SELECT '(VALUES (0, 15), (0, 60), (0, 1440), (1, 60), (1, 1440), (2, 60), (2, 1440), (3, 60), (3, 1440), (4, 60), (4, 1440), (5, 60), (5, 1440)) AS k(dim_set, grain)'
$f$;
--> statement-breakpoint
-- The rollup key columns, dim_set to is_bot in the rollup tables' order, of a row `b` (15-minute
-- `bucket`, dimensions with NULLs as 0 / '') for key `k`: each set keeps its own dimensions.
CREATE OR REPLACE FUNCTION tracklane_rollup_key_columns_sql() RETURNS text
LANGUAGE sql IMMUTABLE AS $f$
  SELECT $c$k.dim_set::smallint, k.grain::smallint, date_bin(make_interval(mins => k.grain), b.bucket, timestamptz '2000-01-01 00:00:00+00'),
    b.campaign_id, b.traffic_source_id,
    CASE WHEN k.dim_set = 1 THEN b.offer_id ELSE 0 END,
    CASE WHEN k.dim_set = 1 THEN b.lander_id ELSE 0 END,
    CASE WHEN k.dim_set = 1 THEN b.affiliate_network_id ELSE 0 END,
    CASE WHEN k.dim_set = 1 THEN b.rule_index ELSE -1::smallint END,
    CASE WHEN k.dim_set = 1 THEN b.path_index ELSE 0::smallint END,
    b.country,
    CASE WHEN k.dim_set = 2 THEN b.device ELSE '' END,
    CASE WHEN k.dim_set = 3 THEN b.os ELSE '' END,
    CASE WHEN k.dim_set = 4 THEN b.browser ELSE '' END,
    CASE WHEN k.dim_set = 5 THEN b.language ELSE '' END,
    b.is_bot$c$
$f$;
--> statement-breakpoint
-- One statement's rows (`src`: a relation or a parenthesised query with visits' columns) as
-- report_visit_delta rows. `clicks_only` counts each row as a click and nothing else (late lander
-- click-throughs).
CREATE OR REPLACE FUNCTION tracklane_visit_groups_sql(src text, clicks_only boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $f$
  SELECT format($q$
    SELECT date_bin(interval '15 minutes', v.visited_at, timestamptz '2000-01-01 00:00:00+00'), v.campaign_id, v.traffic_source_id,
      coalesce(v.offer_id, 0), coalesce(v.lander_id, 0), coalesce(v.affiliate_network_id, 0),
      v.rule_index, v.path_index, coalesce(v.country, ''), coalesce(v.device, ''), coalesce(v.os, ''),
      coalesce(v.browser, ''), coalesce(v.language, ''), v.is_bot,
      %2$s
    FROM %1$s v
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14
  $q$, src, CASE WHEN clicks_only
    THEN '0, 0, count(*), 0'
    -- A visit without a lander is a click by itself; with a lander, its first click-through is
    -- (one that arrived before the visit was flushed is found here, later ones by the lander_clicks trigger).
    ELSE 'count(*), count(*) FILTER (WHERE v.is_unique), count(*) FILTER (WHERE v.lander_id IS NULL OR EXISTS (SELECT 1 FROM lander_clicks lc WHERE lc.click_id = v.click_id)), sum(v.cost)'
  END)
$f$;
--> statement-breakpoint
-- The upsert into report_visit_rollup of report_visit_delta-shaped rows from `src`: summed per
-- 15-minute group first (a second of batches shares most groups), then fanned out to the keys.
CREATE OR REPLACE FUNCTION tracklane_visit_rollup_from_sql(src text) RETURNS text
LANGUAGE sql IMMUTABLE AS $f$
  SELECT format($q$
    INSERT INTO report_visit_rollup AS r (dim_set, grain, bucket, campaign_id, traffic_source_id, offer_id, lander_id, affiliate_network_id, rule_index, path_index, country, device, os, browser, language, is_bot, visits, unique_visits, clicks, cost)
    SELECT %2$s, sum(b.visits)::int, sum(b.unique_visits)::int, sum(b.clicks)::int, sum(b.cost)
    FROM (
      SELECT bucket, campaign_id, traffic_source_id, offer_id, lander_id, affiliate_network_id, rule_index, path_index, country, device, os, browser, language, is_bot,
        sum(visits) AS visits, sum(unique_visits) AS unique_visits, sum(clicks) AS clicks, sum(cost) AS cost
      FROM %1$s
      GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14
    ) b CROSS JOIN %3$s
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
    -- Every writer upserts in key order, so two concurrent folds never wait on each other in a cycle.
    ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
    ON CONFLICT ON CONSTRAINT report_visit_rollup_pk DO UPDATE SET
      visits = r.visits + excluded.visits,
      unique_visits = r.unique_visits + excluded.unique_visits,
      clicks = r.clicks + excluded.clicks,
      cost = r.cost + excluded.cost
  $q$, src, tracklane_rollup_key_columns_sql(), tracklane_rollup_keys_sql())
$f$;
--> statement-breakpoint
-- The upsert of conversion sums from `src` (conversions' columns plus `sign`: +1 adds, -1 removes),
-- as in migration 0007 but fanned out by the constant key list.
CREATE OR REPLACE FUNCTION tracklane_conversion_rollup_sql(src text) RETURNS text
LANGUAGE sql IMMUTABLE AS $f$
  SELECT format($q$
    INSERT INTO report_conversion_rollup AS r (attribution, dim_set, grain, bucket, campaign_id, traffic_source_id, offer_id, lander_id, affiliate_network_id, rule_index, path_index, country, device, os, browser, language, is_bot, type, status, conversions, payout, cost)
    SELECT b.attribution, %2$s, b.type, b.status, sum(b.conversions)::int, sum(b.payout), sum(b.cost)
    FROM (
      SELECT a.attribution,
        date_bin(interval '15 minutes', CASE WHEN a.attribution = 'visit' THEN c.visited_at ELSE c.converted_at END, timestamptz '2000-01-01 00:00:00+00') AS bucket,
        c.campaign_id, c.traffic_source_id,
        coalesce(c.offer_id, 0) AS offer_id, coalesce(c.lander_id, 0) AS lander_id, coalesce(c.affiliate_network_id, 0) AS affiliate_network_id,
        c.rule_index, c.path_index, coalesce(c.country, '') AS country, coalesce(c.device, '') AS device, coalesce(c.os, '') AS os,
        coalesce(c.browser, '') AS browser, coalesce(c.language, '') AS language, c.is_bot, c.type, c.status,
        sum(c.sign) AS conversions, sum(c.sign * c.payout) AS payout, sum(c.sign * c.cost) AS cost
      FROM %1$s c CROSS JOIN (VALUES ('visit'), ('postback')) AS a(attribution)
      GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17
    ) b CROSS JOIN %3$s
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19
    ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19
    ON CONFLICT ON CONSTRAINT report_conversion_rollup_pk DO UPDATE SET
      conversions = r.conversions + excluded.conversions,
      payout = r.payout + excluded.payout,
      cost = r.cost + excluded.cost
  $q$, src, tracklane_rollup_key_columns_sql(), tracklane_rollup_keys_sql())
$f$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION tracklane_rollup_visits() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE 'INSERT INTO report_visit_delta (bucket, campaign_id, traffic_source_id, offer_id, lander_id, affiliate_network_id, rule_index, path_index, country, device, os, browser, language, is_bot, visits, unique_visits, clicks, cost) '
    || tracklane_visit_groups_sql('new_visits', false);
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION tracklane_rollup_lander_clicks() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- Only a visit's first click-through is its click: count visits that had no row before this batch.
  EXECUTE 'INSERT INTO report_visit_delta (bucket, campaign_id, traffic_source_id, offer_id, lander_id, affiliate_network_id, rule_index, path_index, country, device, os, browser, language, is_bot, visits, unique_visits, clicks, cost) '
    || tracklane_visit_groups_sql($s$(
    SELECT n.* FROM visits n
    WHERE n.lander_id IS NOT NULL
      AND n.click_id IN (SELECT DISTINCT f.click_id FROM new_lander_clicks f)
      AND NOT EXISTS (
        SELECT 1 FROM lander_clicks lc
        WHERE lc.click_id = n.click_id
          AND NOT EXISTS (SELECT 1 FROM new_lander_clicks f WHERE f.click_id = lc.click_id AND f.slot = lc.slot)))$s$, true);
  RETURN NULL;
END
$$;
--> statement-breakpoint
-- Moves every committed row of `delta_table` into its rollup with `upsert_sql` (which reads the
-- deleted rows as `d`), under the transaction-level advisory lock `lock_key` so folds of several
-- instances never queue on the same rollup rows: `wait` = false gives up at once when another fold
-- holds it (the background worker), true waits for it (a report, which must read what that fold
-- commits). Deltas written by transactions still open are invisible to the DELETE and stay for the
-- next fold. Returns the number of rollup rows changed.
CREATE OR REPLACE FUNCTION tracklane_fold_deltas(delta_table text, lock_key bigint, upsert_sql text, wait boolean) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  folded integer;
  pending boolean;
BEGIN
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', delta_table) INTO pending;
  IF NOT pending THEN
    RETURN 0;
  END IF;
  IF wait THEN
    PERFORM pg_advisory_xact_lock(lock_key);
  ELSIF NOT pg_try_advisory_xact_lock(lock_key) THEN
    RETURN 0;
  END IF;
  EXECUTE format('WITH d AS (DELETE FROM %I RETURNING *) ', delta_table) || upsert_sql;
  GET DIAGNOSTICS folded = ROW_COUNT;
  RETURN folded;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION tracklane_fold_visit_deltas(wait boolean) RETURNS integer
LANGUAGE sql AS $$
  SELECT tracklane_fold_deltas('report_visit_delta', 7482302, tracklane_visit_rollup_from_sql('d'), wait)
$$;
--> statement-breakpoint
-- Migration 0011's function, now on the shared fold (same lock, same statement).
CREATE OR REPLACE FUNCTION tracklane_fold_conversion_deltas(wait boolean) RETURNS integer
LANGUAGE sql AS $$
  SELECT tracklane_fold_deltas('report_conversion_delta', 7482301, tracklane_conversion_rollup_sql('d'), wait)
$$;
--> statement-breakpoint
-- Replaced by the functions above.
DROP FUNCTION IF EXISTS tracklane_visit_rollup_sql(text, boolean);
--> statement-breakpoint
DROP FUNCTION IF EXISTS tracklane_rollup_keys(int, int, int, smallint, smallint, text, text, text, text);
