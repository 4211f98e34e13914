-- The status history, written once per statement from the transition tables instead of once per
-- row: postbacks are inserted in batches (group commit), and a per-row PL/pgSQL call per
-- conversion cost more than the insert itself.
DROP TRIGGER IF EXISTS conversions_status_history_trg ON conversions;
--> statement-breakpoint
DROP FUNCTION IF EXISTS tracklane_conversion_status_history();
--> statement-breakpoint
CREATE OR REPLACE FUNCTION tracklane_conversion_history_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO conversion_status_history (conversion_id, status, payout, changed_at)
  SELECT id, status, payout, updated_at FROM tracklane_new_conversions;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION tracklane_conversion_history_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO conversion_status_history (conversion_id, status, payout, changed_at)
  SELECT n.id, n.status, n.payout, n.updated_at
  FROM tracklane_new_conversions n JOIN tracklane_old_conversions o ON o.id = n.id
  WHERE n.status IS DISTINCT FROM o.status OR n.payout IS DISTINCT FROM o.payout;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER conversions_status_history_insert_trg
AFTER INSERT ON conversions REFERENCING NEW TABLE AS tracklane_new_conversions
FOR EACH STATEMENT EXECUTE FUNCTION tracklane_conversion_history_insert();
--> statement-breakpoint
CREATE TRIGGER conversions_status_history_update_trg
AFTER UPDATE ON conversions REFERENCING OLD TABLE AS tracklane_old_conversions NEW TABLE AS tracklane_new_conversions
FOR EACH STATEMENT EXECUTE FUNCTION tracklane_conversion_history_update();
