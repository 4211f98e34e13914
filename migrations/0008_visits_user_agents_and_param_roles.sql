CREATE TABLE "user_agents" (
	"hash" bigint PRIMARY KEY NOT NULL,
	"user_agent" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "visit_param_roles" (
	"hash" bigint PRIMARY KEY NOT NULL,
	"names" jsonb NOT NULL
);
--> statement-breakpoint
ALTER TABLE "visits" ADD COLUMN "param_roles_hash" bigint;--> statement-breakpoint
ALTER TABLE "visits" ADD COLUMN "user_agent_hash" bigint;