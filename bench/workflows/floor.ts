/**
 * Temporal's own floor: a workflow that runs `activities` no-op activities one after the other (as
 * many as an offboarding runs up to its last revocation) and returns when the last one ran.
 */
import { proxyActivities, sleep } from '@temporalio/workflow';

export interface FloorActivities {
  /** Does nothing; returns the instant it ran (ms since the epoch). */
  noop(): Promise<number>;
}

const { noop } = proxyActivities<FloorActivities>({ startToCloseTimeout: '30s' });

export async function floorWorkflow(activities: number): Promise<number> {
  let last = 0;
  for (let i = 0; i < activities; i++) last = await noop();
  return last;
}

/** Runs `activities` no-op activities, then waits on a durable timer for a week (the memory floor). */
export async function parkedFloorWorkflow(activities: number): Promise<void> {
  for (let i = 0; i < activities; i++) await noop();
  await sleep('7 days');
}
