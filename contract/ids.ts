/**
 * Names and ids every part agrees on: task queues, workflow types and ids, and the search attributes
 * operators filter by in the Temporal Web UI.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { OffboardingPhase } from './views';

/** Task queue served by the offboarding worker. */
export const TASK_QUEUE = 'offboarding';

/**
 * Task queue of one rate-limited system's revocations: its own queue, so Temporal can hold the whole
 * fleet of workers to the system's rate (`maxTaskQueueActivitiesPerSecond` is enforced per queue).
 */
export function systemTaskQueue(baseTaskQueue: string, systemId: string): string {
  return `${baseTaskQueue}.system.${systemId}`;
}

/**
 * The queue of an offboarding's follow-up activities (asset recovery, documents): served by every
 * worker at a bounded pace (WORKER_FOLLOWUP_* in config/env.ts) so that revocations keep the worker.
 */
export function followupTaskQueue(baseTaskQueue: string): string {
  return `${baseTaskQueue}.followup`;
}

/** Workflow type of the review opened when a termination is rescinded after its offboarding ended. */
export const RESCISSION_REVIEW_WORKFLOW = 'rescissionReviewWorkflow';

/** Workflow id of that review: `rescission:<departureId>`. */
export function rescissionReviewWorkflowId(departureId: string): string {
  return `rescission:${departureId}`;
}

/** Workflow type name registered by the worker. */
export const OFFBOARDING_WORKFLOW = 'offboardingWorkflow';

/** Workflow id of an employee's offboarding: `offboarding:<employeeId>`. */
export function offboardingWorkflowId(employeeId: string): string {
  return `offboarding:${employeeId}`;
}

/**
 * Search attributes of an offboarding, for operators filtering in the Temporal Web UI (e.g.
 * `OffboardingDepartment = 'Finance' AND OffboardingRedSteps > 0`). Search attributes are stored in
 * clear text (no payload codec applies to them): never put names or email addresses here.
 *
 * Employee id, department and work location are set when the workflow starts (server/starter.ts);
 * status and the red step count are upserted by the workflow. Every namespace must have them
 * registered (`SEARCH_ATTRIBUTE_REGISTRATIONS`), or starts and upserts fail.
 */
export const SEARCH_ATTRIBUTES = {
  employeeId: defineSearchAttributeKey('OffboardingEmployeeId', SearchAttributeType.KEYWORD),
  department: defineSearchAttributeKey('OffboardingDepartment', SearchAttributeType.KEYWORD),
  /** An `OffboardingPhase`, then `completed` when the offboarding finished (or `rescinded`). */
  status: defineSearchAttributeKey('OffboardingStatus', SearchAttributeType.KEYWORD),
  redSteps: defineSearchAttributeKey('OffboardingRedSteps', SearchAttributeType.INT),
  workLocation: defineSearchAttributeKey('OffboardingWorkLocation', SearchAttributeType.KEYWORD),
} as const;

/** Value of the `OffboardingStatus` search attribute. */
export type OffboardingSearchStatus = OffboardingPhase;

const CLI_TYPE_NAMES: Record<SearchAttributeType, string> = {
  TEXT: 'Text',
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

/**
 * `Name=Type` of every search attribute, as `temporal server start-dev --search-attribute` takes them
 * (and `temporal operator search-attribute create --name Name --type Type`; temporal-docker/ lists the
 * same, checked by a test).
 */
export const SEARCH_ATTRIBUTE_REGISTRATIONS: readonly string[] = Object.values(SEARCH_ATTRIBUTES).map(
  (k) => `${k.name}=${CLI_TYPE_NAMES[k.type]}`,
);

/** Workflow type of an HR system's scheduled reconciliation (workflows/hris-reconcile.ts). */
export const HRIS_RECONCILIATION_WORKFLOW = 'hrisReconciliationWorkflow';

/**
 * The Temporal schedule that runs a vendor's reconciliation for the deployment serving `taskQueue`:
 * `hris-reconcile-<vendor>.<taskQueue>` (e.g. `hris-reconcile-bamboohr.offboarding`).
 */
export function hrisReconcileScheduleId(vendor: string, taskQueue: string): string {
  return `hris-reconcile-${vendor}.${taskQueue}`;
}

/** Workflow id of a vendor's reconciliation run (the schedule appends the run's time). */
export function hrisReconcileWorkflowId(vendor: string, taskQueue: string): string {
  return `hris-reconcile:${vendor}.${taskQueue}`;
}

/** Workflow type of the scheduled export of the audit chain's head (workflows/audit-export.ts). */
export const AUDIT_EXPORT_WORKFLOW = 'auditExportWorkflow';

/** The Temporal schedule exporting the audit chain's head for the deployment serving `taskQueue`. */
export function auditExportScheduleId(taskQueue: string): string {
  return `audit-export.${taskQueue}`;
}

/** Workflow id of an export run (the schedule appends the run's time). */
export function auditExportWorkflowId(taskQueue: string): string {
  return `audit-export:${taskQueue}`;
}

/**
 * The queue of the export activity: served only by workers with AUDIT_EXPORT_DIR (and its signing key),
 * so a worker without them never picks an export up.
 */
export function auditExportTaskQueue(baseTaskQueue: string): string {
  return `${baseTaskQueue}.audit-export`;
}
