-- Report rollups kept by the database: statement-level triggers read each batch's transition
-- table and upsert its sums. Writers need no knowledge of rollups; a retried batch whose rows
-- conflict (ON CONFLICT DO NOTHING) inserts nothing and so adds nothing; a status change moves
-- its conversion's count and money from the old status to the new one in the same transaction.
CREATE OR REPLACE FUNCTION tracklane_rollup_visits() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO report_visit_rollup AS r (dim_set, grain, bucket, campaign_id, traffic_source_id, offer_id, lander_id, affiliate_network_id, rule_index, path_index, country, device, os, browser, language, is_bot, visits, unique_visits, clicks, cost)
    SELECT s.dim_set,
      g.grain,
      date_bin(make_interval(mins => g.grain), n.visited_at, timestamptz '2000-01-01 00:00:00+00'),
      n.campaign_id,
      n.traffic_source_id,
      CASE WHEN s.dim_set = 1 THEN coalesce(n.offer_id, 0) ELSE 0 END,
      CASE WHEN s.dim_set = 1 THEN coalesce(n.lander_id, 0) ELSE 0 END,
      CASE WHEN s.dim_set = 1 THEN coalesce(n.affiliate_network_id, 0) ELSE 0 END,
      CASE WHEN s.dim_set = 1 THEN n.rule_index ELSE -1::smallint END,
      CASE WHEN s.dim_set = 1 THEN n.path_index ELSE 0::smallint END,
      coalesce(n.country, ''),
      CASE WHEN s.dim_set = 2 THEN coalesce(n.device, '') ELSE '' END,
      CASE WHEN s.dim_set = 2 THEN coalesce(n.os, '') ELSE '' END,
      CASE WHEN s.dim_set = 2 THEN coalesce(n.browser, '') ELSE '' END,
      CASE WHEN s.dim_set = 2 THEN coalesce(n.language, '') ELSE '' END,
      n.is_bot,
      count(*)::int, (count(*) FILTER (WHERE n.is_unique))::int, (count(*) FILTER (WHERE n.clicked))::int, sum(n.cost)
    FROM (
      -- A visit without a lander is a click by itself; with a lander, its first click-through is
      -- (one that arrived before the visit was flushed is found here, later ones by the lander_clicks trigger).
      SELECT v.*, (v.lander_id IS NULL OR EXISTS (SELECT 1 FROM lander_clicks lc WHERE lc.click_id = v.click_id)) AS clicked
      FROM new_visits v
    ) n CROSS JOIN (VALUES (1::smallint), (2::smallint)) AS s(dim_set) CROSS JOIN (VALUES (15::smallint), (60::smallint), (1440::smallint)) AS g(grain)
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
    -- Every writer upserts in key order, so two concurrent batches never wait on each other in a cycle.
    ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
    ON CONFLICT ON CONSTRAINT report_visit_rollup_pk DO UPDATE SET
      visits = r.visits + excluded.visits,
      unique_visits = r.unique_visits + excluded.unique_visits,
      clicks = r.clicks + excluded.clicks,
      cost = r.cost + excluded.cost;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER visits_rollup_trg
