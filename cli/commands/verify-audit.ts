/**
 * `offboard verify-audit`: recomputes the hash chain of the audit trail (`AuditEvent`) straight from the
 * database and names the first row where it breaks. For auditors: it needs only read access to the
 * database (DATABASE_URL), not the API.
 *
 * Rows are read in chain order (`seq`) in batches by keyset (`seq > last`), each batch its own short
 * query, so millions of rows stream through with memory that does not grow with them (one entry per
 * completion certificate is kept) and no long transaction holds the database (PGlite serves one
 * transaction at a time). Every row's hash is recomputed here from the columns'
 * raw text with the reference implementation in lib/db.ts (the serialization is documented there), not
 * with the database's own functions. Checked for each row, in this order: its link (`prevHash` equals
 * the previous row's hash, 64 zeros for the first), its position (`seq` is the previous one + 1), its
 * hash, and, when a completion certificate recorded the chain head at this position, that the hash is
 * the one the certificate carries. A chain that ends before a position a certificate recorded was cut.
 */
import { Command } from 'commander';
import pg from 'pg';
import { AUDIT_CHAIN_GENESIS, auditRowHash, auditTimestamp, type AuditChainRow } from '../../lib/db';
import { intIn, jsonOption } from '../lib/common';
import { CliError, EXIT } from '../lib/exit';
import { colourWord, printJson, println } from '../lib/output';

export type Mismatch = 'link' | 'sequence' | 'hash' | 'certificate';

export interface ChainRowRef {
  seq: string;
  id: string;
  at: string;
  action: string;
  hash: string;
}

export interface VerifyAuditResult {
  intact: boolean;
  /** Rows whose link, position and hash were verified (the broken row not counted). */
  rows: number;
  /** The newest verified row: the chain head when intact, the last good row when broken. */
  head: ChainRowRef | null;
  /** Completion certificates whose recorded chain head was compared with the chain. */
  certificates: { checked: number; skipped: string | null };
  broken: {
    /** The row (null fields when the chain ends before the position a certificate recorded). */
    seq: string;
    id: string | null;
    at: string | null;
    action: string | null;
    mismatch: Mismatch;
    expected: string;
    found: string;
    message: string;
  } | null;
}

interface Anchor {
  documentId: string;
  departureId: string;
  hash: string;
}

interface RawRow extends AuditChainRow {
  hash: string;
}

const short = (h: string) => (h.length > 16 ? `${h.slice(0, 16)}…` : h);

/** Certificates' recorded chain heads by seq; null (and why) when the table cannot be read. */
async function loadAnchors(
  client: pg.ClientBase,
): Promise<{ anchors: Map<string, Anchor[]>; skipped: string | null }> {
  const anchors = new Map<string, Anchor[]>();
  try {
    const { rows } = await client.query<{ id: string; departureId: string; seq: string; hash: string }>(
      `SELECT d.id, d."departureId", d.meta->>'auditChainSeq' AS seq, d.meta->>'auditChainHead' AS hash
         FROM "Document" d
        WHERE d.type = 'completion_certificate' AND d.meta->>'auditChainSeq' IS NOT NULL
          AND d.meta->>'auditChainHead' IS NOT NULL`,
    );
    for (const r of rows) {
      const list = anchors.get(r.seq) ?? [];
      list.push({ documentId: r.id, departureId: r.departureId, hash: r.hash });
      anchors.set(r.seq, list);
    }
    return { anchors, skipped: null };
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === '42501' || code === '42P01' || code === '42703')
      return { anchors, skipped: `certificates not read: ${(e as Error).message}` };
    throw e;
  }
}

/**
 * Verifies the chain through `client` (a connected pg client or pool). `onProgress` is called after
 * every batch with the number of rows verified so far.
 */
