ALTER TABLE "pending_postbacks" ADD COLUMN "source" text DEFAULT 'postback' NOT NULL;--> statement-breakpoint
ALTER TABLE "pending_postbacks" ADD COLUMN "secret_hash" char(64);