/**
 * The Temporal schedule that polls the service desks (`desk-tickets.<task queue>`): it runs
 * `deskTicketsWorkflow` on the offboarding task queue every `pollEvery` (the shortest of the catalog's
 * desks), reading every open desk ticket back, so a ticket closed without a webhook (none configured,
 * or a delivery lost) is still found. Overlapping runs are skipped. The API creates it at start, or
 * brings an existing one to the configured interval (several API instances may: the id makes it one),
 * as server/hris-schedules.ts does for the HR systems.
 */
import { ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { keepEnsuring, upsertSchedule } from '../lib/schedules';
import type { Catalog } from '../config/catalog';
import { pollMs } from '../config/desk';
import {
  DESK_TICKETS_WORKFLOW,
  deskTicketsScheduleId,
  deskTicketsWorkflowId,
  type DeskCheckInput,
} from '../contract';

/** The poll interval the catalog asks for (its shortest `pollEvery`), or null when no system has a desk. */
export function deskPollIntervalMs(catalog: Catalog): number | null {
  const every = catalog.systems.flatMap((s) =>
    s.connector.kind === 'ticket' && s.connector.desk ? [pollMs(s.connector.desk.pollEvery)] : [],
  );
  return every.length > 0 ? Math.min(...every) : null;
}

/** Creates (or updates) the poll's schedule; returns its id. */
export async function ensureDeskSchedule(
  client: Client,
  o: { intervalMs: number; taskQueue: string },
): Promise<string> {
  const scheduleId = deskTicketsScheduleId(o.taskQueue);
  const spec = { intervals: [{ every: o.intervalMs }] };
  const input: DeskCheckInput = {};
  const action = {
    type: 'startWorkflow' as const,
    workflowType: DESK_TICKETS_WORKFLOW,
    workflowId: deskTicketsWorkflowId(o.taskQueue),
    taskQueue: o.taskQueue,
    args: [input],
  };
  await upsertSchedule(client, {
    scheduleId,
    spec,
    action,
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1h' },
    memo: { purpose: 'reads open service desk tickets back (docs/configuration.md, Service desk tickets)' },
  });
  return scheduleId;
}

/**
 * Ensures the schedule now, and again every minute until it worked (Temporal may be down while the API
 * starts). Nothing when no system has a desk. Returns a stop function.
 */
export function keepDeskSchedule(
  client: Client,
  o: { intervalMs: number | null; taskQueue: string },
  onError: (e: unknown) => void,
): () => void {
  const intervalMs = o.intervalMs;
  if (intervalMs === null) return () => undefined;
  return keepEnsuring(() => ensureDeskSchedule(client, { intervalMs, taskQueue: o.taskQueue }), onError);
}
