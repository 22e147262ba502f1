CREATE SCHEMA "ledger";
--> statement-breakpoint
CREATE TABLE "ledger"."accounts" (
	"id" text PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"owner_id" text NOT NULL,
	"currency" text NOT NULL,
	"guarded" boolean NOT NULL,
	"posted_debits" bigint DEFAULT 0 NOT NULL,
	"posted_credits" bigint DEFAULT 0 NOT NULL,
	"pending_debits" bigint DEFAULT 0 NOT NULL,
	"pending_credits" bigint DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "accounts_guard" CHECK (not "ledger"."accounts"."guarded" or "ledger"."accounts"."posted_credits" - "ledger"."accounts"."posted_debits" - "ledger"."accounts"."pending_debits" >= 0),
	CONSTRAINT "accounts_totals_non_negative" CHECK ("ledger"."accounts"."posted_debits" >= 0 and "ledger"."accounts"."posted_credits" >= 0 and "ledger"."accounts"."pending_debits" >= 0 and "ledger"."accounts"."pending_credits" >= 0)
);
--> statement-breakpoint
CREATE TABLE "ledger"."chain_head" (
	"id" integer PRIMARY KEY NOT NULL,
	"sequence" bigint NOT NULL,
	"hash" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ledger"."entries" (
	"id" text PRIMARY KEY NOT NULL,
	"position" bigserial NOT NULL,
	"transaction_id" text NOT NULL,
	"account_id" text NOT NULL,
	"direction" text NOT NULL,
	"amount" bigint NOT NULL,
	"currency" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "entries_amount_positive" CHECK ("ledger"."entries"."amount" > 0)
);
--> statement-breakpoint
CREATE TABLE "ledger"."holds" (
	"id" text PRIMARY KEY NOT NULL,
	"idempotency_key" text NOT NULL,
	"request_hash" text NOT NULL,
	"debit_account_id" text NOT NULL,
	"credit_account_id" text NOT NULL,
	"amount" bigint NOT NULL,
	"currency" text NOT NULL,
	"status" text NOT NULL,
	"captured_amount" bigint,
	"capture_transaction_id" text,
	"capture_idempotency_key" text,
	"description" text,
	"expires_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "holds_amount_positive" CHECK ("ledger"."holds"."amount" > 0)
);
--> statement-breakpoint
CREATE TABLE "ledger"."transactions" (
	"id" text PRIMARY KEY NOT NULL,
	"idempotency_key" text NOT NULL,
	"request_hash" text NOT NULL,
	"kind" text NOT NULL,
	"hold_id" text,
	"description" text,
	"sequence" bigint,
	"hash" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "accounts_owner_kind_currency_unique" ON "ledger"."accounts" USING btree ("owner_id","kind","currency");--> statement-breakpoint
CREATE INDEX "entries_account_position_idx" ON "ledger"."entries" USING btree ("account_id","position");--> statement-breakpoint
CREATE INDEX "entries_transaction_idx" ON "ledger"."entries" USING btree ("transaction_id");--> statement-breakpoint
CREATE UNIQUE INDEX "holds_idempotency_key_unique" ON "ledger"."holds" USING btree ("idempotency_key");--> statement-breakpoint
CREATE INDEX "holds_pending_expiry_idx" ON "ledger"."holds" USING btree ("expires_at") WHERE "ledger"."holds"."status" = 'PENDING';--> statement-breakpoint
CREATE UNIQUE INDEX "transactions_idempotency_key_unique" ON "ledger"."transactions" USING btree ("idempotency_key");--> statement-breakpoint
CREATE UNIQUE INDEX "transactions_sequence_unique" ON "ledger"."transactions" USING btree ("sequence");--> statement-breakpoint
INSERT INTO "ledger"."chain_head" ("id", "sequence", "hash") VALUES (1, 0, repeat('0', 64));