export async function verifyAuditChain(
  client: pg.ClientBase,
  opts: { batchSize?: number; onProgress?: (rows: number) => void } = {},
): Promise<VerifyAuditResult> {
  const batchSize = opts.batchSize ?? 5000;
  const { anchors, skipped } = await loadAnchors(client);
  const result: VerifyAuditResult = {
    intact: true,
    rows: 0,
    head: null,
    certificates: { checked: 0, skipped },
    broken: null,
  };
  let expectedSeq = 1n;
  let prevHash = AUDIT_CHAIN_GENESIS;
  // The lowest bigint: rows with a seq of 0 or below (written with the trigger disabled) are read too.
  let after = '-9223372036854775808';
  const fail = (
    r: RawRow | null,
    b: Omit<NonNullable<VerifyAuditResult['broken']>, 'id' | 'at' | 'action'>,
  ) => {
    result.intact = false;
    result.broken = { ...b, id: r?.id ?? null, at: r?.at ?? null, action: r?.action ?? null };
    return result;
  };
  for (;;) {
    // to_char, not ::text: the text form of a timestamp depends on the session's DateStyle.
    const { rows } = await client.query<RawRow>({
      text: `SELECT e.seq::text AS seq, e.id::text AS id,
                    to_char(e.at, 'YYYY-MM-DD HH24:MI:SS.US') AS at,
                    to_char(e."createdAt", 'YYYY-MM-DD HH24:MI:SS.US') AS "createdAt",
                    e.actor, e.action, e."departureId", e.details::text AS details, e."prevHash", e.hash
               FROM "AuditEvent" e
              WHERE e.seq > $1::bigint
              ORDER BY e.seq
              LIMIT $2`,
      values: [after, batchSize],
    });
    for (const raw of rows) {
      const r: RawRow = { ...raw, at: auditTimestamp(raw.at), createdAt: auditTimestamp(raw.createdAt) };
      const seq = BigInt(r.seq);
      if (r.prevHash !== prevHash) {
        const gap =
          seq > expectedSeq
            ? ` seq jumps from ${expectedSeq - 1n} to ${seq}: ${seq - expectedSeq} row(s) missing before it.`
            : '';
        return fail(r, {
          seq: r.seq,
          mismatch: 'link',
          expected: prevHash,
          found: r.prevHash,
          message:
            (expectedSeq === 1n
              ? `it should be the first row and link to ${short(AUDIT_CHAIN_GENESIS)}`
              : `its link (prevHash ${short(r.prevHash)}) is not the hash of the row before it (seq ${expectedSeq - 1n}: ${short(prevHash)})`) +
            `.${gap}`,
        });
      }
      if (seq !== expectedSeq)
        return fail(r, {
          seq: r.seq,
          mismatch: 'sequence',
          expected: String(expectedSeq),
          found: r.seq,
          message:
            seq > expectedSeq
              ? `seq ${r.seq} follows seq ${expectedSeq - 1n}: ${seq - expectedSeq} row(s) missing (the links were rewritten to hide it).`
              : `seq ${r.seq} where ${expectedSeq} was expected.`,
        });
      const recomputed = auditRowHash(r);
      if (recomputed !== r.hash)
        return fail(r, {
          seq: r.seq,
          mismatch: 'hash',
          expected: recomputed,
          found: r.hash,
          message: `its content does not match its hash (stored ${short(r.hash)}, recomputed ${short(recomputed)}): the row was changed after it was written.`,
        });
      for (const a of anchors.get(r.seq) ?? []) {
        if (a.hash !== r.hash)
          return fail(r, {
            seq: r.seq,
            mismatch: 'certificate',
            expected: a.hash,
            found: r.hash,
            message: `completion certificate ${a.documentId} (departure ${a.departureId}) recorded hash ${short(a.hash)} for this position, the chain has ${short(r.hash)}: the chain was rewritten up to here after the certificate was issued.`,
          });
        result.certificates.checked++;
      }
      result.rows++;
      result.head = { seq: r.seq, id: r.id, at: r.at, action: r.action, hash: r.hash };
      prevHash = r.hash;
      expectedSeq = seq + 1n;
      after = r.seq;
    }
    opts.onProgress?.(result.rows);
    if (rows.length < batchSize) break;
  }
  // Positions beyond the end that a certificate saw: the newest rows were removed.
  let beyond: [bigint, Anchor] | null = null;
  for (const [seq, list] of anchors) {
    const s = BigInt(seq);
    if (s >= expectedSeq && (!beyond || s < beyond[0])) beyond = [s, list[0]!];
  }
  if (beyond)
    return fail(null, {
      seq: String(beyond[0]),
      mismatch: 'certificate',
      expected: beyond[1].hash,
      found: '(no such row)',
      message: `the chain ends at seq ${expectedSeq - 1n} but completion certificate ${beyond[1].documentId} (departure ${beyond[1].departureId}) recorded seq ${beyond[0]}: rows were removed from the end.`,
    });
  return result;
}

/** pg's connection string parser ignores Prisma's `schema` parameter: honour it with search_path. */
function clientFor(url: string): { client: pg.Client; schema: string | null } {
  let schema: string | null = null;
  try {
    schema = new URL(url).searchParams.get('schema');
  } catch {
    throw new CliError(EXIT.usage, 'DATABASE_URL is not a URL (postgresql://user:password@host:port/db)');
  }
  return { client: new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 }), schema };
}