AFTER INSERT ON visits REFERENCING NEW TABLE AS new_visits
FOR EACH STATEMENT EXECUTE FUNCTION tracklane_rollup_visits();
--> statement-breakpoint
CREATE OR REPLACE FUNCTION tracklane_rollup_lander_clicks() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- Only a visit's first click-through is its click: count visits that had no row before this batch.
  INSERT INTO report_visit_rollup AS r (dim_set, grain, bucket, campaign_id, traffic_source_id, offer_id, lander_id, affiliate_network_id, rule_index, path_index, country, device, os, browser, language, is_bot, visits, unique_visits, clicks, cost)
    SELECT s.dim_set,
      g.grain,
      date_bin(make_interval(mins => g.grain), n.visited_at, timestamptz '2000-01-01 00:00:00+00'),
      n.campaign_id,
      n.traffic_source_id,
      CASE WHEN s.dim_set = 1 THEN coalesce(n.offer_id, 0) ELSE 0 END,
      CASE WHEN s.dim_set = 1 THEN coalesce(n.lander_id, 0) ELSE 0 END,
      CASE WHEN s.dim_set = 1 THEN coalesce(n.affiliate_network_id, 0) ELSE 0 END,
      CASE WHEN s.dim_set = 1 THEN n.rule_index ELSE -1::smallint END,
      CASE WHEN s.dim_set = 1 THEN n.path_index ELSE 0::smallint END,
      coalesce(n.country, ''),
      CASE WHEN s.dim_set = 2 THEN coalesce(n.device, '') ELSE '' END,
      CASE WHEN s.dim_set = 2 THEN coalesce(n.os, '') ELSE '' END,
      CASE WHEN s.dim_set = 2 THEN coalesce(n.browser, '') ELSE '' END,
      CASE WHEN s.dim_set = 2 THEN coalesce(n.language, '') ELSE '' END,
      n.is_bot,
      0, 0, count(*)::int, 0
    FROM visits n
      CROSS JOIN (VALUES (1::smallint), (2::smallint)) AS s(dim_set) CROSS JOIN (VALUES (15::smallint), (60::smallint), (1440::smallint)) AS g(grain)
    WHERE n.lander_id IS NOT NULL
      AND n.click_id IN (SELECT DISTINCT f.click_id FROM new_lander_clicks f)
      AND NOT EXISTS (
        SELECT 1 FROM lander_clicks lc
        WHERE lc.click_id = n.click_id
          AND NOT EXISTS (SELECT 1 FROM new_lander_clicks f WHERE f.click_id = lc.click_id AND f.slot = lc.slot))
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
    ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
    ON CONFLICT ON CONSTRAINT report_visit_rollup_pk DO UPDATE SET clicks = r.clicks + excluded.clicks;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER lander_clicks_rollup_trg
AFTER INSERT ON lander_clicks REFERENCING NEW TABLE AS new_lander_clicks
FOR EACH STATEMENT EXECUTE FUNCTION tracklane_rollup_lander_clicks();
--> statement-breakpoint
CREATE OR REPLACE FUNCTION tracklane_rollup_conversions_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO report_conversion_rollup AS r (attribution, dim_set, grain, bucket, campaign_id, traffic_source_id, offer_id, lander_id, affiliate_network_id, rule_index, path_index, country, device, os, browser, language, is_bot, type, status, conversions, payout, cost)
    SELECT a.attribution, s.dim_set,
      g.grain,
      date_bin(make_interval(mins => g.grain), CASE WHEN a.attribution = 'visit' THEN n.visited_at ELSE n.converted_at END, timestamptz '2000-01-01 00:00:00+00'),
      n.campaign_id,
      n.traffic_source_id,
      CASE WHEN s.dim_set = 1 THEN coalesce(n.offer_id, 0) ELSE 0 END,
      CASE WHEN s.dim_set = 1 THEN coalesce(n.lander_id, 0) ELSE 0 END,
      CASE WHEN s.dim_set = 1 THEN coalesce(n.affiliate_network_id, 0) ELSE 0 END,
      CASE WHEN s.dim_set = 1 THEN n.rule_index ELSE -1::smallint END,
      CASE WHEN s.dim_set = 1 THEN n.path_index ELSE 0::smallint END,
      coalesce(n.country, ''),
      CASE WHEN s.dim_set = 2 THEN coalesce(n.device, '') ELSE '' END,
      CASE WHEN s.dim_set = 2 THEN coalesce(n.os, '') ELSE '' END,
      CASE WHEN s.dim_set = 2 THEN coalesce(n.browser, '') ELSE '' END,
      CASE WHEN s.dim_set = 2 THEN coalesce(n.language, '') ELSE '' END,
      n.is_bot,
      n.type, n.status, sum(n.sign)::int, sum(n.sign * n.payout), sum(n.sign * n.cost)
    FROM (SELECT 1 AS sign, c.status, c.payout, c.cost, c.type, c.visited_at, c.converted_at, c.campaign_id, c.traffic_source_id, c.offer_id, c.lander_id, c.affiliate_network_id, c.rule_index, c.path_index, c.country, c.device, c.os, c.browser, c.language, c.is_bot FROM new_conversions c) n
      CROSS JOIN (VALUES ('visit'), ('postback')) AS a(attribution) CROSS JOIN (VALUES (1::smallint), (2::smallint)) AS s(dim_set) CROSS JOIN (VALUES (15::smallint), (60::smallint), (1440::smallint)) AS g(grain)
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19
    ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19
    ON CONFLICT ON CONSTRAINT report_conversion_rollup_pk DO UPDATE SET
      conversions = r.conversions + excluded.conversions,
      payout = r.payout + excluded.payout,
      cost = r.cost + excluded.cost;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER conversions_rollup_insert_trg
