/**
 * The contract between workflow, worker, server and CLI: task queue names, message definitions,
 * workflow-id helpers and the input/status types. Clients import from here, never from `workflows/`.
 *
 * Only `define*` helpers are imported from `@temporalio/workflow` and `@temporalio/common`: they are
 * plain data and safe to use from client code.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { MATCH_ERROR_TYPES, type MatchEvidence } from './match';

export * from './match';

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
  /**
   * Set by the starter (since 2026-11-27): the workflow takes the `lean-start` path without recording
   * `patched('lean-start')`, a marker and the SDK's `TemporalChangeVersion` upsert (a visibility write)
   * at every start. Offboardings started before it replay through the patch they recorded; a run
   * started without it (by hand) records the patch as before. Carried into continued runs.
   */
  leanStart?: true;
  /**
   * Set only by the workflow itself when it continues as new while waiting for sign-off: everything
   * it had done, so the new run picks up where the old one stopped.
   */
  resume?: OffboardingResume;
}

/**
 * The input a new offboarding starts with, from its departure record: the one place it is built (the
 * API's starter and the tests), so every new start carries `leanStart`.
 */
export function offboardingInput(d: {
  id: string;
  employeeId: string;
  terminationType: string;
  confirmedAt: Date;
  lastDay: string | null;
}): OffboardingInput {
  return {
    departureId: d.id,
    employeeId: d.employeeId,
    terminationType: d.terminationType as TerminationType,
    confirmedAt: d.confirmedAt.toISOString(),
    lastDay: d.lastDay,
    leanStart: true,
  };
}

/** The state an offboarding carries into a new run (continue-as-new) while it waits for sign-off. */
export interface OffboardingResume {
  plan: RevocationPlan;
  steps: { plan: PlannedStep; view: StepView }[];
  lastDay: string | null;
  revokeRestAt: string | null;
  assets: AssetView[];
  documents: DocumentView[];
  verification: VerificationView;
  /** How many runs came before this one. */
  runs: number;
}

/**
 * Step colours. `pending`/`running` are not yet decided; `green` = confirmed by reading the target back;
 * `yellow` = action taken, confirmation pending (e.g. a ticket is open); `red` = failed or timed out;
 * `halted` = never run because the termination was rescinded.
 */
export type StepStatus = 'pending' | 'running' | 'green' | 'yellow' | 'red' | 'halted';

/** How a system's revocation is carried out. */
export type Integration = 'api' | 'ticket' | 'manual';

/**
 * What a step does: revoke the employee's access in a system; find the credentials the employee owns
 * there (app registrations, service accounts); or revoke one such owned credential.
 */
export type StepKind = 'revoke' | 'discover_owned' | 'revoke_owned';

/** A credential the leaver owns in a system, found by a `discover_owned` step. */
export interface OwnedCredentialRef {
  id: string;
  kind: string;
  name: string;
}

/** One revocation step as planned from the catalog (recorded in history by the plan activity). */
export interface PlannedStep {
  /** Unique within the departure: `<systemId>` or `<systemId>/<action>`. */
  stepId: string;
  kind: StepKind;
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
  /** Privileged systems (and owned credentials) are revoked at once even during a notice period. */
  privileged: boolean;
  /** The system's own task queue when it has a rate limit; null = the workflow's queue. */
  taskQueue: string | null;
  /** For `revoke_owned` steps: the credential. */
  owned: OwnedCredentialRef | null;
  /**
   * Runs as a local activity (in the worker running the workflow, inside its workflow task) rather
   * than as an activity task. Absent in plans made before the option existed: ordinary activity.
   */
  local?: boolean;
}

