/**
 * Audit evidence outside the database (docs/operations.md, "Audit evidence outside the database"): the
 * head of the hash-chained audit trail (lib/db.ts), exported on a Temporal schedule into files that
 * PostgreSQL's users cannot reach. A database superuser can rewrite rows and recompute every later hash,
 * so the chain verifies again; an exported head that no longer matches the chain is what shows it.
 *
 * ## The export file (format `offboard-audit-head/1`)
 *
 * One JSON object per file, never changed after it is written:
 *
 *     { "format": "offboard-audit-head/1", "sequence": 12, "exportedAt": "2026-12-08T10:00:00.123Z",
 *       "head": { "seq": "1234", "id": "1240", "hash": "<64 hex>" }, "rows": "1234",
 *       "keyId": "audit-1", "signature": "<base64>" }
 *
 * - `sequence`: 1, 2, 3, ... per export directory; `exportedAt`: when the head was read (UTC).
 * - `head`: the newest row of the chain (position `seq`, row `id`, its `hash`), null while the trail is
 *   empty; `rows`: the number of rows then (equal to `head.seq` for an intact chain). Database integers
 *   are decimal strings.
 * - `signature`: Ed25519 over the UTF-8 bytes of the canonical JSON (lib/db.ts `canonicalJson`: no
 *   whitespace, members sorted by key) of every other member, `keyId` included; `keyId` names the key so
 *   old exports still verify after a rotation. Without a signing key (outside production only) both are
 *   absent and `offboard verify-audit` reports the file as unsigned.
 *
 * File name: `audit-head-<YYYYMMDDTHHMMSSmmmZ>-<sequence, 8 digits>.json`, created exclusively (O_EXCL:
 * an existing file is never replaced), mode 0444, synced to disk before the export counts as done. An
 * export is written every time, also when the head did not move: a run of exports proves the export ran
 * (verify-audit `--max-age`), and each pins the chain at that moment.
 *
 * Keys: lib/audit-key.ts.
 */
import { sign, verify, type KeyObject } from 'node:crypto';
import { open, readdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { BASE64, type AuditSigningKey } from './audit-key';
import { canonicalJson } from './db';

export type { AuditPublicKey, AuditSigningKey } from './audit-key';

export const AUDIT_EXPORT_FORMAT = 'offboard-audit-head/1';

/** The newest row of the chain when the export was taken. */
export interface AuditHead {
  seq: string;
  id: string;
  hash: string;
}

/** An export file's members. */
export interface AuditExport {
  format: typeof AUDIT_EXPORT_FORMAT;
  sequence: number;
  exportedAt: string;
  head: AuditHead | null;
  rows: string;
  keyId?: string;
  signature?: string;
}

/** The bytes the signature covers: the canonical JSON of every member but `signature`. */
export function auditExportSignedBytes(e: Record<string, unknown>): Buffer {
  const rest = Object.fromEntries(Object.entries(e).filter(([k]) => k !== 'signature'));
  return Buffer.from(canonicalJson(JSON.stringify(rest)), 'utf8');
}

/** Signs an export's members (sets `keyId` and `signature`). */
export function signAuditExport(e: AuditExport, key: AuditSigningKey): AuditExport {
  const withKey: AuditExport = { ...e, keyId: key.keyId };
  delete withKey.signature;
  return {
    ...withKey,
    signature: sign(null, auditExportSignedBytes({ ...withKey }), key.privateKey).toString('base64'),
  };
}

/** True when `signature` is `key`'s Ed25519 signature over the file's other members. */
export function auditExportSignatureValid(e: Record<string, unknown>, key: KeyObject): boolean {
  if (typeof e.signature !== 'string' || !BASE64.test(e.signature)) return false;
  const sig = Buffer.from(e.signature, 'base64');
  return sig.length === 64 && verify(null, auditExportSignedBytes(e), key, sig);
}

export const AUDIT_EXPORT_FILE = /^audit-head-(\d{8}T\d{9}Z)-(\d{8,})\.json$/;

/** `2026-12-08T10:00:00.123Z` → `20261208T100000123Z`. */
export function compactTime(iso: string): string {
  return iso.replace(/[-:.]/g, '');
}

export function auditExportFileName(e: Pick<AuditExport, 'exportedAt' | 'sequence'>): string {
  return `audit-head-${compactTime(e.exportedAt)}-${String(e.sequence).padStart(8, '0')}.json`;
}

/** The highest sequence among the export files in `dir` (0 when there is none). */
export async function lastAuditExportSequence(dir: string): Promise<number> {
  let last = 0;
  for (const name of await readdir(dir)) {
    const m = AUDIT_EXPORT_FILE.exec(name);
    if (m) last = Math.max(last, Number(m[2]));
  }
  return last;
}

/**
 * Writes the next export into `dir`: a new file, created exclusively (never over an existing one), mode
 * 0444, synced with its directory. Signed with `key`, unsigned without one. Returns the file's name and
 * what it holds. Throws when `dir` cannot be written (the activity retries).
 */
export async function writeAuditExport(
  dir: string,
  chain: { head: AuditHead | null; rows: string },
  key: AuditSigningKey | null,
  now: Date = new Date(),
): Promise<{ file: string; content: AuditExport }> {
  for (let attempt = 1; ; attempt++) {
    const base: AuditExport = {
      format: AUDIT_EXPORT_FORMAT,
      sequence: (await lastAuditExportSequence(dir)) + 1,
      exportedAt: now.toISOString(),
      head: chain.head,
      rows: chain.rows,
    };
    const content = key ? signAuditExport(base, key) : base;
    const file = auditExportFileName(content);
    const full = path.join(dir, file);
    let fh;
    try {
      fh = await open(full, 'wx', 0o444);
    } catch (e) {
      // Another writer took this name a moment ago: read the directory again, take the next sequence.
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 20) continue;
      throw e;
    }
    try {
      await fh.writeFile(`${JSON.stringify(content, null, 2)}\n`, 'utf8');
      await fh.sync();
    } catch (e) {
      await fh.close().catch(() => undefined);
      // Half a file proves nothing: remove it where the storage allows (write-once storage does not;
      // verify-audit then reports it as unreadable).
      await unlink(full).catch(() => undefined);
      throw e;
    }
    await fh.close();
    await syncDirectory(dir);
    return { file, content };
  }
}

/** fsync of the directory, so the new entry survives a crash; not every file system allows it. */
async function syncDirectory(dir: string): Promise<void> {
  const d = await open(dir, 'r').catch(() => null);
  if (!d) return;
  await d.sync().catch(() => undefined);
  await d.close().catch(() => undefined);
}
