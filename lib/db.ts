/**
 * The Prisma client, Rust-free, over the `pg` driver adapter (works with PostgreSQL and PGlite's socket).
 */
import { createHash } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import { Prisma, PrismaClient, type Departure } from '@prisma/client';
import pg from 'pg';

/**
 * The Prisma client plus the `pg` pool it runs on. `pool` is for the few hot-path statements where the
 * client's own cost dominates (`npm run bench -- db`: about 2 ms of CPU per client statement, 0.6 ms
 * per `$executeRaw`, 0.15 ms through `pg`); see `sql`. Everything else goes through the client.
 */
export type Db = PrismaClient & { readonly pool: pg.Pool };
export { Prisma };

/** Pools whose `sql`/`rows` statements are prepared (createDb's `preparedStatements`). */
const preparing = new WeakSet<pg.Pool>();

/** Statement names by text: one name per distinct statement, the same in every connection. */
const statementNames = new Map<string, string>();
/** Beyond this many distinct texts (text built at run time?) statements run unnamed, as before. */
const MAX_PREPARED = 500;

/**
 * The name `text` runs under as a prepared statement, or undefined (unnamed: parsed and planned at
 * every execution). `pg` parses a named statement once per connection and then only binds and runs
 * it; PostgreSQL keeps its plan. `npm run bench -- db` measures the revocation path's statements both
 * ways (2026-11-27, PostgreSQL's CPU per statement: a step's attempt 650-740 µs unnamed, 140-150
 * prepared; its pace booking 280-370 against 110-130; its confirmation with the chained audit row
 * 610-730 against 420). In a layoff: docs/runbook.md, "Prepared statements and connection poolers".
 */
function statementName(db: Pick<Db, 'pool'>, text: string): string | undefined {
  if (!preparing.has(db.pool)) return undefined;
  let name = statementNames.get(text);
  if (name === undefined && statementNames.size < MAX_PREPARED) {
    name = `offboard_${statementNames.size + 1}`;
    statementNames.set(text, name);
  }
  return name;
}

/**
 * Opens a Prisma client (and its pool) for `connectionString`. The caller owns `$disconnect()`.
 * `preparedStatements` (default true; DATABASE_PREPARED_STATEMENTS): `sql` and `rows` prepare their
 * statements. Off for PGlite's socket, whose connections share one session (a second connection
 * preparing the same name fails with "prepared statement ... already exists").
 */
export function createDb(
  connectionString: string,
  opts: { max?: number; preparedStatements?: boolean } = {},
): Db {
  const pool = new pg.Pool({ connectionString, max: opts.max ?? 10, connectionTimeoutMillis: 5_000 });
  if (opts.preparedStatements ?? true) preparing.add(pool);
  // An idle connection dropped by the server (restart, crash) must not crash the process; the next
  // query opens a new one.
  pool.on('error', () => undefined);
  const client = new PrismaClient({ adapter: new PrismaPg(pool) });
  const disconnect = client.$disconnect.bind(client);
  let ended: Promise<void> | null = null;
  return Object.assign(client, {
    pool,
    /** Disconnects the client, then ends the pool (the adapter leaves a pool it did not open alone). */
    $disconnect: () => (ended ??= disconnect().then(() => pool.end())),
  });
}

/**
 * Runs one raw statement on the pool. Parameters are `pg`'s: pass timestamps as `toISOString()` text
 * (a `timestamp` column takes its UTC wall time; `pg` would send a `Date` in this process's time zone)
 * and JSON as text with a `::jsonb` cast. Errors are `pg`'s (`code` is PostgreSQL's SQLSTATE).
 */
export async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(
  db: Pick<Db, 'pool'>,
  text: string,
  params: unknown[] = [],
): Promise<pg.QueryResult<R>> {
  return db.pool.query<R>({ name: statementName(db, text), text, values: params });
}

/**
 * `pg` reads a `timestamp` (without time zone) in this process's time zone; the columns hold UTC wall
 * time (Prisma's convention), so rows read through `rows` parse them as UTC, as the client does.
 */
const UTC_TIMESTAMPS = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.TIMESTAMP && format !== 'binary')
      return (v: string) => new Date(`${v.replace(' ', 'T')}Z`);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/** Runs one raw query on the pool and returns its rows, `timestamp` columns as `Date`s (see `sql`). */