AFTER INSERT ON conversions REFERENCING NEW TABLE AS new_conversions
FOR EACH STATEMENT EXECUTE FUNCTION tracklane_rollup_conversions_insert();
--> statement-breakpoint
CREATE OR REPLACE FUNCTION tracklane_rollup_conversions_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- The old row's contribution leaves and the new row's arrives; rows whose reported columns did
  -- not change (an updated_at touch) cost nothing.
  INSERT INTO report_conversion_rollup AS r (attribution, dim_set, grain, bucket, campaign_id, traffic_source_id, offer_id, lander_id, affiliate_network_id, rule_index, path_index, country, device, os, browser, language, is_bot, type, status, conversions, payout, cost)
    SELECT a.attribution, s.dim_set,
      g.grain,
      date_bin(make_interval(mins => g.grain), CASE WHEN a.attribution = 'visit' THEN n.visited_at ELSE n.converted_at END, timestamptz '2000-01-01 00:00:00+00'),
      n.campaign_id,
      n.traffic_source_id,
      CASE WHEN s.dim_set = 1 THEN coalesce(n.offer_id, 0) ELSE 0 END,
      CASE WHEN s.dim_set = 1 THEN coalesce(n.lander_id, 0) ELSE 0 END,
      CASE WHEN s.dim_set = 1 THEN coalesce(n.affiliate_network_id, 0) ELSE 0 END,
      CASE WHEN s.dim_set = 1 THEN n.rule_index ELSE -1::smallint END,
      CASE WHEN s.dim_set = 1 THEN n.path_index ELSE 0::smallint END,
      coalesce(n.country, ''),
      CASE WHEN s.dim_set = 2 THEN coalesce(n.device, '') ELSE '' END,
      CASE WHEN s.dim_set = 2 THEN coalesce(n.os, '') ELSE '' END,
      CASE WHEN s.dim_set = 2 THEN coalesce(n.browser, '') ELSE '' END,
      CASE WHEN s.dim_set = 2 THEN coalesce(n.language, '') ELSE '' END,
      n.is_bot,
      n.type, n.status, sum(n.sign)::int, sum(n.sign * n.payout), sum(n.sign * n.cost)
    FROM (
      SELECT -1 AS sign, o.status, o.payout, o.cost, o.type, o.visited_at, o.converted_at, o.campaign_id, o.traffic_source_id, o.offer_id, o.lander_id, o.affiliate_network_id, o.rule_index, o.path_index, o.country, o.device, o.os, o.browser, o.language, o.is_bot FROM old_conversions o JOIN new_conversions c USING (id)
      WHERE (o.status, o.payout, o.cost, o.type, o.visited_at, o.converted_at, o.campaign_id, o.traffic_source_id, o.offer_id, o.lander_id, o.affiliate_network_id, o.rule_index, o.path_index, o.country, o.device, o.os, o.browser, o.language, o.is_bot) IS DISTINCT FROM (c.status, c.payout, c.cost, c.type, c.visited_at, c.converted_at, c.campaign_id, c.traffic_source_id, c.offer_id, c.lander_id, c.affiliate_network_id, c.rule_index, c.path_index, c.country, c.device, c.os, c.browser, c.language, c.is_bot)
      UNION ALL
      SELECT 1 AS sign, c.status, c.payout, c.cost, c.type, c.visited_at, c.converted_at, c.campaign_id, c.traffic_source_id, c.offer_id, c.lander_id, c.affiliate_network_id, c.rule_index, c.path_index, c.country, c.device, c.os, c.browser, c.language, c.is_bot FROM old_conversions o JOIN new_conversions c USING (id)
      WHERE (o.status, o.payout, o.cost, o.type, o.visited_at, o.converted_at, o.campaign_id, o.traffic_source_id, o.offer_id, o.lander_id, o.affiliate_network_id, o.rule_index, o.path_index, o.country, o.device, o.os, o.browser, o.language, o.is_bot) IS DISTINCT FROM (c.status, c.payout, c.cost, c.type, c.visited_at, c.converted_at, c.campaign_id, c.traffic_source_id, c.offer_id, c.lander_id, c.affiliate_network_id, c.rule_index, c.path_index, c.country, c.device, c.os, c.browser, c.language, c.is_bot)
    ) n
      CROSS JOIN (VALUES ('visit'), ('postback')) AS a(attribution) CROSS JOIN (VALUES (1::smallint), (2::smallint)) AS s(dim_set) CROSS JOIN (VALUES (15::smallint), (60::smallint), (1440::smallint)) AS g(grain)
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19
    ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19
    ON CONFLICT ON CONSTRAINT report_conversion_rollup_pk DO UPDATE SET
      conversions = r.conversions + excluded.conversions,
      payout = r.payout + excluded.payout,
      cost = r.cost + excluded.cost;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER conversions_rollup_update_trg
