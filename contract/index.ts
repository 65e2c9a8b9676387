/**
 * The contract between workflow, worker, server and CLI: task queue names, message definitions,
 * workflow-id helpers and the input/status types. Clients import from here, never from `workflows/`.
 *
 * Only `define*` helpers are imported from `@temporalio/workflow`: they are plain data and safe to use
 * from client code.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';

/** Task queue served by the offboarding worker. */
export const TASK_QUEUE = 'offboarding';

/** Workflow type name registered by the worker. */
export const OFFBOARDING_WORKFLOW = 'offboardingWorkflow';

/** Workflow id of an employee's offboarding: `offboarding:<employeeId>`. */
export function offboardingWorkflowId(employeeId: string): string {
  return `offboarding:${employeeId}`;
}

export const WORK_LOCATIONS = ['remote', 'in_office', 'hybrid'] as const;
export type WorkLocation = (typeof WORK_LOCATIONS)[number];

export const TERMINATION_TYPES = ['voluntary', 'involuntary'] as const;
export type TerminationType = (typeof TERMINATION_TYPES)[number];

export const HRIS_STATUSES = [
  'terminated',
  'resigned_confirmed',
  'pending_resignation',
  'active',
  'termination_rescinded',
] as const;
export type HrisStatus = (typeof HRIS_STATUSES)[number];

/** Revocation tiers, in the order the workflow runs them. */
export const REVOCATION_TIERS = ['identity', 'directory', 'vpn', 'mfa', 'application'] as const;
export type RevocationTier = (typeof REVOCATION_TIERS)[number];

/**
 * Input of one offboarding workflow. Personal data (names, email addresses) is deliberately absent:
 * activities read it from the departure record, so it never lands in workflow histories.
 */
export interface OffboardingInput {
  departureId: string;
  employeeId: string;
  terminationType: TerminationType;
  /** ISO instant the HRIS confirmed the termination. */
  confirmedAt: string;
  /** Last working day (YYYY-MM-DD), when the HRIS sent one. */
  lastDay: string | null;
}

/**
 * Step colours. `pending`/`running` are not yet decided; `green` = confirmed by reading the target back;
 * `yellow` = action taken, confirmation pending (e.g. a ticket is open); `red` = failed or timed out.
 */
export type StepStatus = 'pending' | 'running' | 'green' | 'yellow' | 'red';

/** How a system's revocation is carried out. */
export type Integration = 'api' | 'ticket' | 'manual';

/** One revocation step as planned from the catalog (recorded in history by the plan activity). */
export interface PlannedStep {
  systemId: string;
  systemName: string;
  tier: RevocationTier;
  action: string;
  integration: Integration;
  /** The system that executes the step: the connector kind and target (e.g. "entra @ https://graph..."). */
  executingSystem: string;
  ordinal: number;
  startToCloseTimeout: string;
  retry: {
    maximumAttempts: number;
    initialInterval: string;
    backoffCoefficient: number;
    maximumInterval: string;
  };
  /** For ticket/manual steps: hours the owner has to confirm before the step turns red. */
  slaHours: number | null;
}

/** One row of the step table. */
export interface StepView {
  systemId: string;
  systemName: string;
  tier: RevocationTier;
  action: string;
  integration: Integration;
  executingSystem: string;
  status: StepStatus;
  attempts: number;
  startedAt: string | null;
  actedAt: string | null;
  confirmedAt: string | null;
  finishedAt: string | null;
  lastError: string | null;
  detail: string | null;
  ticketId: string | null;
}

export type OffboardingPhase = 'planning' | 'revoking' | 'awaiting_tickets' | 'revocation_complete';

/** Answer of the status query. */
export interface OffboardingStatus {
  departureId: string;
  employeeId: string;
  phase: OffboardingPhase;
  steps: StepView[];
  redSteps: number;
  yellowSteps: number;
}

/** What a revocation activity reports when it finishes. */
export interface StepOutcome {
  /** `confirmed`: the target was read back and shows no access. `ticket_opened`: waiting for a human. */
  outcome: 'confirmed' | 'ticket_opened';
  attempts: number;
  actedAt: string;
  confirmedAt: string | null;
  detail: string;
  ticketId: string | null;
}

/** Payload of `confirmTicketSignal`: a system's owner confirms the manual revocation is done. */
export interface TicketConfirmation {
  systemId: string;
  ticketId: string;
  confirmedBy: string;
  note: string;
}

/** The status of an offboarding: its step table. */
export const statusQuery = defineQuery<OffboardingStatus>('status');

/** A ticket or manual task was completed by the system's owner (event from outside: a signal). */
export const confirmTicketSignal = defineSignal<[TicketConfirmation]>('confirmTicket');

/**
 * Activity error types that retrying cannot fix. The classes live in `activities/errors.ts`; their
 * names are listed here so workflows can put them in `nonRetryableErrorTypes` without importing them.
 */
export const NON_RETRYABLE_ERROR_TYPES = [
  'TargetAuthError',
  'TargetRejectedError',
  'UnknownSystemError',
  'DepartureNotFoundError',
] as const;
