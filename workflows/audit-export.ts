/**
 * One export of the audit chain's head, started by its Temporal schedule (`audit-export.<task queue>`,
 * workers/audit-export.ts) every AUDIT_EXPORT_INTERVAL. The export itself is an activity on the export
 * task queue (activities/audit-export.ts), served only by workers with AUDIT_EXPORT_DIR; if none serves
 * it for 30 minutes the run fails, visibly, and the next one tries again.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { AuditExportActivities, AuditExportResult } from '../activities';

/** Exports the chain head once; returns what was written. */
export async function auditExportWorkflow(input: { exportTaskQueue: string }): Promise<AuditExportResult> {
  const { exportAuditHead } = proxyActivities<AuditExportActivities>({
    taskQueue: input.exportTaskQueue,
    startToCloseTimeout: '2m',
    scheduleToCloseTimeout: '30m',
    retry: { initialInterval: '10s', maximumInterval: '5m' },
  });
  return exportAuditHead();
}
