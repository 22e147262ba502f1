-- The audit trail is append-only: rows can be inserted, never changed or removed (a superuser
-- would have to drop this trigger on purpose, which itself is visible in the database's logs).
CREATE FUNCTION "users"."audit_events_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'users.audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;--> statement-breakpoint
CREATE TRIGGER "audit_events_no_update_delete" BEFORE UPDATE OR DELETE ON "users"."audit_events" FOR EACH ROW EXECUTE FUNCTION "users"."audit_events_append_only"();--> statement-breakpoint
CREATE TRIGGER "audit_events_no_truncate" BEFORE TRUNCATE ON "users"."audit_events" FOR EACH STATEMENT EXECUTE FUNCTION "users"."audit_events_append_only"();