AFTER UPDATE ON conversions REFERENCING OLD TABLE AS old_conversions NEW TABLE AS new_conversions
FOR EACH STATEMENT EXECUTE FUNCTION tracklane_rollup_conversions_update();
--> statement-breakpoint
-- Rows written before this migration.
INSERT INTO report_visit_rollup AS r (dim_set, grain, bucket, campaign_id, traffic_source_id, offer_id, lander_id, affiliate_network_id, rule_index, path_index, country, device, os, browser, language, is_bot, visits, unique_visits, clicks, cost)
    SELECT s.dim_set,
      g.grain,
      date_bin(make_interval(mins => g.grain), n.visited_at, timestamptz '2000-01-01 00:00:00+00'),
      n.campaign_id,
      n.traffic_source_id,
      CASE WHEN s.dim_set = 1 THEN coalesce(n.offer_id, 0) ELSE 0 END,
      CASE WHEN s.dim_set = 1 THEN coalesce(n.lander_id, 0) ELSE 0 END,
      CASE WHEN s.dim_set = 1 THEN coalesce(n.affiliate_network_id, 0) ELSE 0 END,
      CASE WHEN s.dim_set = 1 THEN n.rule_index ELSE -1::smallint END,
      CASE WHEN s.dim_set = 1 THEN n.path_index ELSE 0::smallint END,
      coalesce(n.country, ''),
      CASE WHEN s.dim_set = 2 THEN coalesce(n.device, '') ELSE '' END,
      CASE WHEN s.dim_set = 2 THEN coalesce(n.os, '') ELSE '' END,
      CASE WHEN s.dim_set = 2 THEN coalesce(n.browser, '') ELSE '' END,
      CASE WHEN s.dim_set = 2 THEN coalesce(n.language, '') ELSE '' END,
      n.is_bot,
      count(*)::int, (count(*) FILTER (WHERE n.is_unique))::int, (count(*) FILTER (WHERE n.clicked))::int, sum(n.cost)
    FROM (
      -- A visit without a lander is a click by itself; with a lander, its first click-through is
      -- (one that arrived before the visit was flushed is found here, later ones by the lander_clicks trigger).
      SELECT v.*, (v.lander_id IS NULL OR EXISTS (SELECT 1 FROM lander_clicks lc WHERE lc.click_id = v.click_id)) AS clicked
      FROM visits v
    ) n CROSS JOIN (VALUES (1::smallint), (2::smallint)) AS s(dim_set) CROSS JOIN (VALUES (15::smallint), (60::smallint), (1440::smallint)) AS g(grain)
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
    -- Every writer upserts in key order, so two concurrent batches never wait on each other in a cycle.
    ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
    ON CONFLICT ON CONSTRAINT report_visit_rollup_pk DO UPDATE SET
      visits = r.visits + excluded.visits,
      unique_visits = r.unique_visits + excluded.unique_visits,
      clicks = r.clicks + excluded.clicks,
      cost = r.cost + excluded.cost;
