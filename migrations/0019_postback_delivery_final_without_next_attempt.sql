ALTER TABLE "postback_deliveries" ALTER COLUMN "next_attempt_at" DROP NOT NULL;--> statement-breakpoint
-- Delivered and given-up forwards have no next attempt; before this they carried a time that was never used.
UPDATE "postback_deliveries" SET "next_attempt_at" = NULL WHERE "state" <> 'pending';