/** The plan of one departure's revocation. */
export interface RevocationPlan {
  steps: PlannedStep[];
  /**
   * A voluntary departure whose last day has not ended: the end of that day in the company's time zone,
   * when the non-privileged systems are revoked. Null = everything at once.
   */
  revokeRestAt: string | null;
  /** What the document phase needs from the catalog (recorded in history with the plan). */
  documents: { ndaReminderEveryHours: number; ndaDeadlineDays: number; dataSourceIds: string[] };
  /** The verification checkpoint's settings (absent from plans recorded before the checkpoint existed). */
  verification?: VerificationSettings;
  /**
   * Each revocation pass runs first as one activity (`sweepRevocations`) that tries every step once, in
   * order; only what it leaves (a failed step, the steps after a failed ordered one) runs step by step.
   * Absent in plans made before the sweep existed (or with WORKER_REVOCATION_SWEEP=false): step by step.
   */
  sweep?: boolean;
  /**
   * The sweep runs as a local activity, in the workflow task that planned (or that the last day's timer
   * woke): no activity task through Temporal's matching and no second workflow task per pass
   * (WORKER_REVOCATION_SWEEP_LOCAL, default true). Absent in plans made before it: an ordinary activity.
   */
  localSweep?: boolean;
  /**
   * The follow-up work (asset recovery, documents) starts with one activity, `firstFollowupRound`, that
   * does the first round of every part and reports what it did; the rest (and whatever it could not do)
   * runs as before, an activity per part (WORKER_FOLLOWUP_FIRST_ROUND, default true). Absent in plans
   * made before it: an activity per part from the start.
   */
  firstRound?: boolean;
  /**
   * Status `revoking` is not upserted after planning: the local sweep runs in the same workflow task,
   * so that upsert would reach Temporal together with the status after the sweep (one visibility write
   * fewer per offboarding). Set with `localSweep`; absent in plans made before (they upsert it).
   */
  quietRevoking?: boolean;
}

/**
 * Names of the document parts of an offboarding's first follow-up round (`RevocationPlan.firstRound`),
 * as its result reports them done (`archive:<sourceId>` per data source).
 */
export const FIRST_ROUND_PARTS = {
  notifications: 'notifications',
  exitSurvey: 'exit_survey',
  archive: (sourceId: string) => `archive:${sourceId}`,
  archiveConfirmation: 'archive_confirmation',
  nda: 'nda',
} as const;

/** What `sweepRevocations` is given: one revocation pass of a departure. */
export interface SweepInput {
  departureId: string;
  /** Identity, directory, VPN, MFA, then the searches for owned credentials: strictly one after another. */
  ordered: PlannedStep[];
  /** The applications: concurrently (with the owned credentials the searches find). */
  applications: PlannedStep[];
}

/** What became of one step in a sweep. */
export type SweepStepResult =
  | ({ stepId: string; startedAt: string } & StepOutcome)
  | {
      stepId: string;
      startedAt: string;
      outcome: 'failed';
      /** `<ErrorType>: <message>`, as a failed step activity reports it. */
      error: string;
      /** The error is of a kind retrying cannot help (NON_RETRYABLE_ERROR_TYPES). */
      nonRetryable: boolean;
      /** The target asked for this long before the next call (HTTP 429 Retry-After). */
      retryAfterMs: number | null;
    }
  | { stepId: string; outcome: 'halted' };

/**
 * The result of a sweep, in the order the steps ran. A step with no result was not tried (the sweep
 * stopped at a failed ordered step): the workflow runs it step by step.
 */
export interface SweepResult {
  results: SweepStepResult[];
  /** The owned credentials found, one step each (their results are in `results` when tried). */
  discovered: PlannedStep[];
}

