/**
 * What operators see: the status query's answer (steps, assets, documents, the verification checkpoint)
 * and the departure statuses the API projects.
 */
import type { MatchEvidence } from './match';
import type { PlannedStep } from './plan';
import type { Rescission, Resolution, SignoffRole } from './messages';
import type { AssetRecoveryStatus, AssetRoute, DocumentStatus } from './records';

/**
 * A departure record's status (the API's projection): accepted (stored, workflow not started yet),
 * awaiting_approval (an operator's involuntary departure of a protected account: a second operator
 * must approve it before anything starts), started, running, scoped (notice period),
 * awaiting_signoff, completed, rescinded, blocked (a different offboarding ran under its workflow id).
 */
export const DEPARTURE_STATUSES = [
  'accepted',
  'awaiting_approval',
  'started',
  'running',
  'scoped',
  'awaiting_signoff',
  'completed',
  'rescinded',
  'blocked',
] as const;

export type DepartureStatus = (typeof DEPARTURE_STATUSES)[number];

/**
 * Step colours. `pending`/`running` are not yet decided; `green` = confirmed by reading the target back;
 * `yellow` = action taken, confirmation pending (e.g. a ticket is open); `red` = failed or timed out;
 * `halted` = never run because the termination was rescinded.
 */
export const STEP_STATUSES = ['pending', 'running', 'green', 'yellow', 'red', 'halted'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

/** One row of the step table: the planned step's identity, and what became of it. */
export interface StepView
  extends Pick<
    PlannedStep,
    'stepId' | 'kind' | 'systemId' | 'systemName' | 'tier' | 'action' | 'integration' | 'executingSystem'
  > {
  status: StepStatus;
  attempts: number;
  startedAt: string | null;
  actedAt: string | null;
  confirmedAt: string | null;
  finishedAt: string | null;
  lastError: string | null;
  detail: string | null;
  ticketId: string | null;
  privileged: boolean;
  /** For a step held back by a notice period: when it will run. */
  scheduledFor: string | null;
  /** How the account was matched (from the step table; absent in the workflow's own view). */
  match?: MatchEvidence | null;
}

/**
 * `scoped`: a notice period is running (privileged systems revoked, the rest wait for the end of the last
 * day); `rescinded`: the termination was rescinded, pending steps were halted and a review opened.
 */
export type OffboardingPhase =
  | 'planning'
  | 'revoking'
  | 'scoped'
  | 'awaiting_tickets'
  | 'recovering'
  | 'revocation_complete'
  /** Everything has run; waiting for HR and IT to sign the verification report off. */
  | 'awaiting_signoff'
  /** Signed off, final live audit clean, completion certificate issued. */
  | 'completed'
  | 'rescinded';

/** Answer of the status query. */
export interface OffboardingStatus {
  departureId: string;
  employeeId: string;
  phase: OffboardingPhase;
  steps: StepView[];
  redSteps: number;
  yellowSteps: number;
  /** Last working day as currently known (moved by `lastDayChangedSignal`). */
  lastDay: string | null;
  /** When the non-privileged systems are revoked (notice period), or null. */
  revokeRestAt: string | null;
  rescission: Rescission | null;
  /** Asset recovery (after revocation): one entry per asset. */
  assets: AssetView[];
  /** Compliance documents and their state. */
  documents: DocumentView[];
  /** The verification checkpoint (null for offboardings started before it existed). */
  verification?: VerificationView | null;
}

/** One asset's recovery as the status query shows it. */
export interface AssetView {
  recoveryId: string;
  assetTag: string;
  assetName: string;
  route: AssetRoute;
  /** As recorded, or `failed`: the workflow's recovery activity failed. */
  status: AssetRecoveryStatus | 'failed';
  dueAt: string;
  secondDueAt: string;
  receivedAt: string | null;
  lastError: string | null;
}

export const DOCUMENT_TYPES = [
  'completion_certificate',
  'data_archiving_confirmation',
  'nda_acknowledgment',
  'benefits_notification',
  'payroll_notification',
  'exit_survey',
] as const;

/** One compliance document as the status query shows it. */
export interface DocumentView {
  type: (typeof DOCUMENT_TYPES)[number];
  /** As recorded, or `failed`: the workflow's activity for it failed. */
  status: DocumentStatus | 'failed';
  updatedAt: string;
  lastError: string | null;
  /** SHA-256 of the stored document, once there is one. */
  sha256?: string;
}

/** Colours of the verification report. */
export type ReportColour = 'green' | 'yellow' | 'red';

/**
 * One line of the verification report. `itemId` is `step:<stepId>`, `asset:<tag>`, `document:<type>` or
 * `access:<systemId>` (the live access audit of a system).
 */
export interface ReportItem {
  itemId: string;
  kind: 'step' | 'asset' | 'document' | 'access';
  label: string;
  /** Colour when the report was compiled. */
  reportColour: ReportColour;
  /** Colour now. */
  colour: ReportColour;
  detail: string | null;
}

export interface Acknowledgment {
  role: SignoffRole;
  by: string;
  at: string;
  note: string | null;
}

/** The result of one live access audit: per API-integrated system, is there still an active account? */
export interface AccessAuditRow {
  systemId: string;
  systemName: string;
  /** `yes` = still active (red); `no` = none or disabled; `error` = could not be checked. */
  active: 'yes' | 'no' | 'error';
  /** For `yes`: the accounts still giving access, named; for `error`: what went wrong. */
  detail: string | null;
  /** The accounts still giving access, with the keys that found them (absent in older audits). */
  accounts?: { id: string; name: string; by: string[]; why: string }[];
}

export interface AccessAudit {
  at: string;
  rows: AccessAuditRow[];
}

/** The one thing a rescinded offboarding's checkpoint lists as outstanding: nothing but the review. */
export const RESCINDED_OUTSTANDING =
  'nothing to sign off: the termination was rescinded (HR and IT decide in the rescission review)';

/** The verification checkpoint of a departure, as the status query shows it. */
export interface VerificationView {
  /** When the report is (or was) compiled: trigger (or end of a notice period) + reportAfterHours. */
  reportAt: string;
  /** When an unresolved red escalates to the department head. */
  redEscalationAt: string;
  report: {
    reportId: string;
    compiledAt: string;
    /** Acknowledgments are due by then (one business day); reminders and escalation after. */
    ackDueAt: string;
    items: ReportItem[];
  } | null;
  /** The live access audit run for the report. */
  reportAudit: AccessAudit | null;
  acknowledgments: { hr: Acknowledgment | null; it: Acknowledgment | null };
  nextReminderAt: string | null;
  reminders: number;
  ackEscalated: boolean;
  redEscalated: boolean;
  /** When the red escalation was due and checked (escalated or nothing red): it is not checked again. */
  redEscalationCheckedAt?: string | null;
  resolutions: Resolution[];
  /** The live access audit run when everything else was signed off (done needs zero active accounts). */
  finalAudit: AccessAudit | null;
  /** Item ids that still need a resolution. */
  unresolved: string[];
  /** What still stands between the departure and "done", in words. */
  outstanding: string[];
  done: boolean;
}
