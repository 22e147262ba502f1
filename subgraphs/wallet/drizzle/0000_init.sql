CREATE SCHEMA "wallet";
--> statement-breakpoint
CREATE TABLE "wallet"."wallets" (
	"id" text PRIMARY KEY NOT NULL,
	"user_id" text NOT NULL,
	"currency" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "wallets_user_currency_unique" ON "wallet"."wallets" USING btree ("user_id","currency");