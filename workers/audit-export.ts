/**
 * Audit evidence outside the database, in the worker process (docs/operations.md, "Audit evidence
 * outside the database"). A worker with AUDIT_EXPORT_DIR serves the export task queue
 * (`auditExportTaskQueue`) and keeps one Temporal schedule per deployment (`audit-export.<task queue>`)
 * that runs `auditExportWorkflow` every AUDIT_EXPORT_INTERVAL; overlapping runs are skipped, and after
 * an outage one missed run is caught up, not every one. A new schedule exports at once. Not a timer in a process: Temporal starts the
 * run whichever worker is up, and several workers ensuring the schedule at once make it one.
 */
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import {
  AUDIT_EXPORT_WORKFLOW,
  auditExportScheduleId,
  auditExportTaskQueue,
  auditExportWorkflowId,
} from '../contract';
import { AppError } from '../lib/errors';
import { keepEnsuring, upsertSchedule } from '../lib/schedules';

export interface AuditExportScheduleOptions {
  intervalMs: number;
  /** The deployment's main task queue (the workflow runs there, its activity on the export queue). */
  taskQueue: string;
}

/** Creates the export schedule, or brings an existing one to these options; returns its id. */
export async function ensureAuditExportSchedule(
  client: Client,
  o: AuditExportScheduleOptions,
): Promise<string> {
  const scheduleId = auditExportScheduleId(o.taskQueue);
  const spec = { intervals: [{ every: o.intervalMs }] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: AUDIT_EXPORT_WORKFLOW,
    workflowId: auditExportWorkflowId(o.taskQueue),
    taskQueue: o.taskQueue,
    args: [{ exportTaskQueue: auditExportTaskQueue(o.taskQueue) }],
  };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: Math.max(o.intervalMs, 60_000) };
  await upsertSchedule(client, {
    scheduleId,
    spec,
    action,
    policies,
    // The first export at once, not an interval later.
    state: { triggerImmediately: true },
    memo: { purpose: 'export of the audit chain head outside the database (docs/operations.md)' },
  });
  return scheduleId;
}

/**
 * Ensures the schedule now, and again every minute until it worked (Temporal may not answer yet while
 * the worker starts). Returns a stop function.
 */
export function keepAuditExportSchedule(
  client: Client,
  o: AuditExportScheduleOptions,
  onError: (e: unknown) => void,
): () => void {
  return keepEnsuring(() => ensureAuditExportSchedule(client, o), onError);
}

/** AUDIT_EXPORT_DIR as an absolute path, checked at start: an existing directory this process can write. */
export function checkAuditExportDir(dir: string): string {
  const abs = path.resolve(dir);
  const refuse = (why: string) =>
    new AppError('config_invalid', `Invalid configuration:\n  AUDIT_EXPORT_DIR: ${abs} ${why}`);
  let isDir: boolean;
  try {
    isDir = statSync(abs).isDirectory();
  } catch {
    throw refuse('does not exist (mount the write-once storage there, or create the directory)');
  }
  if (!isDir) throw refuse('is not a directory');
  try {
    accessSync(abs, constants.W_OK | constants.R_OK);
  } catch {
    throw refuse('is not readable and writable by this process');
  }
  return abs;
}