export async function rows<R extends pg.QueryResultRow>(
  db: Pick<Db, 'pool'>,
  text: string,
  params: unknown[] = [],
): Promise<R[]> {
  const r = await db.pool.query<R>({
    name: statementName(db, text),
    text,
    values: params,
    types: UTC_TIMESTAMPS,
  });
  return r.rows;
}

/**
 * One departure row as the client returns it (`Prisma.Departure`), in one `pg` round trip: every
 * offboarding activity starts by reading it (about 2 ms of worker CPU through the client).
 */
export async function findDeparture(db: Pick<Db, 'pool'>, id: string): Promise<Departure | null> {
  const [d] = await rows<Departure>(db, 'SELECT * FROM "Departure" WHERE id = $1', [id]);
  return d ?? null;
}

/**
 * True when `e` says the database cannot be reached right now (refused or dropped connection, server
 * starting up or shutting down, no pool connection in time), as opposed to a query it refused.
 */
export function isDatabaseUnavailable(e: unknown): boolean {
  if (e instanceof Prisma.PrismaClientInitializationError) return true;
  if (
    e instanceof Prisma.PrismaClientKnownRequestError &&
    ['P1001', 'P1002', 'P1008', 'P1017', 'P2024'].includes(e.code)
  )
    return true;
  const message = e instanceof Error ? e.message : String(e);
  return /Can't reach database server|Connection terminated|ECONNREFUSED|ECONNRESET|timeout exceeded when trying to connect|the database system is (starting up|shutting down|in recovery mode)|terminating connection due to administrator command|Server has closed the connection/i.test(
    message,
  );
}

/** True when `e` is a unique-constraint violation (Prisma P2002, or SQLSTATE 23505 from `sql`). */
export function isUniqueViolation(e: unknown): boolean {
  if (e instanceof Prisma.PrismaClientKnownRequestError) return e.code === 'P2002';
  return e instanceof pg.DatabaseError && e.code === '23505';
}

/**
 * Appends one row to the append-only, hash-chained audit trail. Works the same with the client and with
 * a transaction client (`tx` inside `$transaction`).
 *
 * The chain is built by the database, not here: the BEFORE INSERT trigger `AuditEvent_chain`
 * (migration 20261127100000_audit_chain) takes a transaction-level advisory lock, reads the newest row
 * and sets `seq`, `prevHash` and `hash` on the new one. Chosen over computing the hash here because
 * (1) an append stays one INSERT, one round trip, where the client-side way needs lock + read + insert
 * in a transaction of its own (four or five round trips, with the lock held across them); (2) every
 * writer is chained, whatever client it uses, and cannot pick its own hash; (3) the lock is taken in
 * the writer's own transaction, so a row inserted by a transaction that rolls back leaves no gap.
 * The lock is held until the inserting transaction ends: inside a longer `$transaction`, call `audit()`
 * last, so other appends wait as little as possible and the holder waits for no row lock afterwards
 * (which could deadlock with a transaction that holds that row and waits to append). PGlite (the
 * embedded setup) runs one transaction at a time anyway: the lock never waits there.
 *
 * Cost (2-core machine, PostgreSQL 15 configured as in the tests, medians of noisy runs): about 50 us
 * of server time per row and 0.15 ms more for a lone INSERT; since appends are serialized, raw
 * concurrent INSERTs (16 connections) drop from about 8,000/s to 2,300/s, and to 1,000/s when each sits
 * in a short transaction. Through this function Prisma's own overhead dominates: about 1,100 appends/s
 * from 16 concurrent callers, before and after. With `synchronous_commit = on` the lock is also held
 * through each commit's WAL flush, which then bounds the append rate; measure on the production disk.
 */
export async function audit(
  db: Pick<Db, 'auditEvent'>,
  entry: { actor: string; action: string; departureId?: string | null; details?: Prisma.InputJsonValue },
): Promise<void> {
  await db.auditEvent.create({
    data: {
      actor: entry.actor,
      action: entry.action,
      departureId: entry.departureId ?? null,
      details: entry.details ?? Prisma.JsonNull,
    },
    select: { id: true },
  });
}

