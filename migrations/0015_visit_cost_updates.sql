-- Cost updates: a media buyer enters what a campaign really spent over a time range (from the ad
-- network's dashboard, for sources that pass no cost in the link) and it replaces the cost of the
-- visits in that range. Visits' rollups learn of it through report_visit_delta like any insert: one
-- row per 15-minute group carrying the cost difference and no visits.

-- The 15-minute grouping of visits as report_visit_delta rows, with the measures (visits,
-- unique_visits, clicks, cost) given as SQL over the rows `v` of `src`. One grouping for every
-- writer, so the groups of an insert and of a cost update always line up.
CREATE OR REPLACE FUNCTION tracklane_visit_groups_sql(src text, measures text) RETURNS text
LANGUAGE sql IMMUTABLE AS $f$
  SELECT format($q$
    SELECT date_bin(interval '15 minutes', v.visited_at, timestamptz '2000-01-01 00:00:00+00'), v.campaign_id, v.traffic_source_id,
      coalesce(v.offer_id, 0), coalesce(v.lander_id, 0), coalesce(v.affiliate_network_id, 0),
      v.rule_index, v.path_index, coalesce(v.country, ''), coalesce(v.device, ''), coalesce(v.os, ''),
      coalesce(v.browser, ''), coalesce(v.language, ''), v.is_bot,
      %2$s
    FROM %1$s v
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14
  $q$, src, measures)
$f$;
--> statement-breakpoint
-- Migration 0013's function (the triggers call it), now on the grouping above.
CREATE OR REPLACE FUNCTION tracklane_visit_groups_sql(src text, clicks_only boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $f$
  SELECT tracklane_visit_groups_sql(src, CASE WHEN clicks_only
    THEN '0, 0, count(*), 0'
    -- A visit without a lander is a click by itself; with a lander, its first click-through is
    -- (one that arrived before the visit was flushed is found here, later ones by the lander_clicks trigger).
    ELSE 'count(*), count(*) FILTER (WHERE v.is_unique), count(*) FILTER (WHERE v.lander_id IS NULL OR EXISTS (SELECT 1 FROM lander_clicks lc WHERE lc.click_id = v.click_id)), sum(v.cost)'
  END)
$f$;
--> statement-breakpoint
-- Spreads `micros` (the cost in millionths of the account currency) over the campaign's human visits
-- in [p_from, p_to), optionally only those of one ad set, ad or placement: each gets micros / n and
-- the first micros % n one millionth more, so the visits add up to the amount exactly. Bot visits in
-- the range get 0, so a report shows the amount whether it counts bots or not. Returns the number
-- of human visits the cost went to; 0 changes nothing.
CREATE OR REPLACE FUNCTION tracklane_set_visit_costs(p_campaign integer, p_from timestamptz, p_to timestamptz, micros bigint, p_adset text, p_ad text, p_placement text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  shared integer;
BEGIN
  EXECUTE format($q$
    WITH target AS (
      SELECT click_id, cost AS old_cost, is_bot,
        -- Human visits first: they are rows 1..n.
        row_number() OVER (ORDER BY is_bot, visited_at, click_id) AS rn,
        count(*) FILTER (WHERE NOT is_bot) OVER () AS n
      FROM visits
      WHERE campaign_id = $1 AND visited_at >= $2 AND visited_at < $3
        AND ($5::text IS NULL OR ts_adset = $5) AND ($6::text IS NULL OR ts_ad = $6) AND ($7::text IS NULL OR ts_placement = $7)
    ),
    changed AS (
      UPDATE visits u
      SET cost = CASE WHEN t.is_bot THEN 0 ELSE (($4 / t.n) + CASE WHEN t.rn <= $4 %% t.n THEN 1 ELSE 0 END)::numeric / 1000000 END
      FROM target t
      WHERE u.click_id = t.click_id AND t.n > 0
      RETURNING u.*, t.old_cost
    ),
    delta AS (
      INSERT INTO report_visit_delta (bucket, campaign_id, traffic_source_id, offer_id, lander_id, affiliate_network_id, rule_index, path_index, country, device, os, browser, language, is_bot, visits, unique_visits, clicks, cost)
      %s
    )
    SELECT count(*) FILTER (WHERE NOT is_bot)::integer FROM changed
  $q$, tracklane_visit_groups_sql('changed', '0, 0, 0, sum(v.cost - v.old_cost)'))
  INTO shared
  USING p_campaign, p_from, p_to, micros, p_adset, p_ad, p_placement;
  RETURN shared;
END
$$;
