ALTER TABLE "payments"."payments" ADD COLUMN "review_decision" text;--> statement-breakpoint
ALTER TABLE "payments"."payments" ADD COLUMN "review_note" text;--> statement-breakpoint
ALTER TABLE "payments"."payments" ADD COLUMN "reviewed_by" text;--> statement-breakpoint
ALTER TABLE "payments"."payments" ADD COLUMN "reviewed_at" timestamp with time zone;