CREATE TABLE "affiliate_networks" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"postback_secret" text,
	"allowed_ips" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"status_map" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"click_id_token" text,
	"status" text DEFAULT 'active' NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "api_keys" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"key_hash" char(64) NOT NULL,
	"key_prefix" varchar(16) NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_used_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "api_keys_key_hash_unique" UNIQUE("key_hash")
);
--> statement-breakpoint
CREATE TABLE "campaigns" (
	"id" serial PRIMARY KEY NOT NULL,
	"key" varchar(32) NOT NULL,
	"name" text NOT NULL,
	"traffic_source_id" integer NOT NULL,
	"cost_model" text DEFAULT 'none' NOT NULL,
	"cost_value" numeric(18, 6),
	"flow" jsonb NOT NULL,
	"fallback_url" text,
	"redirect_mode" text DEFAULT '302' NOT NULL,
	"forward_postbacks" boolean DEFAULT true NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "campaigns_key_unique" UNIQUE("key")
);
--> statement-breakpoint
CREATE TABLE "conversion_status_history" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"conversion_id" bigint NOT NULL,
	"status" text NOT NULL,
	"payout" numeric(18, 6) NOT NULL,
	"changed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "conversions" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"click_id" varchar(24) NOT NULL,
	"type" varchar(64) DEFAULT 'conversion' NOT NULL,
	"txid" varchar(128) DEFAULT '' NOT NULL,
	"status" text NOT NULL,
	"payout" numeric(18, 6) NOT NULL,
	"original_payout" numeric(18, 6) NOT NULL,
	"original_currency" char(3) NOT NULL,
	"cost" numeric(18, 6) DEFAULT '0' NOT NULL,
	"visited_at" timestamp with time zone NOT NULL,
	"converted_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"campaign_id" integer NOT NULL,
	"traffic_source_id" integer NOT NULL,
	"offer_id" integer,
	"lander_id" integer,
	"affiliate_network_id" integer,
	"rule_index" smallint DEFAULT -1 NOT NULL,
	"path_index" smallint DEFAULT 0 NOT NULL,
	"path_name" text,
	"country" char(2),
	"device" text,
	"os" text,
	"browser" text,
	"language" varchar(8),
	"is_bot" boolean DEFAULT false NOT NULL,
	"ts_campaign" text,
	"ts_adset" text,
	"ts_ad" text,
	"ts_placement" text,
	"external_id" text,
	"params" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"postback_params" jsonb DEFAULT '{}'::jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "currency_rates" (
	"currency" char(3) PRIMARY KEY NOT NULL,
	"rate" numeric(24, 12) NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "lander_clicks" (
	"click_id" varchar(24) NOT NULL,
	"slot" smallint DEFAULT 1 NOT NULL,
	"clicked_at" timestamp with time zone NOT NULL,
	"visited_at" timestamp with time zone NOT NULL,
	"offer_id" integer,
	"campaign_id" integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE "landers" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"url" text NOT NULL,
	"offer_count" integer DEFAULT 1 NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "offers" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"url" text NOT NULL,
	"payout" numeric(18, 6) DEFAULT '0' NOT NULL,
	"currency" char(3) NOT NULL,
	"affiliate_network_id" integer,
	"attribution_window_days" integer DEFAULT 30 NOT NULL,
	"allow_duplicates" boolean DEFAULT false NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "pending_postbacks" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"click_id" varchar(128),
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"raw_params" jsonb NOT NULL,
	"source_ip" text,
	"state" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"outcome" text,
	"conversion_id" bigint
);
--> statement-breakpoint
CREATE TABLE "postback_deliveries" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"conversion_id" bigint NOT NULL,
	"traffic_source_id" integer NOT NULL,
	"url" text NOT NULL,
	"state" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_status_code" integer,
	"last_error" text,
	"log" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "traffic_sources" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"params" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"postback_url" text,
	"postback_statuses" jsonb DEFAULT '["approved"]'::jsonb NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "visits" (
	"click_id" varchar(24) PRIMARY KEY NOT NULL,
	"visited_at" timestamp with time zone NOT NULL,
	"campaign_id" integer NOT NULL,
	"traffic_source_id" integer NOT NULL,
	"rule_index" smallint DEFAULT -1 NOT NULL,
	"path_index" smallint DEFAULT 0 NOT NULL,
	"path_name" text,
	"lander_id" integer,
	"offer_id" integer,
	"affiliate_network_id" integer,
	"ts_campaign" text,
	"ts_adset" text,
	"ts_ad" text,
	"ts_placement" text,
	"external_id" text,
	"params" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"ip" text,
	"user_agent" text,
	"device" text,
	"os" text,
	"os_version" text,
	"browser" text,
	"browser_version" text,
	"country" char(2),
	"language" varchar(8),
	"referrer_domain" text,
	"is_bot" boolean DEFAULT false NOT NULL,
	"is_unique" boolean DEFAULT false NOT NULL,
	"cost" numeric(18, 6) DEFAULT '0' NOT NULL
);
--> statement-breakpoint
ALTER TABLE "campaigns" ADD CONSTRAINT "campaigns_traffic_source_id_traffic_sources_id_fk" FOREIGN KEY ("traffic_source_id") REFERENCES "public"."traffic_sources"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "conversion_status_history" ADD CONSTRAINT "conversion_status_history_conversion_id_conversions_id_fk" FOREIGN KEY ("conversion_id") REFERENCES "public"."conversions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "offers" ADD CONSTRAINT "offers_affiliate_network_id_affiliate_networks_id_fk" FOREIGN KEY ("affiliate_network_id") REFERENCES "public"."affiliate_networks"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "conversion_status_history_conversion_idx" ON "conversion_status_history" USING btree ("conversion_id");--> statement-breakpoint
CREATE UNIQUE INDEX "conversions_click_type_txid_uq" ON "conversions" USING btree ("click_id","type","txid");--> statement-breakpoint
CREATE INDEX "conversions_converted_at_idx" ON "conversions" USING btree ("converted_at");--> statement-breakpoint
CREATE INDEX "conversions_visited_at_idx" ON "conversions" USING btree ("visited_at");--> statement-breakpoint
CREATE UNIQUE INDEX "lander_clicks_click_slot_uq" ON "lander_clicks" USING btree ("click_id","slot");--> statement-breakpoint
CREATE INDEX "lander_clicks_clicked_at_brin" ON "lander_clicks" USING brin ("clicked_at");--> statement-breakpoint
CREATE INDEX "pending_postbacks_state_next_idx" ON "pending_postbacks" USING btree ("state","next_attempt_at");--> statement-breakpoint
CREATE INDEX "postback_deliveries_state_next_idx" ON "postback_deliveries" USING btree ("state","next_attempt_at");--> statement-breakpoint
CREATE UNIQUE INDEX "postback_deliveries_conversion_status_uq" ON "postback_deliveries" USING btree ("conversion_id","url");--> statement-breakpoint
CREATE INDEX "visits_visited_at_brin" ON "visits" USING brin ("visited_at");--> statement-breakpoint
CREATE INDEX "visits_campaign_visited_at_idx" ON "visits" USING btree ("campaign_id","visited_at");