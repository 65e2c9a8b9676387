/**
 * Temporal's own floor: a workflow that runs `activities` no-op activities one after the other (as
 * many as an offboarding runs up to its last revocation) and returns when the last one ran.
 */
import { defineSearchAttributeKey } from '@temporalio/common';
import { condition, proxyActivities, sleep, upsertSearchAttributes } from '@temporalio/workflow';

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

/** What `shapeFloorWorkflow` does besides running its activities (the parts of an offboarding's first tasks). */
export interface Shape {
  /** No-op activities run one after the other (an offboarding's sweep is one). */
  activities: number;
  /** Activities scheduled at once on `unpolledQueue`, never run (the follow-up work waiting its turn). */
  scheduled: number;
  /** Search-attribute upserts, each its own command (an offboarding's status and patch versions). */
  upserts: number;
  /** Day-long timers started (the checkpoint's and the paperwork's). */
  timers: number;
  unpolledQueue: string;
}

const redSteps = defineSearchAttributeKey('OffboardingRedSteps', 'INT');

/**
 * Temporal's price of a workflow's shape: runs `activities`, then in one workflow task schedules,
 * upserts and starts timers as `shape` says, and stays open (as an offboarding waiting on its timers).
 */
export async function shapeFloorWorkflow(shape: Shape): Promise<void> {
  for (let i = 0; i < shape.activities; i++) await noop();
  const unpolled = proxyActivities<FloorActivities>({
    taskQueue: shape.unpolledQueue,
    startToCloseTimeout: '30s',
  });
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < shape.scheduled; i++) pending.push(unpolled.noop());
  for (let i = 0; i < shape.upserts; i++) upsertSearchAttributes([{ key: redSteps, value: i }]);
  for (let i = 0; i < shape.timers; i++) pending.push(sleep('1 day'));
  await condition(() => false);
  await Promise.all(pending);
}