/**
 * Appends an audit row unless the departure already has one with this action (and, when `key` is given,
 * with that value at `details.<field>`): what an activity repeated after a crash must not write twice.
 * One statement on the `pg` pool; through the Prisma client it was a find and a create (two round trips,
 * about 4 ms of worker CPU). `at`/`createdAt` from this process's clock as UTC wall time, as the client
 * writes them; the chain trigger sets `seq`, `prevHash` and `hash`. Two concurrent first calls can both
 * append, as with the find-then-create before.
 */
export async function auditOnce(
  db: Pick<Db, 'pool'>,
  entry: { actor: string; action: string; departureId: string; details: Record<string, unknown> },
  key?: { field: string; value: string },
): Promise<void> {
  await sql(
    db,
    `INSERT INTO "AuditEvent" (at, "createdAt", actor, action, "departureId", details)
     SELECT $1::timestamp, $1::timestamp, $2, $3, $4, $5::jsonb
      WHERE NOT EXISTS (
        SELECT 1 FROM "AuditEvent"
         WHERE "departureId" = $4 AND action = $3 AND ($6::text IS NULL OR details ->> $6::text = $7::text))`,
    [
      new Date().toISOString(),
      entry.actor,
      entry.action,
      entry.departureId,
      JSON.stringify(entry.details),
      key?.field ?? null,
      key?.value ?? null,
    ],
  );
}

/** The newest row of the audit chain (its position and hash), or null while the trail is empty. */
export async function auditChainHead(
  db: Pick<Db, 'auditEvent'>,
): Promise<{ seq: bigint; hash: string } | null> {
  return db.auditEvent.findFirst({ orderBy: { seq: 'desc' }, select: { seq: true, hash: true } });
}

// ---------------------------------------------------------------- AUDIT CHAIN: the serialization

/**
 * `prevHash` of the first row of the chain (seq 1): 64 zeros.
 *
 * ## How a row's hash is computed (offboard audit chain, version 1)
 *
 * Rows are ordered by `seq` (1, 2, 3, ... without gaps; `id` is not the chain order). For the row at
 * `seq` n: `prevHash` is the `hash` of the row at n - 1 (this constant for n = 1), and
 *
 *     hash = lower-case hex SHA-256 of the UTF-8 bytes of C
 *
 * where C is one JSON object, without any whitespace, whose members are in exactly this order:
 *
 *     {"action":A,"actor":B,"at":T,"createdAt":U,"departureId":D,"details":J,"id":I,"prevHash":P,"seq":S}
 *
 * - A, B, D, P: the column as a JSON string (D is `null` when the column is NULL). Strings are escaped
 *   as PostgreSQL and `JSON.stringify` both do: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, every other
 *   character below U+0020 as `\u00xx` (lower-case hex), every other character as itself (UTF-8).
 * - T, U: `at` and `createdAt` (TIMESTAMP(3) without time zone, written in UTC) as the JSON string
 *   `"YYYY-MM-DDTHH:MM:SS.mmmZ"`, always three fraction digits (what `Date.prototype.toISOString` prints).
 * - J: the canonical JSON of `details`; when the column is SQL NULL the `"details":J` member is left
 *   out altogether (a JSON `null` stored in the column is written `"details":null`). Canonical JSON:
 *   no whitespace; object members sorted by key in Unicode code point order (= by the keys' UTF-8
 *   bytes); array elements in order; strings escaped as above (keys too); `true`, `false`, `null`;
 *   numbers exactly as PostgreSQL prints the stored jsonb number, digit for digit (`SELECT
 *   details::text`: e.g. `2.50` stays `2.50`, `1e3` was stored as `1000`). Do not re-format numbers
 *   through a floating-point parser.
 * - I, S: `id` and `seq` as JSON numbers (decimal integers).
 *
 * Worked example (test/audit-chain.test.ts checks it): the row seq 1, id 1, at = createdAt =
 * 2026-11-25 14:03:00, actor `hris`, action `departure_accepted`, departureId `dep_1`, details
 * `{"webhookId": "msg_1", "status": "terminated"}` serializes as (one line; prevHash is 64 zeros)
 *
 *     {"action":"departure_accepted","actor":"hris","at":"2026-11-25T14:03:00.000Z",
 *     "createdAt":"2026-11-25T14:03:00.000Z","departureId":"dep_1",
 *     "details":{"status":"terminated","webhookId":"msg_1"},"id":1,"prevHash":"0000…0000","seq":1}
 *
 * and its hash is 4b18b9f2d8240f24a8291beb449b9efbfe4251f93b81ac8906ae556d37201f16.
 *
 * The database computes it (`audit_event_hash` in the migration); `offboard verify-audit` recomputes
 * it with the functions below from the raw column text, independently of the database's functions.
 */