/** One row of the step table. */
export interface StepView {
  stepId: string;
  kind: StepKind;
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

/** What a revocation activity reports when it finishes. */
export interface StepOutcome {
  /** `confirmed`: the target was read back and shows no access. `ticket_opened`: waiting for a human. */
  outcome: 'confirmed' | 'ticket_opened';
  /** For `discover_owned` steps: one step per credential found. */
  discovered?: PlannedStep[];
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

/** The HRIS moved the last working day (payload of `lastDayChangedSignal`). */
export interface LastDayChange {
  /** New last day, YYYY-MM-DD. */
  lastDay: string;
  /** Where the change came from, e.g. `hris:<webhook-id>`. */
  source: string;
}

/** The termination was rescinded (payload of `rescindSignal`). */
export interface Rescission {
  /** ISO instant the rescission was received. */
  at: string;
  /** Who rescinded: `hris:<webhook-id>` or `operator:<name>`. */
  by: string;
  reason: string;
}

/** The status of an offboarding: its step table. */
export const statusQuery = defineQuery<OffboardingStatus>('status');

/** A ticket or manual task was completed by the system's owner (event from outside: a signal). */
export const confirmTicketSignal = defineSignal<[TicketConfirmation]>('confirmTicket');

/** The HRIS moved the last day: the end-of-notice timer moves with it (event from outside). */
export const lastDayChangedSignal = defineSignal<[LastDayChange]>('lastDayChanged');

/**
 * The HRIS filled in or corrected a contact address of the departure (payload of
 * `contactUpdatedSignal`). It names the fields, never the addresses: the activities read them from the
 * departure, so no personal data enters the history.
 */
export interface ContactUpdate {
  /** Which of `personalEmail`, `managerEmail`, `departmentHeadEmail` changed. */
  fields: string[];
  /** Who sent it: `hris:<webhook-id>` or the operator. */
  source: string;
}

/**
 * A contact address was filled in or corrected (event from outside): what failed for want of it (the
 * exit survey, the NDA, a remote asset's return request) is sent again to the address on file now.
 */
export const contactUpdatedSignal = defineSignal<[ContactUpdate]>('contactUpdated');

/**
 * The termination was rescinded: whatever has not yet run is halted and a review opened for HR and IT.
 * Nothing is re-enabled automatically.
 */
export const rescindSignal = defineSignal<[Rescission]>('rescind');

/**
 * Activity error types that retrying cannot fix. The classes live in `activities/errors.ts`; their
 * names are listed here so workflows can put them in `nonRetryableErrorTypes` without importing them.
 */
export const NON_RETRYABLE_ERROR_TYPES = [
  'TargetAuthError',
  'TargetRejectedError',
  'UnknownSystemError',
  'DepartureNotFoundError',
  ...Object.values(MATCH_ERROR_TYPES),
] as const;

// ---------------------------------------------------------------- asset recovery and documents

/** The IT desk received a returned asset (payload of `assetReceivedSignal`). */
export interface AssetReceipt {
  assetTag: string;
  receivedBy: string;
  /** e.g. good | damaged | missing_parts | wiped */
  condition: string;
  inspectedBy: string;
  notes: string;
}

/** An asset to recover, as planned by the asset activities (ids only; no personal data). */
export interface AssetToRecover {
  recoveryId: string;
  assetTag: string;
  assetName: string;
}

/** The recovery plan of a departure: route, assets and the two escalation deadlines (ISO instants). */
export interface AssetRecoveryPlan {
  route: 'remote' | 'in_office';
  assets: AssetToRecover[];
  /** End of the return window (business days, holidays excluded): then the IT owner is told. */
  dueAt: string;
  /** End of the second window: then the department head is told and a recovery plan recorded. */
  secondDueAt: string;
}

/** The IT desk received an asset (event from outside: a signal). */
export const assetReceivedSignal = defineSignal<[AssetReceipt]>('assetReceived');

/**
 * A data source's owner reports the leaver's data archived (payload of `archiveConfirmedSignal`): the
 * built-in manual archive connector tasks the owner and keeps the archive `pending` until this arrives.
 */
export interface ArchiveConfirmation {
  sourceId: string;
  /** How many items the owner archived. */
  items: number;
  /** Who confirmed it (the operator recording the owner's word). */
  confirmedBy: string;
  note: string;
  at: string;
}

/** An archive of a data source was confirmed (event from outside: a signal). */
export const archiveConfirmedSignal = defineSignal<[ArchiveConfirmation]>('archiveConfirmed');

/** A document was signed on the built-in signing page (event from outside: a signal). */
export interface DocumentSigned {
  documentId: string;
  type: 'nda_acknowledgment';
  signedAt: string;
}
export const documentSignedSignal = defineSignal<[DocumentSigned]>('documentSigned');

/** One asset's recovery as the status query shows it. */
export interface AssetView {
  recoveryId: string;
  assetTag: string;
  assetName: string;
  route: 'remote' | 'in_office';
  status: 'pending' | 'requested' | 'received' | 'escalated_it' | 'escalated_department_head' | 'failed';
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
  status: 'pending' | 'sent' | 'signed' | 'generated' | 'delivered' | 'answered' | 'expired' | 'failed';
  updatedAt: string;
  lastError: string | null;
  /** SHA-256 of the stored document, once there is one. */
  sha256?: string;
}

/** An operator asks to run red steps again (payload of `redriveUpdate`). */
export interface RedriveRequest {
  /** Step ids to re-drive; omitted = every red step. */
  stepIds?: string[];
  requestedBy: string;
  reason: string;
}

/**
 * Re-drives red revocation steps of a running offboarding (after the fault is fixed): the validator
 * refuses unknown or non-red steps and offboardings not in a phase that can re-run them; the answer lists
 * the steps accepted. They run again with their system's retry policy and turn green or red again.
 */
export const redriveUpdate = defineUpdate<{ accepted: string[] }, [RedriveRequest]>('redrive');

// ---------------------------------------------------------------- verification checkpoint

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

/**
 * How a red or yellow item was resolved. `no_account`: the person had no account in that system (only
 * for a step whose account was not found, and the only way to accept that without a re-drive or a fix).
 */
export const RESOLUTION_KINDS = [
  'fixed_by_hand',
  'redriven_confirmed',
  'accepted_risk',
  'no_account',
] as const;
export type ResolutionKind = (typeof RESOLUTION_KINDS)[number];

/** A logged resolution of a red or yellow report item. */
export interface Resolution {
  itemId: string;
  how: ResolutionKind;
  note: string;
  by: string;
  role: string;
  at: string;
}

/** The two functions that sign a report off. */
export const SIGNOFF_ROLES = ['hr', 'it'] as const;
export type SignoffRole = (typeof SIGNOFF_ROLES)[number];

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

/** What the verification settings of a departure are (from the catalog, recorded with the plan). */
export interface VerificationSettings {
  /** When the departure was received (the trigger): the anchor of the report and escalation times. */
  triggerAt: string;
  reportAfterHours: number;
  redEscalationAfterHours: number;
  /** Continue-as-new once a run's history has this many events (or the server suggests it). */
  continueAsNewAfterEvents: number;
  /**
   * The report also waits until the paperwork has started (the documents are listed), so a report due
   * at once (a last day moved into the past, a very short reportAfterHours) still lists every document.
   * Absent in plans made before: they compiled as soon as the revocation pass was done.
   */
  afterPaperwork?: boolean;
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

/** HR or IT acknowledges the verification report (payload of `acknowledgeUpdate`). */
export interface AcknowledgeRequest {
  /** The departure the caller means (a rehired employee's later offboarding has the same workflow id). */
  departureId: string;
  role: SignoffRole;
  by: string;
  note?: string;
}
export interface AcknowledgeResult {
  acknowledgment: Acknowledgment;
  /** True when this role had already acknowledged: the first acknowledgment stands. */
  alreadyAcknowledged: boolean;
}

/** An operator resolves a red or yellow report item (payload of `resolveUpdate`). */
export interface ResolveRequest {
  /** The departure the caller means (a rehired employee's later offboarding has the same workflow id). */
  departureId: string;
  itemId: string;
  how: ResolutionKind;
  note: string;
  by: string;
  role: string;
}

/**
 * Rejections of the operator updates carry one of these failure types, so a client can tell a missing
 * item from a state conflict from a request the state cannot accept (the API maps them to 404/409/422).
 */
export const UPDATE_REJECTIONS = {
  notFound: 'NotFound',
  conflict: 'Conflict',
  unprocessable: 'Unprocessable',
} as const;

/**
 * HR or IT acknowledges the verification report. The validator refuses a role other than hr/it and an
 * acknowledgment before the report exists; a second acknowledgment of the same role is answered with
 * the first (`alreadyAcknowledged`), not recorded again.
 */
export const acknowledgeUpdate = defineUpdate<AcknowledgeResult, [AcknowledgeRequest]>('acknowledge');

/**
 * Resolves a red or yellow item of the verification report with a note. The validator refuses unknown
 * items, items that need no resolution, second resolutions, and `redriven_confirmed` for a step that is
 * not confirmed (green) now. The note lands in the audit table.
 */
export const resolveUpdate = defineUpdate<Resolution, [ResolveRequest]>('resolve');
