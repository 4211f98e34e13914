-- Visits keep a hash of their user agent instead of the text (user_agents holds each one once),
-- and read their full parameter set through tracklane_visit_params(). See src/tracking/visit-row.ts.
-- The hash the click writer computes in JS: the first 8 bytes of md5, as a signed bigint.
CREATE OR REPLACE FUNCTION tracklane_text_hash(t text) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT ('x' || substr(md5(t), 1, 16))::bit(64)::bigint
$$;
--> statement-breakpoint
INSERT INTO "user_agents" ("hash", "user_agent")
SELECT DISTINCT tracklane_text_hash("user_agent"), "user_agent" FROM "visits" WHERE "user_agent" IS NOT NULL
ON CONFLICT DO NOTHING;
--> statement-breakpoint
UPDATE "visits" SET "user_agent_hash" = tracklane_text_hash("user_agent") WHERE "user_agent" IS NOT NULL;
--> statement-breakpoint
ALTER TABLE "visits" DROP COLUMN "user_agent";
--> statement-breakpoint
-- Every query parameter of a visit: those kept in `params` plus those stored in a role column
-- (the names come from visit_param_roles). Rows without a roles hash keep them all in `params`.
CREATE OR REPLACE FUNCTION tracklane_visit_params(p_params jsonb, p_roles bigint, p_campaign text, p_adset text, p_ad text, p_placement text, p_external_id text)
RETURNS jsonb LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN p_roles IS NULL THEN p_params ELSE p_params || coalesce((
    SELECT jsonb_object_agg(n.value, CASE n.key WHEN 'campaign' THEN p_campaign WHEN 'adset' THEN p_adset WHEN 'ad' THEN p_ad
      WHEN 'placement' THEN p_placement WHEN 'externalId' THEN p_external_id END)
    FROM visit_param_roles r CROSS JOIN LATERAL jsonb_each_text(r.names) n
    WHERE r.hash = p_roles), '{}'::jsonb) END
$$;
--> statement-breakpoint
-- One query parameter of a visit by name (the `var:NAME` dimension and filter).
CREATE OR REPLACE FUNCTION tracklane_visit_param(p_name text, p_params jsonb, p_roles bigint, p_campaign text, p_adset text, p_ad text, p_placement text, p_external_id text)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(p_params ->> p_name, CASE WHEN p_roles IS NOT NULL THEN (
    SELECT CASE p_name WHEN r.names ->> 'campaign' THEN p_campaign WHEN r.names ->> 'adset' THEN p_adset WHEN r.names ->> 'ad' THEN p_ad
      WHEN r.names ->> 'placement' THEN p_placement WHEN r.names ->> 'externalId' THEN p_external_id END
    FROM visit_param_roles r WHERE r.hash = p_roles) END)
$$;
