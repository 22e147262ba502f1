CREATE SCHEMA "users";
--> statement-breakpoint
CREATE TYPE "users"."user_role" AS ENUM('BUYER', 'MERCHANT', 'ADMIN');--> statement-breakpoint
CREATE TABLE "users"."users" (
	"id" text PRIMARY KEY NOT NULL,
	"email" text NOT NULL,
	"name" text NOT NULL,
	"role" "users"."user_role" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "users_email_unique" ON "users"."users" USING btree ("email");