CREATE SCHEMA "notifications";
--> statement-breakpoint
CREATE TABLE "notifications"."deliveries" (
	"id" text PRIMARY KEY NOT NULL,
	"position" bigserial NOT NULL,
	"kind" text NOT NULL,
	"channel" text NOT NULL,
	"notification_id" text,
	"endpoint_id" text,
	"user_id" text NOT NULL,
	"event_id" text NOT NULL,
	"event_type" text NOT NULL,
	"body" text,
	"status" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "deliveries_target_check" CHECK (("notifications"."deliveries"."kind" = 'NOTIFICATION') = ("notifications"."deliveries"."notification_id" is not null) and ("notifications"."deliveries"."kind" = 'WEBHOOK') = ("notifications"."deliveries"."endpoint_id" is not null))
);
--> statement-breakpoint
CREATE TABLE "notifications"."delivery_attempts" (
	"delivery_id" text NOT NULL,
	"number" integer NOT NULL,
	"attempted_at" timestamp with time zone NOT NULL,
	"succeeded" boolean NOT NULL,
	"response_status" integer,
	"error" text,
	CONSTRAINT "delivery_attempts_delivery_id_number_pk" PRIMARY KEY("delivery_id","number")
);
--> statement-breakpoint
CREATE TABLE "notifications"."notifications" (
	"id" text PRIMARY KEY NOT NULL,
	"position" bigserial NOT NULL,
	"user_id" text NOT NULL,
	"channel" text NOT NULL,
	"type" text NOT NULL,
	"title" text NOT NULL,
	"body" text NOT NULL,
	"status" text NOT NULL,
	"event_id" text NOT NULL,
	"read_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "notifications"."preferences" (
	"user_id" text PRIMARY KEY NOT NULL,
	"email" boolean NOT NULL,
	"sms" boolean NOT NULL,
	"push" boolean NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "notifications"."processed_events" (
	"consumer" text NOT NULL,
	"event_id" text NOT NULL,
	"processed_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "processed_events_consumer_event_id_pk" PRIMARY KEY("consumer","event_id")
);
--> statement-breakpoint
CREATE TABLE "notifications"."recipients" (
	"user_id" text PRIMARY KEY NOT NULL,
	"email" text,
	"name" text NOT NULL,
	"role" text NOT NULL,
	"version" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "notifications"."webhook_endpoints" (
	"id" text PRIMARY KEY NOT NULL,
	"merchant_id" text NOT NULL,
	"url" text NOT NULL,
	"secret_sealed" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "deliveries_notification_unique" ON "notifications"."deliveries" USING btree ("notification_id") WHERE "notifications"."deliveries"."notification_id" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "deliveries_endpoint_event_unique" ON "notifications"."deliveries" USING btree ("endpoint_id","event_id") WHERE "notifications"."deliveries"."endpoint_id" is not null;--> statement-breakpoint
CREATE INDEX "deliveries_due_idx" ON "notifications"."deliveries" USING btree ("next_attempt_at") WHERE "notifications"."deliveries"."status" = 'PENDING';--> statement-breakpoint
CREATE INDEX "deliveries_endpoint_position_idx" ON "notifications"."deliveries" USING btree ("endpoint_id","position");--> statement-breakpoint
CREATE UNIQUE INDEX "notifications_event_user_channel_unique" ON "notifications"."notifications" USING btree ("event_id","user_id","channel");--> statement-breakpoint
CREATE INDEX "notifications_user_position_idx" ON "notifications"."notifications" USING btree ("user_id","position");--> statement-breakpoint
CREATE INDEX "notifications_user_unread_position_idx" ON "notifications"."notifications" USING btree ("user_id","position") WHERE "notifications"."notifications"."read_at" is null;--> statement-breakpoint
CREATE INDEX "webhook_endpoints_merchant_idx" ON "notifications"."webhook_endpoints" USING btree ("merchant_id","created_at");