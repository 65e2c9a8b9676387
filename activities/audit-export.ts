/**
 * The scheduled export of the audit chain's head (workflows/audit-export.ts; the file format is in
 * lib/audit-export.ts): read the newest chain row and the row count in one statement, then write them,
 * signed, as a new file into AUDIT_EXPORT_DIR. Served only on the export task queue
 * (`auditExportTaskQueue`), by workers that have the directory configured.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { rows, type Db } from '../lib/db';
import { writeAuditExport, type AuditHead, type AuditSigningKey } from '../lib/audit-export';
import type { Logger } from '../lib/logger';

export interface AuditExportDeps {
  db: Pick<Db, 'pool'>;
  /** AUDIT_EXPORT_DIR: write-once storage outside the database. */
  dir: string;
  /** AUDIT_EXPORT_SIGNING_KEY; null writes unsigned exports (refused in production). */
  key: AuditSigningKey | null;
  logger: Logger;
}

/** What one export wrote (the workflow's result; no key material). */
export interface AuditExportResult {
  file: string;
  sequence: number;
  exportedAt: string;
  head: AuditHead | null;
  rows: string;
  signed: boolean;
}

/** The chain's newest row and its row count, from one statement (one snapshot). */
export async function readAuditChainHead(
  db: Pick<Db, 'pool'>,
): Promise<{ head: AuditHead | null; rows: string }> {
  const [r] = await rows<{ seq: string | null; id: string | null; hash: string | null; rows: string }>(
    db,
    `SELECT h.seq::text AS seq, h.id::text AS id, h.hash, (SELECT count(*) FROM "AuditEvent")::text AS rows
       FROM (SELECT 1) one
       LEFT JOIN (SELECT seq, id, hash FROM "AuditEvent" ORDER BY seq DESC LIMIT 1) h ON true`,
  );
  if (!r) throw new Error('the chain head query returned no row');
  return {
    head: r.seq !== null && r.id !== null && r.hash !== null ? { seq: r.seq, id: r.id, hash: r.hash } : null,
    rows: r.rows,
  };
}

export function createAuditExportActivities(deps: AuditExportDeps) {
  return {
    /** Exports the chain head now: a new file every time, also when the head did not move. */
    async exportAuditHead(): Promise<AuditExportResult> {
      const chain = await readAuditChainHead(deps.db);
      let written;
      try {
        written = await writeAuditExport(deps.dir, chain, deps.key);
      } catch (e) {
        // The storage is missing or read-only: retried (a mount may come back), with the reason named.
        throw ApplicationFailure.create({
          type: 'AuditExportStorageError',
          message: `cannot write an audit export into AUDIT_EXPORT_DIR (${deps.dir}): ${(e as Error).message}`,
        });
      }
      const { file, content } = written;
      deps.logger.info(
        { file, sequence: content.sequence, headSeq: content.head?.seq ?? null, signed: !!content.signature },
        'audit chain head exported',
      );
      return {
        file,
        sequence: content.sequence,
        exportedAt: content.exportedAt,
        head: content.head,
        rows: content.rows,
        signed: !!content.signature,
      };
    },
  };
}

export type AuditExportActivities = ReturnType<typeof createAuditExportActivities>;
