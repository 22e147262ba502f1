CREATE TABLE "users"."outbox_events" (
	"id" text PRIMARY KEY NOT NULL,
	"sequence" bigserial NOT NULL,
	"position" bigint,
	"aggregate_type" text NOT NULL,
	"aggregate_id" text NOT NULL,
	"aggregate_version" integer NOT NULL,
	"type" text NOT NULL,
	"payload" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"published_at" timestamp with time zone
);
--> statement-breakpoint
CREATE UNIQUE INDEX "outbox_aggregate_version_unique" ON "users"."outbox_events" USING btree ("aggregate_id","aggregate_version");--> statement-breakpoint
CREATE UNIQUE INDEX "outbox_sequence_unique" ON "users"."outbox_events" USING btree ("sequence");--> statement-breakpoint
CREATE UNIQUE INDEX "outbox_position_unique" ON "users"."outbox_events" USING btree ("position");--> statement-breakpoint
CREATE INDEX "outbox_unclaimed_idx" ON "users"."outbox_events" USING btree ("sequence") WHERE "users"."outbox_events"."position" is null;--> statement-breakpoint
CREATE INDEX "outbox_unpublished_idx" ON "users"."outbox_events" USING btree ("position") WHERE "users"."outbox_events"."published_at" is null;--> statement-breakpoint
CREATE INDEX "outbox_aggregate_position_idx" ON "users"."outbox_events" USING btree ("aggregate_id","position");