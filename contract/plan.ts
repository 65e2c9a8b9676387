/**
 * What a workflow is started with and plans: its input, the revocation plan recorded in history, the
 * steps and what their activities report, and the error types retrying cannot help.
 */
import { MATCH_ERROR_TYPES } from './match';
import type { AssetView, DocumentView, StepView, VerificationView } from './views';
import type { TerminationType } from './messages';

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

/** How a system's revocation is carried out. */
export const INTEGRATIONS = ['api', 'ticket', 'manual'] as const;
export type Integration = (typeof INTEGRATIONS)[number];

/**
 * What a step does: revoke the employee's access in a system; find the credentials the employee owns
 * there (app registrations, service accounts); revoke one such owned credential; or, during a notice
 * period, scope the account (admin roles and privileged groups removed, the account kept working).
 */
export const STEP_KINDS = ['revoke', 'discover_owned', 'revoke_owned', 'scope'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

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
  /** The catalog marks the system privileged (see `atOnce`). */
  privileged: boolean;
  /**
   * Runs at once during a notice period (a scope step, a system whose `notice` is `revoke`, the owned
   * credentials); the others wait for the end of the last day. Absent in plans made before notice
   * scoping (2026-12-08): `privileged` decided. Read it through `runsAtOnce`.
   */
  atOnce?: boolean;
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
   * Absent in plans made before the sweep existed: step by step.
   */
  sweep?: boolean;
  /**
   * The sweep runs as a local activity, in the workflow task that planned (or that the last day's timer
   * woke): no activity task through Temporal's matching and no second workflow task per pass
   * Absent in plans made before it: an ordinary activity.
   */
  localSweep?: boolean;
  /**
   * The follow-up work (asset recovery, documents) starts with one activity, `firstFollowupRound`, that
   * does the first round of every part and reports what it did; the rest (and whatever it could not do)
   * runs as before, an activity per part. Absent in plans
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

export interface StepRef {
  departureId: string;
  systemId: string;
  action: string;
  /**
   * Attempts already made outside this activity (a sweep's try): the attempt numbers recorded and
   * reported continue from there. Absent = none.
   */
  priorAttempts?: number;
}

export interface StepFailure extends StepRef {
  /** `ticket_declined`: the step's service desk ticket was closed as not done. */
  reason: 'retries_exhausted' | 'non_retryable' | 'sla_breached' | 'ticket_declined';
  error: string;
  attempts: number;
  /** `ticket_declined`: who closed it, as the desk says (e.g. `jira:HR-123 (resolved by …)`). */
  closedBy?: string;
}

/** A search for owned credentials; the steps it finds run on the same task queue as the search. */
export interface DiscoverRef extends StepRef {
  taskQueue: string | null;
}

/** A step that revokes one credential the leaver owns. */
export interface OwnedStepRef extends StepRef {
  owned: OwnedCredentialRef;
}

export interface TicketDone extends StepRef {
  ticketId: string;
  confirmedBy: string;
  note: string;
  /** `desk`: read back closed as done in the system's service desk (absent: an operator confirmed). */
  source?: 'desk';
}

/** The activities that run a step, one per step kind. */
export interface StepRunners<R> {
  revoke(ref: StepRef): R;
  discover_owned(ref: DiscoverRef): R;
  revoke_owned(ref: OwnedStepRef): R;
  scope(ref: StepRef): R;
}

/**
 * Does this step run at once during a notice period? Plans since notice scoping say so per step
 * (`atOnce`); older ones revoked the privileged systems (and owned credentials) at once.
 */
export function runsAtOnce(p: Pick<PlannedStep, 'atOnce' | 'privileged'>): boolean {
  return p.atOnce ?? p.privileged;
}

/**
 * Runs a planned step with the runner for its kind: the one place that says which input each kind
 * gets. The workflow passes its step activities; a sweep passes the same functions in-process.
 */
export function runStepWith<R>(p: PlannedStep, ref: StepRef, run: StepRunners<R>): R {
  switch (p.kind) {
    case 'scope':
      return run.scope(ref);
    case 'revoke':
      return run.revoke(ref);
    case 'discover_owned':
      return run.discover_owned({ ...ref, taskQueue: p.taskQueue });
    case 'revoke_owned':
      return run.revoke_owned({ ...ref, owned: p.owned! });
  }
}

/**
 * A pass's steps in PRODUCT order: the identity provider, directory, VPN and MFA steps (in plan order),
 * then the searches for credentials the leaver owns, strictly one after another; and the applications,
 * swept concurrently. The one place that order is decided: the workflow's step-by-step pass and the
 * sweep activity's input both come from it.
 */
export function passOrder(batch: PlannedStep[]): { ordered: PlannedStep[]; applications: PlannedStep[] } {
  const onAccount = (p: PlannedStep) => p.kind === 'revoke' || p.kind === 'scope';
  const isApp = (p: PlannedStep) => onAccount(p) && p.tier === 'application';
  return {
    ordered: [
      ...batch.filter((p) => onAccount(p) && !isApp(p)),
      ...batch.filter((p) => p.kind === 'discover_owned'),
    ],
    applications: batch.filter(isApp),
  };
}

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
