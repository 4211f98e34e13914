-- When the postback behind a conversion's current status was received, for postbacks recorded late
-- (pending retries, spill replays): an older one must not undo a newer status. Nullable without a
-- default, so adding it rewrites nothing.
ALTER TABLE "conversions" ADD COLUMN "status_received_at" timestamp with time zone;