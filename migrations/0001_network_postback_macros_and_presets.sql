ALTER TABLE "affiliate_networks" ADD COLUMN "payout_token" text;--> statement-breakpoint
ALTER TABLE "affiliate_networks" ADD COLUMN "txid_token" text;--> statement-breakpoint
ALTER TABLE "affiliate_networks" ADD COLUMN "status_token" text;--> statement-breakpoint
ALTER TABLE "affiliate_networks" ADD COLUMN "preset" text;--> statement-breakpoint
ALTER TABLE "traffic_sources" ADD COLUMN "preset" text;