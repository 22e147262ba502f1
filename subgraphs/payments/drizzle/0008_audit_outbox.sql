CREATE TABLE "payments"."audit_outbox" (
	"id" text PRIMARY KEY NOT NULL,
	"sequence" bigserial NOT NULL,
	"type" text NOT NULL,
	"actor_id" text,
	"subject_id" text,
	"outcome" text NOT NULL,
	"request_id" text,
	"details" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "audit_outbox_sequence_idx" ON "payments"."audit_outbox" USING btree ("sequence");