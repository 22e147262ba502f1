CREATE TABLE "users"."audit_events" (
	"id" text PRIMARY KEY NOT NULL,
	"position" bigserial NOT NULL,
	"type" text NOT NULL,
	"actor_id" text,
	"subject_id" text,
	"outcome" text NOT NULL,
	"request_id" text,
	"service" text NOT NULL,
	"details" text,
	"occurred_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "users"."email_history" (
	"user_id" text NOT NULL,
	"email" text NOT NULL,
	"replaced_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "email_history_user_id_email_pk" PRIMARY KEY("user_id","email")
);
--> statement-breakpoint
CREATE UNIQUE INDEX "audit_events_position_unique" ON "users"."audit_events" USING btree ("position");--> statement-breakpoint
CREATE INDEX "audit_events_actor_position_idx" ON "users"."audit_events" USING btree ("actor_id","position");--> statement-breakpoint
CREATE INDEX "audit_events_type_position_idx" ON "users"."audit_events" USING btree ("type","position");