--> statement-breakpoint
INSERT INTO report_conversion_rollup AS r (attribution, dim_set, grain, bucket, campaign_id, traffic_source_id, offer_id, lander_id, affiliate_network_id, rule_index, path_index, country, device, os, browser, language, is_bot, type, status, conversions, payout, cost)
    SELECT a.attribution, s.dim_set,
      g.grain,
      date_bin(make_interval(mins => g.grain), CASE WHEN a.attribution = 'visit' THEN n.visited_at ELSE n.converted_at END, timestamptz '2000-01-01 00:00:00+00'),
      n.campaign_id,
      n.traffic_source_id,
      CASE WHEN s.dim_set = 1 THEN coalesce(n.offer_id, 0) ELSE 0 END,
      CASE WHEN s.dim_set = 1 THEN coalesce(n.lander_id, 0) ELSE 0 END,
      CASE WHEN s.dim_set = 1 THEN coalesce(n.affiliate_network_id, 0) ELSE 0 END,
      CASE WHEN s.dim_set = 1 THEN n.rule_index ELSE -1::smallint END,
      CASE WHEN s.dim_set = 1 THEN n.path_index ELSE 0::smallint END,
      coalesce(n.country, ''),
      CASE WHEN s.dim_set = 2 THEN coalesce(n.device, '') ELSE '' END,
      CASE WHEN s.dim_set = 2 THEN coalesce(n.os, '') ELSE '' END,
      CASE WHEN s.dim_set = 2 THEN coalesce(n.browser, '') ELSE '' END,
      CASE WHEN s.dim_set = 2 THEN coalesce(n.language, '') ELSE '' END,
      n.is_bot,
      n.type, n.status, sum(n.sign)::int, sum(n.sign * n.payout), sum(n.sign * n.cost)
    FROM (SELECT 1 AS sign, c.status, c.payout, c.cost, c.type, c.visited_at, c.converted_at, c.campaign_id, c.traffic_source_id, c.offer_id, c.lander_id, c.affiliate_network_id, c.rule_index, c.path_index, c.country, c.device, c.os, c.browser, c.language, c.is_bot FROM conversions c) n
      CROSS JOIN (VALUES ('visit'), ('postback')) AS a(attribution) CROSS JOIN (VALUES (1::smallint), (2::smallint)) AS s(dim_set) CROSS JOIN (VALUES (15::smallint), (60::smallint), (1440::smallint)) AS g(grain)
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19
    ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19
    ON CONFLICT ON CONSTRAINT report_conversion_rollup_pk DO UPDATE SET
      conversions = r.conversions + excluded.conversions,
      payout = r.payout + excluded.payout,
      cost = r.cost + excluded.cost;
