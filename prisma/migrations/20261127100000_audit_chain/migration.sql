-- Tamper-evident audit trail: every AuditEvent row carries its position in one chain (`seq`), the hash
-- of the row before it (`prevHash`) and its own hash (`hash`, hex SHA-256 over the row's canonical
-- serialization, prevHash included). The exact serialization is documented in lib/db.ts (AUDIT CHAIN)
-- and re-implemented independently by `offboard verify-audit` (cli/commands/verify-audit.ts).
--
-- The hash is computed here, in a BEFORE INSERT trigger, not by the application: every writer (workers,
-- the API, inside or outside a transaction, psql) is chained and cannot choose its own seq or hash, and
-- an append costs no extra round trip. Appends are serialized by a transaction-level advisory lock taken
-- in the trigger (held until the inserting transaction ends), so two writers never link to the same
-- previous row, and the UNIQUE index on seq makes a fork impossible even if that lock were bypassed
-- (e.g. a REPEATABLE READ transaction whose snapshot missed the newest row fails instead of forking).
--
-- Generated part (`prisma migrate diff` from the previous schema to prisma/schema.prisma): the three
-- columns and the unique index on seq. They run inside the DO block at the end, together with the
-- chaining of the rows that already exist, so that the whole change is one transaction: the table is
-- locked, no row can be written between adding the columns and installing the trigger.
--
-- Written for the driver-adapter migration runner, which splits the script at every semicolon
-- (prisma/prisma#22495): function bodies use no semicolon (SQL functions) or spell it \073 in an
-- E-string (PL/pgSQL), as in the init migration. Works on PostgreSQL 11+ (sha256) and PGlite.

-- Canonical JSON of a jsonb value: objects with members sorted by key in code point order (COLLATE "C"
-- compares the UTF-8 bytes), no whitespace, strings escaped as PostgreSQL prints them, numbers
-- exactly as PostgreSQL prints the jsonb number. PL/pgSQL because it is about ten times faster here
-- than the same recursion as an SQL function (about 10-40 us for a typical details object).
CREATE FUNCTION "audit_canonical_json"(j jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS E'
DECLARE
  t text := jsonb_typeof(j)\073
  out text\073
  k text\073
  v jsonb\073
  first boolean := true\073
BEGIN
  IF t = ''object'' THEN
    out := ''{''\073
    FOR k, v IN SELECT m.key, m.value FROM jsonb_each(j) AS m ORDER BY m.key COLLATE "C" LOOP
      IF first THEN first := false\073 ELSE out := out || '',''\073 END IF\073
      out := out || to_jsonb(k)::text || '':''
        || CASE WHEN jsonb_typeof(v) IN (''object'', ''array'') THEN "audit_canonical_json"(v) ELSE v::text END\073
    END LOOP\073
    RETURN out || ''}''\073
  ELSIF t = ''array'' THEN
    out := ''[''\073
    FOR v IN SELECT a.value FROM jsonb_array_elements(j) WITH ORDINALITY AS a(value, n) ORDER BY a.n LOOP
      IF first THEN first := false\073 ELSE out := out || '',''\073 END IF\073
      out := out || CASE WHEN jsonb_typeof(v) IN (''object'', ''array'') THEN "audit_canonical_json"(v) ELSE v::text END\073
    END LOOP\073
    RETURN out || '']''\073
  END IF\073
  RETURN j::text\073
END';

-- The canonical serialization of one row (a JSON object with its members in key order, `details`
-- omitted when the column is SQL NULL) and its hash: lower-case hex SHA-256 of its UTF-8 bytes.
CREATE FUNCTION "audit_event_hash"(
  seq bigint, id bigint, at timestamp, created_at timestamp, actor text, action text,
  departure_id text, details jsonb, prev_hash text
) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT encode(sha256(convert_to(
    '{"action":' || to_jsonb(action)::text
    || ',"actor":' || to_jsonb(actor)::text
    || ',"at":"' || to_char(at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '"'
    || ',"createdAt":"' || to_char(created_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '"'
    || ',"departureId":' || coalesce(to_jsonb(departure_id)::text, 'null')
    || coalesce(',"details":' || "audit_canonical_json"(details), '')
    || ',"id":' || id::text
    || ',"prevHash":' || to_jsonb(prev_hash)::text
    || ',"seq":' || seq::text
    || '}', 'UTF8')), 'hex')
$$;

-- The chain trigger: lock, read the newest row, link to it. The lock key is 'OFFBOARD' in ASCII.
-- The SELECT runs after the lock is granted, so (READ COMMITTED) it sees the row of the transaction
-- that held the lock before. Values the writer sent for seq, prevHash and hash are overwritten.
CREATE FUNCTION "audit_event_chain"() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS E'
DECLARE
  last_seq bigint\073
  last_hash text\073
BEGIN
  PERFORM pg_advisory_xact_lock(5712330427977519684)\073
  SELECT e.seq, e.hash INTO last_seq, last_hash FROM "AuditEvent" e ORDER BY e.seq DESC LIMIT 1\073
  NEW.seq := coalesce(last_seq, 0) + 1\073
  NEW."prevHash" := coalesce(last_hash, repeat(''0'', 64))\073
  NEW.hash := "audit_event_hash"(NEW.seq, NEW.id, NEW.at, NEW."createdAt", NEW.actor, NEW.action,
    NEW."departureId", NEW.details, NEW."prevHash")\073
  RETURN NEW\073
END';

-- One transaction: lock the table, add the columns, chain the existing rows in id order (the
-- append-only trigger is disabled for this UPDATE only, inside the transaction), then the unique
-- index and the chain trigger. UPDATE and DELETE stay refused afterwards.
DO E'
DECLARE
  r record\073
  n bigint := 0\073
  prev text := repeat(''0'', 64)\073
  h text\073
BEGIN
  LOCK TABLE "AuditEvent" IN ACCESS EXCLUSIVE MODE\073

  ALTER TABLE "AuditEvent" ADD COLUMN     "hash" TEXT NOT NULL DEFAULT '''',
  ADD COLUMN     "prevHash" TEXT NOT NULL DEFAULT '''',
  ADD COLUMN     "seq" BIGINT NOT NULL DEFAULT 0\073

  ALTER TABLE "AuditEvent" DISABLE TRIGGER "AuditEvent_no_update_delete"\073
  FOR r IN SELECT * FROM "AuditEvent" ORDER BY id LOOP
    n := n + 1\073
    h := "audit_event_hash"(n, r.id, r.at, r."createdAt", r.actor, r.action, r."departureId", r.details, prev)\073
    UPDATE "AuditEvent" SET seq = n, "prevHash" = prev, hash = h WHERE id = r.id\073
    prev := h\073
  END LOOP\073
  ALTER TABLE "AuditEvent" ENABLE TRIGGER "AuditEvent_no_update_delete"\073

  CREATE UNIQUE INDEX "AuditEvent_seq_key" ON "AuditEvent"("seq")\073

  CREATE TRIGGER "AuditEvent_chain" BEFORE INSERT ON "AuditEvent"
    FOR EACH ROW EXECUTE FUNCTION "audit_event_chain"()\073
END';
