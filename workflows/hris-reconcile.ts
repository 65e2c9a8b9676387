/**
 * One reconciliation run with an HR system, started by its Temporal schedule (`hris-reconcile-<vendor>.<task queue>`,
 * server/hris-schedules.ts): what changed since the last run goes through the intake (departures the
 * webhooks missed are started, silent rescissions rescinded, moved last days updated), the
 * certificates of completed offboardings are written back to the employee's record, then the
 * data-quality report goes to HR. Both are activities (activities/hris-reconcile.ts); a vendor's
 * rate-limit answer retries after its Retry-After.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { DataQualityFindings, HrisVendor, ReconciliationSummary } from '../contract';

const { reconcileHris, reportHrisDataQuality, writeBackHrisRecords } = proxyActivities<Activities>({
  startToCloseTimeout: '10m',
  retry: {
    initialInterval: '10s',
    maximumInterval: '10m',
    maximumAttempts: 10,
    nonRetryableErrorTypes: ['NotConfigured'],
  },
});

/** Reconciles one vendor; returns what it found (also in the report to HR). */
export async function hrisReconciliationWorkflow(input: {
  vendor: HrisVendor;
}): Promise<{ summary: ReconciliationSummary; findings: DataQualityFindings; written: number }> {
  const summary = await reconcileHris({ vendor: input.vendor });
  // The certificates of offboardings completed since, to the employee's record (listed back).
  const { written } = await writeBackHrisRecords({ vendor: input.vendor });
  const { findings } = await reportHrisDataQuality({
    vendor: input.vendor,
    summary,
    runAt: new Date().toISOString(),
  });
  return { summary, findings, written: written.length };
}
