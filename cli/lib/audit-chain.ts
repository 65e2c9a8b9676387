/**
 * The verifier behind `offboard verify-audit` (cli/commands/verify-audit.ts): recomputes the hash chain
 * of the audit trail (`AuditEvent`) straight from the database and names the first row where it breaks.
 *
 * Rows are read in chain order (`seq`) in batches by keyset (`seq > last`), each batch its own short
 * query, so millions of rows stream through with memory that does not grow with them (one entry per
 * completion certificate and per export is kept) and no long transaction holds the database (PGlite
 * serves one transaction at a time). Every row's hash is recomputed here from the columns' raw text with
 * the reference implementation in lib/db.ts (the serialization is documented there), not with the
 * database's own functions. Checked for each row, in this order: its link (`prevHash` equals the
 * previous row's hash, 64 zeros for the first), its position (`seq` is the previous one + 1), its hash,
 * and, where a completion certificate or an export outside the database (lib/audit-export.ts) recorded
 * the chain head at this position, that the hash is the one recorded there. A chain that ends before a
 * position a certificate or an export recorded was cut.
 */
import pg from 'pg';
import { AUDIT_CHAIN_GENESIS, auditRowHash, auditTimestamp, type AuditChainRow } from '../../lib/db';
import type { ExportProblem, ExportsReading } from './audit-exports';

export type Mismatch = 'link' | 'sequence' | 'hash' | 'certificate' | 'export';

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
  /**
   * The exports outside the database (`--exports`), null when none were given: files found, heads
   * compared with the chain (valid signed exports only), the newest, and every problem with the files.
   */
  exports: {
    dir: string;
    files: number;
    checked: number;
    newest: { file: string; sequence: number; exportedAt: string; seq: string | null } | null;
    problems: ExportProblem[];
  } | null;
  broken: {
    /** The row (null fields when the chain ends before the position a certificate or export recorded). */
    seq: string;
    id: string | null;
    at: string | null;
    action: string | null;
    mismatch: Mismatch;
    expected: string;
    found: string;
    /** The certificate (document id) or export (file name) the chain contradicts; null for a row's own break. */
    evidence: string | null;
    message: string;
  } | null;
}

/** A chain head recorded outside the chain: by a completion certificate or by an export. */
interface Anchor {
  kind: 'certificate' | 'export';
  /** Document id or file name. */
  evidence: string;
  /** How messages name it. */
  what: string;
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
      list.push({
        kind: 'certificate',
        evidence: r.id,
        what: `completion certificate ${r.id} (departure ${r.departureId})`,
        hash: r.hash,
      });
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

/** Adds the valid exports' heads (in sequence order, so the first export at a position is named first). */
function addExportAnchors(anchors: Map<string, Anchor[]>, exports: ExportsReading): void {
  for (const e of exports.exports) {
    if (!e.head) continue;
    const list = anchors.get(e.head.seq) ?? [];
    list.push({ kind: 'export', evidence: e.file, what: `export ${e.file}`, hash: e.head.hash });
    anchors.set(e.head.seq, list);
  }
}

const REWRITTEN = {
  certificate: 'after the certificate was issued',
  export: 'after the export was written',
};

/**
 * Verifies the chain through `client` (a connected pg client or pool), against the certificates' heads
 * and `exports` (read and checked by `readAuditExports`). `onProgress` is called after every batch with
 * the number of rows verified so far.
 */
export async function verifyAuditChain(
  client: pg.ClientBase,
  opts: { batchSize?: number; onProgress?: (rows: number) => void; exports?: ExportsReading } = {},
): Promise<VerifyAuditResult> {
  const batchSize = opts.batchSize ?? 5000;
  const { anchors, skipped } = await loadAnchors(client);
  if (opts.exports) addExportAnchors(anchors, opts.exports);
  const newest = opts.exports?.exports.at(-1);
  const result: VerifyAuditResult = {
    intact: true,
    rows: 0,
    head: null,
    certificates: { checked: 0, skipped },
    exports: opts.exports
      ? {
          dir: opts.exports.dir,
          files: opts.exports.files,
          checked: 0,
          newest: newest
            ? {
                file: newest.file,
                sequence: newest.sequence,
                exportedAt: newest.exportedAt,
                seq: newest.head?.seq ?? null,
              }
            : null,
          problems: opts.exports.problems,
        }
      : null,
    broken: null,
  };
  let expectedSeq = 1n;
  let prevHash = AUDIT_CHAIN_GENESIS;
  // The lowest bigint: rows with a seq of 0 or below (written with the trigger disabled) are read too.
  let after = '-9223372036854775808';
  const fail = (
    r: RawRow | null,
    b: Omit<NonNullable<VerifyAuditResult['broken']>, 'id' | 'at' | 'action' | 'evidence'> & {
      evidence?: string;
    },
  ) => {
    result.intact = false;
    result.broken = {
      ...b,
      id: r?.id ?? null,
      at: r?.at ?? null,
      action: r?.action ?? null,
      evidence: b.evidence ?? null,
    };
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
            mismatch: a.kind,
            expected: a.hash,
            found: r.hash,
            evidence: a.evidence,
            message: `${a.what} recorded hash ${short(a.hash)} for this position, the chain has ${short(r.hash)}: the chain was rewritten up to here ${REWRITTEN[a.kind]}.`,
          });
        if (a.kind === 'certificate') result.certificates.checked++;
        else result.exports!.checked++;
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
  // Positions beyond the end that a certificate or an export saw: the newest rows were removed.
  let beyond: [bigint, Anchor] | null = null;
  for (const [seq, list] of anchors) {
    const s = BigInt(seq);
    if (s >= expectedSeq && (!beyond || s < beyond[0])) beyond = [s, list[0]!];
  }
  if (beyond)
    return fail(null, {
      seq: String(beyond[0]),
      mismatch: beyond[1].kind,
      expected: beyond[1].hash,
      found: '(no such row)',
      evidence: beyond[1].evidence,
      message: `the chain ends at seq ${expectedSeq - 1n} but ${beyond[1].what} recorded seq ${beyond[0]}: rows were removed from the end.`,
    });
  return result;
}
