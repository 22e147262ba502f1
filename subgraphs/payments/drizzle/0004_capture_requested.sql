DROP INDEX "payments"."payments_unfinished_idx";--> statement-breakpoint
ALTER TABLE "payments"."payments" ADD COLUMN "capture_requested_amount" bigint;--> statement-breakpoint
ALTER TABLE "payments"."payments" ADD COLUMN "stalled_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "payments_unfinished_idx" ON "payments"."payments" USING btree ("updated_at") WHERE "payments"."payments"."status" = 'PENDING' or "payments"."payments"."step" in ('CANCEL_REQUESTED', 'CAPTURE_REQUESTED');