DROP INDEX "payments"."outbox_unpublished_idx";--> statement-breakpoint
ALTER TABLE "payments"."outbox_events" ADD COLUMN "position" bigint;--> statement-breakpoint
CREATE UNIQUE INDEX "outbox_position_unique" ON "payments"."outbox_events" USING btree ("position");--> statement-breakpoint
CREATE INDEX "outbox_unclaimed_idx" ON "payments"."outbox_events" USING btree ("sequence") WHERE "payments"."outbox_events"."position" is null;--> statement-breakpoint
CREATE INDEX "outbox_aggregate_position_idx" ON "payments"."outbox_events" USING btree ("aggregate_id","position");--> statement-breakpoint
CREATE INDEX "outbox_unpublished_idx" ON "payments"."outbox_events" USING btree ("position") WHERE "payments"."outbox_events"."published_at" is null;