-- Conversion rollups are no longer upserted inside the postback's transaction. Every batch's
-- upsert touched the same hot rollup rows (same campaign, same 15-minute bucket) and held their
-- row locks until commit, so batches could only commit one after another. The triggers now append
-- signed rows to report_conversion_delta (no index, no shared row), and
-- tracklane_fold_conversion_deltas() moves them into report_conversion_rollup with the same upsert
-- as before, run every second by a worker and before every report (src/reporting/conversion-deltas.ts).
-- The same rows are summed as before, only later, so reports stay exact.
ALTER TABLE report_conversion_delta SET (autovacuum_vacuum_threshold = 2000, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_insert_threshold = 2000, autovacuum_vacuum_insert_scale_factor = 0);
--> statement-breakpoint
CREATE OR REPLACE FUNCTION tracklane_rollup_conversions_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO report_conversion_delta (sign, status, payout, cost, type, visited_at, converted_at, campaign_id, traffic_source_id, offer_id, lander_id, affiliate_network_id, rule_index, path_index, country, device, os, browser, language, is_bot)
  SELECT 1, n.status, n.payout, n.cost, n.type, n.visited_at, n.converted_at, n.campaign_id, n.traffic_source_id, n.offer_id, n.lander_id, n.affiliate_network_id, n.rule_index, n.path_index, n.country, n.device, n.os, n.browser, n.language, n.is_bot
  FROM new_conversions n;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION tracklane_rollup_conversions_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- The old row's contribution leaves and the new row's arrives; rows whose reported columns did
  -- not change (an updated_at touch) cost nothing.
  INSERT INTO report_conversion_delta (sign, status, payout, cost, type, visited_at, converted_at, campaign_id, traffic_source_id, offer_id, lander_id, affiliate_network_id, rule_index, path_index, country, device, os, browser, language, is_bot)
  SELECT x.* FROM old_conversions o JOIN new_conversions c USING (id)
    CROSS JOIN LATERAL (
      SELECT -1, o.status, o.payout, o.cost, o.type, o.visited_at, o.converted_at, o.campaign_id, o.traffic_source_id, o.offer_id, o.lander_id, o.affiliate_network_id, o.rule_index, o.path_index, o.country, o.device, o.os, o.browser, o.language, o.is_bot
      UNION ALL
      SELECT 1, c.status, c.payout, c.cost, c.type, c.visited_at, c.converted_at, c.campaign_id, c.traffic_source_id, c.offer_id, c.lander_id, c.affiliate_network_id, c.rule_index, c.path_index, c.country, c.device, c.os, c.browser, c.language, c.is_bot
    ) x
  WHERE (o.status, o.payout, o.cost, o.type, o.visited_at, o.converted_at, o.campaign_id, o.traffic_source_id, o.offer_id, o.lander_id, o.affiliate_network_id, o.rule_index, o.path_index, o.country, o.device, o.os, o.browser, o.language, o.is_bot)
    IS DISTINCT FROM (c.status, c.payout, c.cost, c.type, c.visited_at, c.converted_at, c.campaign_id, c.traffic_source_id, c.offer_id, c.lander_id, c.affiliate_network_id, c.rule_index, c.path_index, c.country, c.device, c.os, c.browser, c.language, c.is_bot);
  RETURN NULL;
END
$$;
--> statement-breakpoint
-- Moves every committed delta into the rollup in one statement. The transaction-level advisory
-- lock keeps folds of several instances from queueing on the same rollup rows; `wait` = false
-- gives up at once when another fold holds it (the background worker), true waits for it (a
-- report, which must read what that fold commits). Deltas written by transactions still open are
-- invisible to the DELETE and stay for the next fold. Returns the number of rollup rows changed.
CREATE OR REPLACE FUNCTION tracklane_fold_conversion_deltas(wait boolean) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  folded integer;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM report_conversion_delta) THEN
    RETURN 0;
  END IF;
  IF wait THEN
    PERFORM pg_advisory_xact_lock(7482301);
  ELSIF NOT pg_try_advisory_xact_lock(7482301) THEN
    RETURN 0;
  END IF;
  EXECUTE 'WITH d AS (DELETE FROM report_conversion_delta RETURNING *) ' || tracklane_conversion_rollup_sql('d');
  GET DIAGNOSTICS folded = ROW_COUNT;
  RETURN folded;
END
$$;