function cliErrorFor(e: unknown): CliError | null {
  const err = e as { code?: string; message?: string };
  const msg = err.message ?? String(e);
  switch (err.code) {
    case '42P01':
    case '42703':
      return new CliError(
        EXIT.refused,
        `no hash-chained audit trail in this database (${msg}): is it Offboard's, with every migration applied?`,
      );
    case '42501':
    case '28P01':
    case '28000':
    case '3D000':
      return new CliError(EXIT.refused, `the database refused: ${msg}`);
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'ETIMEDOUT':
    case 'ECONNRESET':
    case 'EHOSTUNREACH':
      return new CliError(EXIT.unavailable, `database unreachable: ${msg}`);
  }
  if (/timeout|terminated unexpectedly|Connection terminated/i.test(msg))
    return new CliError(EXIT.unavailable, `database unreachable: ${msg}`);
  return null;
}

interface VerifyAuditOptions {
  databaseUrl?: string;
  batchSize: number;
  json?: boolean;
}

export function verifyAuditCommand(): Command {
  const cmd = new Command('verify-audit')
    .summary("recompute the audit trail's hash chain from the database; name the first broken row")
    .description(
      'Read every row of the audit trail in chain order (in batches, any number of rows), recompute ' +
        "each row's SHA-256 over its canonical serialization (documented in lib/db.ts) and check that it " +
        'links to the row before it. Also compares the chain head each completion certificate recorded ' +
        'when it was issued. Prints the chain head and the row count when the chain is intact; otherwise ' +
        'the first broken row (seq, id, time, action) and what does not match: its hash (the row was ' +
        'changed), its link to the previous row (a row before it was removed or changed), its position ' +
        '(rows missing) or a certificate (the chain was rewritten or cut after the certificate). ' +
        'Needs only read access to the database (DATABASE_URL or --database-url), not the API.',
    )
    .option('--database-url <url>', 'PostgreSQL URL with read access (env DATABASE_URL)')
    .option('--batch-size <n>', 'rows per query', intIn(1, 100_000), 5000);
  jsonOption(cmd);
  cmd.addHelpText(
    'after',
    '\nExit codes: 0 the chain is intact; 1 it is broken (the first broken row is named);\n' +
      '3 refused: no chained audit table, or access denied; 64 usage (no DATABASE_URL);\n' +
      '69 the database could not be reached.',
  );
  cmd.action(async (opts: VerifyAuditOptions) => {
    const url = opts.databaseUrl ?? process.env.DATABASE_URL;
    if (!url) throw new CliError(EXIT.usage, 'no database: set DATABASE_URL or pass --database-url');
    const { client, schema } = clientFor(url);
    client.on('error', () => undefined);
    const progress = !opts.json && !!process.stderr.isTTY;
    let result: VerifyAuditResult;
    try {
      await client.connect();
      if (schema) await client.query(`SELECT set_config('search_path', $1, false)`, [schema]);
      let lastShown = 0;
      result = await verifyAuditChain(client, {
        batchSize: opts.batchSize,
        onProgress: progress
          ? (n) => {
              if (Date.now() - lastShown < 500) return;
              lastShown = Date.now();
              process.stderr.write(`\rverified ${n} rows…`);
            }
          : undefined,
      });
      if (progress && lastShown) process.stderr.write('\r\u001b[K');
    } catch (e) {
      throw cliErrorFor(e) ?? e;
    } finally {
      await client.end().catch(() => undefined);
    }
    if (opts.json) printJson(result);
    else if (result.intact) {
      println(
        `${colourWord('intact', 'green')}: ${result.rows} rows, every hash and link verified` +
          (result.certificates.checked ? `, ${result.certificates.checked} certificate head(s) matched` : ''),
      );
      if (result.head)
        println(
          `chain head: seq ${result.head.seq}  hash ${result.head.hash}\n` +
            `            id ${result.head.id}, ${result.head.at}, ${result.head.action}`,
        );
      else println(`chain head: (empty trail) ${AUDIT_CHAIN_GENESIS}`);
      if (result.certificates.skipped) println(result.certificates.skipped);
    } else {
      const b = result.broken!;
      println(
        `${colourWord('BROKEN', 'red')} at seq ${b.seq}` +
          (b.id ? ` (id ${b.id}, ${b.at}, ${b.action})` : '') +
          `: ${b.mismatch} mismatch`,
      );
      println(`  ${b.message}`);
      println(`  expected ${b.expected}\n  found    ${b.found}`);
      println(
        result.head
          ? `${result.rows} row(s) before it verified; last good: seq ${result.head.seq}  hash ${result.head.hash}`
          : 'no row before it verified',
      );
    }
    process.exitCode = result.intact ? EXIT.ok : EXIT.finding;
  });
  return cmd;
}
