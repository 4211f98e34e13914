-- Report sums get 24 digits before the point. One payout may take all 12 digits of numeric(18, 6),
-- so two in one rollup bucket overflowed it: the fold failed on every pass and every report with it.
-- Raising a numeric's precision at the same scale is a catalog change (no table rewrite).
ALTER TABLE "report_conversion_delta" ALTER COLUMN "payout" SET DATA TYPE numeric(30, 6);--> statement-breakpoint
ALTER TABLE "report_conversion_delta" ALTER COLUMN "cost" SET DATA TYPE numeric(30, 6);--> statement-breakpoint
ALTER TABLE "report_conversion_rollup" ALTER COLUMN "payout" SET DATA TYPE numeric(30, 6);--> statement-breakpoint
ALTER TABLE "report_conversion_rollup" ALTER COLUMN "cost" SET DATA TYPE numeric(30, 6);--> statement-breakpoint
ALTER TABLE "report_visit_delta" ALTER COLUMN "cost" SET DATA TYPE numeric(30, 6);--> statement-breakpoint
ALTER TABLE "report_visit_rollup" ALTER COLUMN "cost" SET DATA TYPE numeric(30, 6);