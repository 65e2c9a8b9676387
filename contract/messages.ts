/**
 * Messages to a running offboarding (signals, updates, the status query) and their payloads, with the
 * HRIS event's vocabulary. Only `define*` helpers come from `@temporalio/workflow`: plain data, safe in
 * client code.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Acknowledgment, OffboardingStatus } from './views';

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

/**
 * Payload of `confirmTicketSignal`: a system's owner confirms the manual revocation is done, or a
 * service desk ticket was read back closed (`confirmedBy` names the desk, e.g. `jira:HR-123 (resolved
 * by Alex Agent)`). `outcome` `not_done` (only from a desk: closed as Won't Do, Declined, Closed
 * Incomplete, …) turns the step red with the desk's words in `note`. Absent: `done`.
 */
export interface TicketConfirmation {
  systemId: string;
  ticketId: string;
  confirmedBy: string;
  note: string;
  outcome?: 'done' | 'not_done';
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

/** The IT desk received a returned asset (payload of `assetReceivedSignal`). */
export interface AssetReceipt {
  assetTag: string;
  receivedBy: string;
  /** e.g. good | damaged | missing_parts | wiped */
  condition: string;
  inspectedBy: string;
  notes: string;
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

/** What one reconciliation run with an HR system found and did (workflows/hris-reconcile.ts). */
export interface ReconciliationSummary {
  vendor: string;
  /** Employees the vendor listed as changed since the last run. */
  checked: number;
  /** Departures started (queued) by the reconciliation: the HR system's notification did not arrive. */
  missed: { employeeId: string; departureId: string }[];
  /** Departures the reconciliation rescinded (the termination is gone from the HR system). */
  rescinded: { employeeId: string; departureId: string }[];
  /** Open departures the reconciliation updated (a last day or an address no webhook announced). */
  updated: { employeeId: string; departureId: string }[];
  /** Records nothing was done for, and why (inactive without a date, invalid, …), for HR. */
  unclear: { employeeId: string; reason: string }[];
  cursor: string;
}

/** The data-quality findings reported to HR, never acted on. */
export interface DataQualityFindings {
  duplicates: string[][];
  terminatedWithoutDate: string[];
  sharedWorkEmails: { email: string; employeeIds: string[] }[];
  statusFlips: { employeeId: string; from: string; to: string }[];
}
