-- Every status a conversion has held is kept, written by the database itself so that no path
-- (postback, upload, a manual UPDATE) can change a conversion without leaving a history row.
CREATE OR REPLACE FUNCTION tracklane_conversion_status_history() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status OR NEW.payout IS DISTINCT FROM OLD.payout THEN
    INSERT INTO conversion_status_history (conversion_id, status, payout, changed_at)
    VALUES (NEW.id, NEW.status, NEW.payout, NEW.updated_at);
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER conversions_status_history_trg
AFTER INSERT OR UPDATE OF status, payout ON conversions
FOR EACH ROW EXECUTE FUNCTION tracklane_conversion_status_history();
