/**
 * Which departures' offboarding workflows are running, or ended without completing, according to
 * Temporal's visibility store (the database does not know when a workflow fails). Used by the
 * `workflow=` filter of `GET /departures` (the CLI's `offboard list --running / --failed`).
 */
import type { Client, WorkflowExecutionStatusName } from '@temporalio/client';
import { OFFBOARDING_WORKFLOW } from '../contract';

export const WORKFLOW_STATES = ['running', 'failed'] as const;
export type WorkflowState = (typeof WORKFLOW_STATES)[number];

/** Execution statuses of each state: `failed` = ended without completing (failed, terminated, timed out). */
const STATUSES: Record<WorkflowState, WorkflowExecutionStatusName[]> = {
  running: ['RUNNING'],
  failed: ['FAILED', 'TERMINATED', 'TIMED_OUT'],
};
const VISIBILITY_NAME: Partial<Record<WorkflowExecutionStatusName, string>> = {
  RUNNING: 'Running',
  FAILED: 'Failed',
  TERMINATED: 'Terminated',
  TIMED_OUT: 'TimedOut',
};

/**
 * Departure ids (from each run's memo) whose **current** run is in `state`: a run replaced by a reset
 * (terminated, with a newer run) does not count as failed. Looks at no more than `maxRuns` runs.
 */
export async function departureIdsInState(
  client: Client,
  state: WorkflowState,
  opts: { maxRuns?: number } = {},
): Promise<Set<string>> {
  const statuses = STATUSES[state];
  const clauses = [
    `WorkflowType = '${OFFBOARDING_WORKFLOW}'`,
    `(${statuses.map((s) => `ExecutionStatus = '${VISIBILITY_NAME[s]}'`).join(' OR ')})`,
  ];
  const runs: { workflowId: string; runId: string; departureId: string }[] = [];
  const max = opts.maxRuns ?? 1000;
  for await (const w of client.workflow.list({ query: clauses.join(' AND '), pageSize: 200 })) {
    const departureId = (w.memo as { departureId?: unknown } | undefined)?.departureId;
    if (typeof departureId === 'string') runs.push({ workflowId: w.workflowId, runId: w.runId, departureId });
    if (runs.length >= max) break;
  }
  if (state === 'running') return new Set(runs.map((r) => r.departureId)); // one running run per id
  // A closed run counts only while it is still the latest run of its workflow id.
  const out = new Set<string>();
  for (let i = 0; i < runs.length; i += 10) {
    await Promise.all(
      runs.slice(i, i + 10).map(async (r) => {
        const d = await client.workflow.getHandle(r.workflowId).describe();
        if (d.runId === r.runId && statuses.includes(d.status.name)) out.add(r.departureId);
      }),
    );
  }
  return out;
}
