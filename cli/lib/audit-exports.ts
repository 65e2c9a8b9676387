/**
 * Reads and checks the exports of the audit chain's head (`offboard verify-audit --exports`; the format
 * is in lib/audit-export.ts). Each file must parse, have the format's members, carry a name that agrees
 * with its content, and be signed by one of the given public keys; the valid ones must be in order
 * (sequence without gaps or repeats, time and head never going back, one hash per position) and, with
 * `maxAgeMs`, the newest must be recent. Every problem is named with its file. The valid exports are
 * then compared with the chain (cli/lib/audit-chain.ts); a file with a problem is never trusted there.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import {
  AUDIT_EXPORT_FILE,
  AUDIT_EXPORT_FORMAT,
  auditExportSignatureValid,
  compactTime,
  type AuditExport,
  type AuditPublicKey,
} from '../../lib/audit-export';

export type ExportProblemKind =
  | 'none'
  | 'unreadable'
  | 'format'
  | 'name'
  | 'unsigned'
  | 'unknown_key'
  | 'signature'
  | 'order'
  | 'inconsistent'
  | 'stale';

export interface ExportProblem {
  /** The file's name in the directory (null for a problem of the whole directory). */
  file: string | null;
  problem: ExportProblemKind;
  message: string;
}

/** A file whose content, name and signature are valid. */
export interface CheckedExport extends AuditExport {
  file: string;
}

export interface ExportsReading {
  dir: string;
  /** Export files found (by name). */
  files: number;
  /** The valid ones, by sequence. */
  exports: CheckedExport[];
  problems: ExportProblem[];
}

const decimal = z.string().regex(/^\d+$/, 'must be a decimal number in a string');
const exportSchema = z.strictObject({
  format: z.literal(AUDIT_EXPORT_FORMAT),
  sequence: z.number().int().positive(),
  exportedAt: z.iso.datetime({ precision: 3 }),
  head: z
    .strictObject({
      seq: decimal,
      id: decimal,
      hash: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 hex digits'),
    })
    .nullable(),
  rows: decimal,
  keyId: z.string().optional(),
  signature: z.string().optional(),
});

/** Reads every export file in `dir` and checks it; throws only when the directory cannot be read. */
export async function readAuditExports(
  dir: string,
  keys: readonly AuditPublicKey[],
  opts: { maxAgeMs?: number; now?: Date } = {},
): Promise<ExportsReading> {
  const problems: ExportProblem[] = [];
  const names = (await readdir(dir)).sort();
  const files = names.filter((n) => AUDIT_EXPORT_FILE.test(n));
  for (const n of names)
    if (n.startsWith('audit-head-') && !AUDIT_EXPORT_FILE.test(n))
      problems.push({
        file: n,
        problem: 'name',
        message: 'not an export file name (audit-head-<YYYYMMDDTHHMMSSmmmZ>-<sequence>.json): renamed?',
      });
  if (files.length === 0)
    problems.push({ file: null, problem: 'none', message: `no audit export in ${dir}` });

  const valid: CheckedExport[] = [];
  for (const file of files) {
    const problem = (kind: ExportProblemKind, message: string) =>
      problems.push({ file, problem: kind, message });
    let json: unknown;
    try {
      json = JSON.parse(await readFile(path.join(dir, file), 'utf8'));
    } catch (e) {
      problem('unreadable', `cannot be read as JSON (${(e as Error).message}): damaged or cut short`);
      continue;
    }
    const parsed = exportSchema.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`);
      problem('format', `not an ${AUDIT_EXPORT_FORMAT} export: ${issues.join('; ')}`);
      continue;
    }
    const e = parsed.data as AuditExport;
    const m = AUDIT_EXPORT_FILE.exec(file)!;
    if (m[1] !== compactTime(e.exportedAt) || Number(m[2]) !== e.sequence) {
      problem(
        'name',
        `its name does not match its content (sequence ${e.sequence}, exported ${e.exportedAt}): renamed`,
      );
      continue;
    }
    if (e.signature === undefined) {
      problem(
        'unsigned',
        'has no signature: it cannot show it was written by the export (AUDIT_EXPORT_SIGNING_KEY was not set)',
      );
      continue;
    }
    const key = keys.find((k) => k.keyId === e.keyId);
    if (!key) {
      problem(
        'unknown_key',
        `is signed with key "${e.keyId ?? '(none named)'}", which is not among the public keys given (${keys.map((k) => k.keyId).join(', ')})`,
      );
      continue;
    }
    if (!auditExportSignatureValid(json as Record<string, unknown>, key.key)) {
      problem(
        'signature',
        `its signature does not verify with public key "${key.keyId}": the file was changed after it was signed, or forged`,
      );
      continue;
    }
    if (e.rows !== (e.head?.seq ?? '0'))
      // Signed, so the export itself said so: the chain was not intact when it was exported.
      problem(
        'inconsistent',
        `records ${e.rows} rows but its head at seq ${e.head?.seq ?? '(none)'}: the chain was already broken when it was exported`,
      );
    valid.push({ ...e, file });
  }

  // Order, over every file the name gives a sequence (a gap is a file that is missing altogether).
  const sequences = files.map((f) => ({ file: f, sequence: Number(AUDIT_EXPORT_FILE.exec(f)![2]) }));
  sequences.sort((a, b) => a.sequence - b.sequence);
  for (let i = 1; i < sequences.length; i++) {
    const [a, b] = [sequences[i - 1]!, sequences[i]!];
    if (b.sequence === a.sequence)
      problems.push({
        file: b.file,
        problem: 'order',
        message: `carries sequence ${b.sequence}, as ${a.file} does`,
      });
    else if (b.sequence > a.sequence + 1)
      problems.push({
        file: b.file,
        problem: 'order',
        message: `sequence jumps from ${a.sequence} (${a.file}) to ${b.sequence}: ${b.sequence - a.sequence - 1} export(s) missing`,
      });
  }
  valid.sort((a, b) => a.sequence - b.sequence);
  const hashAt = new Map<string, CheckedExport>();
  for (const [i, b] of valid.entries()) {
    const a = valid[i - 1];
    if (a && b.exportedAt < a.exportedAt)
      problems.push({
        file: b.file,
        problem: 'order',
        message: `exported at ${b.exportedAt}, before ${a.file} (${a.exportedAt}), which has a lower sequence`,
      });
    if (a && BigInt(b.head?.seq ?? 0) < BigInt(a.head?.seq ?? 0))
      problems.push({
        file: b.file,
        problem: 'order',
        message: `its head (seq ${b.head?.seq ?? '(none)'}) is behind that of ${a.file} (seq ${a.head?.seq}): the chain was cut or rewritten between the two exports`,
      });
    if (b.head) {
      const first = hashAt.get(b.head.seq);
      if (first && first.head!.hash !== b.head.hash)
        problems.push({
          file: b.file,
          problem: 'order',
          message: `records hash ${b.head.hash} for seq ${b.head.seq}, ${first.file} recorded ${first.head!.hash}: the chain was rewritten between the two exports`,
        });
      else if (!first) hashAt.set(b.head.seq, b);
    }
  }
  const newest = valid.at(-1);
  if (opts.maxAgeMs !== undefined && newest) {
    const age = (opts.now ?? new Date()).getTime() - Date.parse(newest.exportedAt);
    if (age > opts.maxAgeMs)
      problems.push({
        file: newest.file,
        problem: 'stale',
        message: `the newest valid export was written ${Math.round(age / 60_000)} minute(s) ago, more than --max-age allows: is the export schedule running?`,
      });
  }
  return { dir, files: files.length, exports: valid, problems };
}