export const AUDIT_CHAIN_GENESIS = '0'.repeat(64);

/** One audit row as its columns' text, the way `offboard verify-audit` reads them. */
export interface AuditChainRow {
  seq: string;
  id: string;
  /** `YYYY-MM-DDTHH:MM:SS.mmmZ` (see `auditTimestamp` for PostgreSQL's text form). */
  at: string;
  createdAt: string;
  actor: string;
  action: string;
  departureId: string | null;
  /** The stored jsonb as PostgreSQL prints it (`details::text`); null when the column is SQL NULL. */
  details: string | null;
  prevHash: string;
}

/** C of the serialization above. */
export function auditCanonicalRow(r: AuditChainRow): string {
  return (
    `{"action":${JSON.stringify(r.action)},"actor":${JSON.stringify(r.actor)}` +
    `,"at":${JSON.stringify(r.at)},"createdAt":${JSON.stringify(r.createdAt)}` +
    `,"departureId":${r.departureId === null ? 'null' : JSON.stringify(r.departureId)}` +
    (r.details === null ? '' : `,"details":${canonicalJson(r.details)}`) +
    `,"id":${r.id},"prevHash":${JSON.stringify(r.prevHash)},"seq":${r.seq}}`
  );
}

/** The row's hash: hex SHA-256 of `auditCanonicalRow`. */
export function auditRowHash(r: AuditChainRow): string {
  return createHash('sha256').update(auditCanonicalRow(r), 'utf8').digest('hex');
}

/**
 * A TIMESTAMP as PostgreSQL prints it with DateStyle ISO (`2026-11-25 14:03:00.12`, fraction digits
 * trimmed) in the chain's form `2026-11-25T14:03:00.120Z`. Text it cannot read is returned unchanged
 * (so the row's hash will not match, and the verifier reports it).
 */
export function auditTimestamp(pgText: string): string {
  const m = /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?$/.exec(pgText);
  if (!m) return pgText;
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${(m[7] ?? '').padEnd(3, '0').slice(0, 3)}Z`;
}

const byCodePoint = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
const SCALAR = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;

/**
 * Canonical JSON (see above) of a JSON text, keeping every number's digits as written. Throws on text
 * that is not JSON.
 */
export function canonicalJson(text: string): string {
  let i = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`canonicalJson: ${what} at offset ${i}`);
  };
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\t' || text[i] === '\r'))
      i++;
  };
  const expect = (c: string) => {
    ws();
    if (text[i] !== c) fail(`expected ${c}`);
    i++;
  };
  const string = (): string => {
    const start = i++;
    while (text[i] !== '"') {
      if (i >= text.length) fail('unterminated string');
      i += text[i] === '\\' ? 2 : 1;
    }
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (): string => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const members: [string, string][] = [];
      ws();
      if (text[i] === '}') i++;
      else
        for (;;) {
          ws();
          if (text[i] !== '"') fail('expected a key');
          const key = string();
          expect(':');
          members.push([key, value()]);
          ws();
          if (text[i] === ',') i++;
          else {
            expect('}');
            break;
          }
        }
      members.sort(([a], [b]) => byCodePoint(a, b));
      return `{${members.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
    }
    if (c === '[') {
      i++;
      const items: string[] = [];
      ws();
      if (text[i] === ']') i++;
      else
        for (;;) {
          items.push(value());
          ws();
          if (text[i] === ',') i++;
          else {
            expect(']');
            break;
          }
        }
      return `[${items.join(',')}]`;
    }
    if (c === '"') return JSON.stringify(string());
    SCALAR.lastIndex = i;
    const m = SCALAR.exec(text);
    if (!m) return fail('unexpected character');
    i += m[0].length;
    return m[0];
  };
  const out = value();
  ws();
  if (i !== text.length) fail('trailing text');
  return out;
}
