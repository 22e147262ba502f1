CREATE SCHEMA "risk";
--> statement-breakpoint
CREATE TABLE "risk"."assessments" (
	"id" text PRIMARY KEY NOT NULL,
	"user_id" text NOT NULL,
	"merchant_id" text,
	"payment_id" text,
	"amount" bigint NOT NULL,
	"currency" text NOT NULL,
	"rule_set_version" integer NOT NULL,
	"features" jsonb NOT NULL,
	"decision" text NOT NULL,
	"score" integer NOT NULL,
	"reasons" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "risk"."blocklist" (
	"kind" text NOT NULL,
	"value" text NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "blocklist_kind_value_pk" PRIMARY KEY("kind","value")
);
--> statement-breakpoint
CREATE TABLE "risk"."rule_sets" (
	"version" integer PRIMARY KEY NOT NULL,
	"rules" jsonb NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "assessments_user_created_idx" ON "risk"."assessments" USING btree ("user_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "assessments_payment_unique" ON "risk"."assessments" USING btree ("payment_id") WHERE "risk"."assessments"."payment_id" is not null;