CREATE SCHEMA "payments";
--> statement-breakpoint
CREATE TABLE "payments"."orders" (
	"id" text PRIMARY KEY NOT NULL,
	"buyer_id" text NOT NULL,
	"merchant_id" text NOT NULL,
	"amount" bigint NOT NULL,
	"currency" text NOT NULL,
	"description" text,
	"status" text NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "payments"."outbox_events" (
	"id" text PRIMARY KEY NOT NULL,
	"sequence" bigserial NOT NULL,
	"aggregate_type" text NOT NULL,
	"aggregate_id" text NOT NULL,
	"aggregate_version" integer NOT NULL,
	"type" text NOT NULL,
	"payload" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "payments"."payments" (
	"id" text PRIMARY KEY NOT NULL,
	"position" bigserial NOT NULL,
	"order_id" text NOT NULL,
	"buyer_id" text NOT NULL,
	"merchant_id" text NOT NULL,
	"amount" bigint NOT NULL,
	"currency" text NOT NULL,
	"status" text NOT NULL,
	"step" text NOT NULL,
	"capture_method" text NOT NULL,
	"failure_code" text,
	"idempotency_key" text NOT NULL,
	"request_hash" text NOT NULL,
	"risk_assessment_id" text,
	"risk_decision" text,
	"buyer_account_id" text,
	"merchant_account_id" text,
	"hold_id" text,
	"hold_expires_at" timestamp with time zone,
	"amount_captured" bigint DEFAULT 0 NOT NULL,
	"amount_refunded" bigint DEFAULT 0 NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "payments"."refunds" (
	"id" text PRIMARY KEY NOT NULL,
	"payment_id" text NOT NULL,
	"amount" bigint NOT NULL,
	"currency" text NOT NULL,
	"reason" text,
	"status" text NOT NULL,
	"idempotency_key" text NOT NULL,
	"request_hash" text NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "orders_buyer_idx" ON "payments"."orders" USING btree ("buyer_id");--> statement-breakpoint
CREATE INDEX "orders_merchant_idx" ON "payments"."orders" USING btree ("merchant_id");--> statement-breakpoint
CREATE UNIQUE INDEX "outbox_aggregate_version_unique" ON "payments"."outbox_events" USING btree ("aggregate_id","aggregate_version");--> statement-breakpoint
CREATE UNIQUE INDEX "outbox_sequence_unique" ON "payments"."outbox_events" USING btree ("sequence");--> statement-breakpoint
CREATE UNIQUE INDEX "payments_buyer_key_unique" ON "payments"."payments" USING btree ("buyer_id","idempotency_key");--> statement-breakpoint
CREATE UNIQUE INDEX "payments_one_live_per_order" ON "payments"."payments" USING btree ("order_id") WHERE "payments"."payments"."status" in ('PENDING', 'REQUIRES_REVIEW', 'AUTHORIZED', 'SUCCEEDED');--> statement-breakpoint
CREATE INDEX "payments_order_idx" ON "payments"."payments" USING btree ("order_id");--> statement-breakpoint
CREATE INDEX "payments_buyer_position_idx" ON "payments"."payments" USING btree ("buyer_id","position");--> statement-breakpoint
CREATE INDEX "payments_merchant_position_idx" ON "payments"."payments" USING btree ("merchant_id","position");--> statement-breakpoint
CREATE INDEX "payments_unfinished_idx" ON "payments"."payments" USING btree ("updated_at") WHERE "payments"."payments"."status" = 'PENDING' or "payments"."payments"."step" = 'CANCEL_REQUESTED';--> statement-breakpoint
CREATE UNIQUE INDEX "refunds_payment_key_unique" ON "payments"."refunds" USING btree ("payment_id","idempotency_key");--> statement-breakpoint
CREATE INDEX "refunds_payment_idx" ON "payments"."refunds" USING btree ("payment_id");