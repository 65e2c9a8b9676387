/**
 * One Temporal schedule per HR system listed in HRIS_VENDORS (`hris-reconcile-<vendor>.<task queue>`), running
 * `hrisReconciliationWorkflow` every HRIS_RECONCILE_INTERVAL on the offboarding task queue; overlapping
 * runs are skipped. The API creates them at start, or brings an existing one to the configured interval
 * (several API instances may do so at once: the schedule id makes it one). Not a timer in a process:
 * Temporal runs it whichever process is up, and catches up after an outage.
 */
import { ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { keepEnsuring, upsertSchedule } from '../lib/schedules';
import {
  HRIS_RECONCILIATION_WORKFLOW,
  hrisReconcileScheduleId,
  hrisReconcileWorkflowId,
  type HrisVendor,
} from '../contract';

export interface ScheduleOptions {
  vendors: readonly HrisVendor[];
  intervalMs: number;
  taskQueue: string;
}

/** Creates (or updates) each vendor's reconciliation schedule; returns their ids. */
export async function ensureReconciliationSchedules(client: Client, o: ScheduleOptions): Promise<string[]> {
  const ids: string[] = [];
  for (const vendor of o.vendors) {
    const scheduleId = hrisReconcileScheduleId(vendor, o.taskQueue);
    const spec = { intervals: [{ every: o.intervalMs }] };
    const action = {
      type: 'startWorkflow' as const,
      workflowType: HRIS_RECONCILIATION_WORKFLOW,
      workflowId: hrisReconcileWorkflowId(vendor, o.taskQueue),
      taskQueue: o.taskQueue,
      args: [{ vendor }],
    };
    await upsertSchedule(client, {
      scheduleId,
      spec,
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1d' },
      memo: { purpose: `reconciliation with ${vendor} (docs/hris.md)` },
    });
    ids.push(scheduleId);
  }
  return ids;
}

/**
 * Ensures the schedules now, and again every minute until it worked (Temporal may be down while the API
 * starts: the API still accepts webhooks). Returns a stop function.
 */
export function keepReconciliationSchedules(
  client: Client,
  o: ScheduleOptions,
  onError: (e: unknown) => void,
): () => void {
  if (o.vendors.length === 0) return () => undefined;
  return keepEnsuring(() => ensureReconciliationSchedules(client, o), onError);
}
