-- Report rollups, reshaped for size and ingest speed (see src/reporting/README.md). The tables keep
-- their columns; `dim_set` now says which dimensions a row carries (the others hold 0 / ''):
--   0 = campaign, traffic source, country, bot            at 15 min, 1 h and 1 UTC day
--   1 = 0 + offer, lander, affiliate network, path        at 1 h and 1 UTC day
--   2, 3, 4, 5 = 0 + device, os, browser, language (one)  at 1 h and 1 UTC day
-- The old set "device x os x browser x language" made about one row per visit per grain; one
-- visitor dimension per row saturates (a campaign-hour has a few devices, not a few thousand
-- combinations). Sets 1-5 have no 15-minute grain: a report needing quarter hours there (a +5:30
-- zone's day edge) reads those quarters from raw visits.
-- Triggers aggregate each statement's rows once at 15 minutes, then fan each group out to the
-- 13 (set, grain) keys, so a click-writer batch of 2,000 visits costs a few dozen upserts.
DROP TRIGGER IF EXISTS visits_rollup_trg ON visits;
--> statement-breakpoint
DROP TRIGGER IF EXISTS lander_clicks_rollup_trg ON lander_clicks;
--> statement-breakpoint
DROP TRIGGER IF EXISTS conversions_rollup_insert_trg ON conversions;
--> statement-breakpoint
DROP TRIGGER IF EXISTS conversions_rollup_update_trg ON conversions;
--> statement-breakpoint
DROP FUNCTION IF EXISTS tracklane_rollup_visits();
--> statement-breakpoint
DROP FUNCTION IF EXISTS tracklane_rollup_lander_clicks();
--> statement-breakpoint
DROP FUNCTION IF EXISTS tracklane_rollup_conversions_insert();
--> statement-breakpoint
DROP FUNCTION IF EXISTS tracklane_rollup_conversions_update();
--> statement-breakpoint
TRUNCATE report_visit_rollup, report_conversion_rollup;
--> statement-breakpoint
-- Rows are updated in place by every batch of their bucket: room on the page keeps those updates
-- HOT (no new index entries), and frequent autovacuum reclaims the old versions.
ALTER TABLE report_visit_rollup SET (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
--> statement-breakpoint
ALTER TABLE report_conversion_rollup SET (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
--> statement-breakpoint
-- The (set, grain) keys one 15-minute group of rows contributes to, with the dimensions each keeps.
CREATE OR REPLACE FUNCTION tracklane_rollup_keys(p_offer int, p_lander int, p_network int, p_rule smallint, p_path smallint, p_device text, p_os text, p_browser text, p_language text)
RETURNS TABLE (dim_set smallint, grain smallint, offer_id int, lander_id int, affiliate_network_id int, rule_index smallint, path_index smallint, device text, os text, browser text, language text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT k.s::smallint, g.grain::smallint,
    CASE WHEN k.s = 1 THEN p_offer ELSE 0 END,
    CASE WHEN k.s = 1 THEN p_lander ELSE 0 END,
    CASE WHEN k.s = 1 THEN p_network ELSE 0 END,
    CASE WHEN k.s = 1 THEN p_rule ELSE -1::smallint END,
    CASE WHEN k.s = 1 THEN p_path ELSE 0::smallint END,
    CASE WHEN k.s = 2 THEN p_device ELSE '' END,
    CASE WHEN k.s = 3 THEN p_os ELSE '' END,
    CASE WHEN k.s = 4 THEN p_browser ELSE '' END,
    CASE WHEN k.s = 5 THEN p_language ELSE '' END
  FROM (VALUES (0), (1), (2), (3), (4), (5)) AS k(s)
    CROSS JOIN (VALUES (15), (60), (1440)) AS g(grain)
  WHERE g.grain <> 15 OR k.s = 0
$$;
--> statement-breakpoint
-- The upsert of visit sums from `src` (a relation or a parenthesised query with visits' columns).
-- `clicks_only` counts each row as a click and nothing else (late lander click-throughs).
CREATE OR REPLACE FUNCTION tracklane_visit_rollup_sql(src text, clicks_only boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $f$
  SELECT format($q$
    INSERT INTO report_visit_rollup AS r (dim_set, grain, bucket, campaign_id, traffic_source_id, offer_id, lander_id, affiliate_network_id, rule_index, path_index, country, device, os, browser, language, is_bot, visits, unique_visits, clicks, cost)
    SELECT k.dim_set, k.grain, date_bin(make_interval(mins => k.grain), b.q, timestamptz '2000-01-01 00:00:00+00'),
      b.campaign_id, b.traffic_source_id, k.offer_id, k.lander_id, k.affiliate_network_id, k.rule_index, k.path_index, b.country,
      k.device, k.os, k.browser, k.language, b.is_bot,
      sum(b.visits)::int, sum(b.unique_visits)::int, sum(b.clicks)::int, sum(b.cost)
    FROM (
      SELECT date_bin(interval '15 minutes', v.visited_at, timestamptz '2000-01-01 00:00:00+00') AS q, v.campaign_id, v.traffic_source_id,
        coalesce(v.offer_id, 0) AS offer_id, coalesce(v.lander_id, 0) AS lander_id, coalesce(v.affiliate_network_id, 0) AS affiliate_network_id,
        v.rule_index, v.path_index, coalesce(v.country, '') AS country, coalesce(v.device, '') AS device, coalesce(v.os, '') AS os,
        coalesce(v.browser, '') AS browser, coalesce(v.language, '') AS language, v.is_bot,
        %2$s
      FROM %1$s v
      GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14
    ) b CROSS JOIN LATERAL tracklane_rollup_keys(b.offer_id, b.lander_id, b.affiliate_network_id, b.rule_index, b.path_index, b.device, b.os, b.browser, b.language) k
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
    -- Every writer upserts in key order, so two concurrent batches never wait on each other in a cycle.
    ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
    ON CONFLICT ON CONSTRAINT report_visit_rollup_pk DO UPDATE SET
      visits = r.visits + excluded.visits,
      unique_visits = r.unique_visits + excluded.unique_visits,
      clicks = r.clicks + excluded.clicks,
      cost = r.cost + excluded.cost
  $q$, src, CASE WHEN clicks_only
    THEN '0::bigint AS visits, 0::bigint AS unique_visits, count(*) AS clicks, 0::numeric AS cost'
    -- A visit without a lander is a click by itself; with a lander, its first click-through is
    -- (one that arrived before the visit was flushed is found here, later ones by the lander_clicks trigger).
    ELSE 'count(*) AS visits, count(*) FILTER (WHERE v.is_unique) AS unique_visits, count(*) FILTER (WHERE v.lander_id IS NULL OR EXISTS (SELECT 1 FROM lander_clicks lc WHERE lc.click_id = v.click_id)) AS clicks, sum(v.cost) AS cost'
  END)
$f$;
--> statement-breakpoint
-- The upsert of conversion sums from `src`: conversions' columns plus `sign` (+1 adds, -1 removes).
CREATE OR REPLACE FUNCTION tracklane_conversion_rollup_sql(src text) RETURNS text
LANGUAGE sql IMMUTABLE AS $f$
  SELECT format($q$
    INSERT INTO report_conversion_rollup AS r (attribution, dim_set, grain, bucket, campaign_id, traffic_source_id, offer_id, lander_id, affiliate_network_id, rule_index, path_index, country, device, os, browser, language, is_bot, type, status, conversions, payout, cost)
    SELECT b.attribution, k.dim_set, k.grain, date_bin(make_interval(mins => k.grain), b.q, timestamptz '2000-01-01 00:00:00+00'),
      b.campaign_id, b.traffic_source_id, k.offer_id, k.lander_id, k.affiliate_network_id, k.rule_index, k.path_index, b.country,
      k.device, k.os, k.browser, k.language, b.is_bot, b.type, b.status,
      sum(b.conversions)::int, sum(b.payout), sum(b.cost)
    FROM (
      SELECT a.attribution,
        date_bin(interval '15 minutes', CASE WHEN a.attribution = 'visit' THEN c.visited_at ELSE c.converted_at END, timestamptz '2000-01-01 00:00:00+00') AS q,
        c.campaign_id, c.traffic_source_id,
        coalesce(c.offer_id, 0) AS offer_id, coalesce(c.lander_id, 0) AS lander_id, coalesce(c.affiliate_network_id, 0) AS affiliate_network_id,
        c.rule_index, c.path_index, coalesce(c.country, '') AS country, coalesce(c.device, '') AS device, coalesce(c.os, '') AS os,
        coalesce(c.browser, '') AS browser, coalesce(c.language, '') AS language, c.is_bot, c.type, c.status,
        sum(c.sign) AS conversions, sum(c.sign * c.payout) AS payout, sum(c.sign * c.cost) AS cost
      FROM %1$s c CROSS JOIN (VALUES ('visit'), ('postback')) AS a(attribution)
      GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17
    ) b CROSS JOIN LATERAL tracklane_rollup_keys(b.offer_id, b.lander_id, b.affiliate_network_id, b.rule_index, b.path_index, b.device, b.os, b.browser, b.language) k
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19
    ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19
    ON CONFLICT ON CONSTRAINT report_conversion_rollup_pk DO UPDATE SET
      conversions = r.conversions + excluded.conversions,
      payout = r.payout + excluded.payout,
      cost = r.cost + excluded.cost
  $q$, src)
$f$;
--> statement-breakpoint
-- Trigger functions run the SQL above with EXECUTE, which sees the statement's transition tables.
CREATE OR REPLACE FUNCTION tracklane_rollup_visits() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE tracklane_visit_rollup_sql('new_visits', false);
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION tracklane_rollup_lander_clicks() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- Only a visit's first click-through is its click: count visits that had no row before this batch.
  EXECUTE tracklane_visit_rollup_sql($s$(
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
CREATE OR REPLACE FUNCTION tracklane_rollup_conversions_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE tracklane_conversion_rollup_sql('(SELECT 1 AS sign, n.* FROM new_conversions n)');
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION tracklane_rollup_conversions_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- The old row's contribution leaves and the new row's arrives; rows whose reported columns did
  -- not change (an updated_at touch) cost nothing.
  EXECUTE tracklane_conversion_rollup_sql($s$(
    SELECT x.* FROM old_conversions o JOIN new_conversions c USING (id)
      CROSS JOIN LATERAL (SELECT -1 AS sign, o.* UNION ALL SELECT 1 AS sign, c.*) x
    WHERE (o.status, o.payout, o.cost, o.type, o.visited_at, o.converted_at, o.campaign_id, o.traffic_source_id, o.offer_id, o.lander_id, o.affiliate_network_id, o.rule_index, o.path_index, o.country, o.device, o.os, o.browser, o.language, o.is_bot)
      IS DISTINCT FROM (c.status, c.payout, c.cost, c.type, c.visited_at, c.converted_at, c.campaign_id, c.traffic_source_id, c.offer_id, c.lander_id, c.affiliate_network_id, c.rule_index, c.path_index, c.country, c.device, c.os, c.browser, c.language, c.is_bot))$s$);
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER visits_rollup_trg
AFTER INSERT ON visits REFERENCING NEW TABLE AS new_visits
FOR EACH STATEMENT EXECUTE FUNCTION tracklane_rollup_visits();
--> statement-breakpoint
CREATE TRIGGER lander_clicks_rollup_trg
AFTER INSERT ON lander_clicks REFERENCING NEW TABLE AS new_lander_clicks
FOR EACH STATEMENT EXECUTE FUNCTION tracklane_rollup_lander_clicks();
--> statement-breakpoint
CREATE TRIGGER conversions_rollup_insert_trg
AFTER INSERT ON conversions REFERENCING NEW TABLE AS new_conversions
FOR EACH STATEMENT EXECUTE FUNCTION tracklane_rollup_conversions_insert();
--> statement-breakpoint
CREATE TRIGGER conversions_rollup_update_trg
AFTER UPDATE ON conversions REFERENCING OLD TABLE AS old_conversions NEW TABLE AS new_conversions
FOR EACH STATEMENT EXECUTE FUNCTION tracklane_rollup_conversions_update();
--> statement-breakpoint
-- Rows written before this migration, in the new shape.
DO $$
BEGIN
  EXECUTE tracklane_visit_rollup_sql('visits', false);
  EXECUTE tracklane_conversion_rollup_sql('(SELECT 1 AS sign, n.* FROM conversions n)');
END
$$;
