/**
 * What the database's checked columns allow: one list (and union) per column, each compared with its
 * CHECK constraint by `test/evidence.test.ts`. The departure and step statuses live in `views.ts`, the
 * HRIS vocabulary and resolutions in `messages.ts`, tiers and step kinds in `plan.ts`; this module holds
 * the rest.
 */

/**
 * Where a trigger event came from: an HRIS webhook (canonical or a vendor's own), an operator's
 * `POST /departures`, or the scheduled reconciliation with an HR system's API (hris/, docs/hris.md).
 */
export const TRIGGER_SOURCES = ['hris', 'operator', 'reconciliation'] as const;
export type TriggerSource = (typeof TRIGGER_SOURCES)[number];

/**
 * How a trigger event's sender was verified (`operator`: an authenticated operator, not a signature;
 * `api_read`: Offboard read the record from the HR system's API itself, so there was no delivery to verify).
 */
export const SIGNATURE_RESULTS = ['valid', 'operator', 'missing', 'stale', 'invalid', 'api_read'] as const;
export type SignatureResult = (typeof SIGNATURE_RESULTS)[number];

/** What became of a trigger event. */
export const TRIGGER_OUTCOMES = [
  'invalid',
  'rejected',
  'ignored',
  'duplicate',
  'queued',
  'held',
  'updated',
  'rescinded',
  'started',
] as const;
export type TriggerOutcome = (typeof TRIGGER_OUTCOMES)[number];

/** HR systems with a native adapter (hris/, docs/hris.md): their endpoint, reconciliation and write-back. */
export const HRIS_VENDORS = ['bamboohr', 'hibob', 'personio'] as const;
export type HrisVendor = (typeof HRIS_VENDORS)[number];

/**
 * A ticket to a system's owner: open, done (the owner confirmed, or its service desk ticket was read
 * back closed as done), breached (its SLA passed), declined (its service desk ticket was closed as not
 * done: the step is red).
 */
export const TICKET_STATUSES = ['open', 'done', 'breached', 'declined'] as const;
export type TicketStatus = (typeof TICKET_STATUSES)[number];

/** The service desks a ticket can be opened in besides the built-in queue (config/desk.ts). */
export const TICKET_DESKS = ['jira', 'servicenow'] as const;
export type TicketDesk = (typeof TICKET_DESKS)[number];

/** Reviews HR and IT are asked for; today only the rescission review. */
export const REVIEW_KINDS = ['rescission'] as const;
export type ReviewKind = (typeof REVIEW_KINDS)[number];

/** A review stays open: what to restore is decided and done by hand, outside Offboard. */
export const REVIEW_STATUSES = ['open'] as const;
export type ReviewStatus = (typeof REVIEW_STATUSES)[number];

/** Messages for a workflow kept in the outbox until delivered (server/dispatcher). */
export const WORKFLOW_MESSAGE_KINDS = ['rescind', 'lastDayChanged', 'contactUpdated'] as const;
export type WorkflowMessageKind = (typeof WORKFLOW_MESSAGE_KINDS)[number];

/** `not_applicable`: the workflow had already closed, or never needed it. */
export const WORKFLOW_MESSAGE_STATUSES = ['pending', 'delivered', 'not_applicable'] as const;
export type WorkflowMessageStatus = (typeof WORKFLOW_MESSAGE_STATUSES)[number];

export const NOTIFICATION_STATUSES = ['pending', 'sent'] as const;
export type NotificationStatus = (typeof NOTIFICATION_STATUSES)[number];

/** An asset in the inventory (`lost` comes from an asset system: Offboard never writes it). */
export const ASSET_STATUSES = ['deployed', 'return_in_progress', 'returned', 'lost'] as const;
export type AssetStatus = (typeof ASSET_STATUSES)[number];

/** Where an asset comes from: the built-in inventory or Snipe-IT. */
export const ASSET_SOURCES = ['builtin', 'snipeit'] as const;
export type AssetSource = (typeof ASSET_SOURCES)[number];

/** How an asset comes back. */
export const ASSET_ROUTES = ['remote', 'in_office'] as const;
export type AssetRoute = (typeof ASSET_ROUTES)[number];

/** One asset's recovery as recorded (the workflow's view adds `failed`: its activity failed). */
export const ASSET_RECOVERY_STATUSES = [
  'pending',
  'requested',
  'received',
  'escalated_it',
  'escalated_department_head',
] as const;
export type AssetRecoveryStatus = (typeof ASSET_RECOVERY_STATUSES)[number];

/** Events of an asset's chain of custody. */
export const CUSTODY_EVENTS = [
  'label_issued',
  'requested',
  'marked_return_in_progress',
  'appointment_booked',
  'received',
  'checked_in',
  'escalated_it',
  'escalated_department_head',
] as const;
export type CustodyEvent = (typeof CUSTODY_EVENTS)[number];

/** A compliance document as recorded (the workflow's view adds `failed`: its activity failed). */
export const DOCUMENT_STATUSES = [
  'pending',
  'generated',
  'sent',
  'expired',
  'delivered',
  'signed',
  'answered',
] as const;
export type DocumentStatus = (typeof DOCUMENT_STATUSES)[number];

/** What a signed link is for. */
export const ACCESS_LINK_PURPOSES = ['nda_signature', 'exit_survey'] as const;
export type AccessLinkPurpose = (typeof ACCESS_LINK_PURPOSES)[number];

/** One data source's archive: waiting for its owner's word, or archived. */
export const ARCHIVE_STATUSES = ['pending', 'archived'] as const;
export type ArchiveStatus = (typeof ARCHIVE_STATUSES)[number];

/** `OperatorMessage.status`: claimed while being sent, sent once audited (server/workflow-calls.ts). */
export const OPERATOR_MESSAGE_STATUSES = ['claimed', 'sent'] as const;
export type OperatorMessageStatus = (typeof OPERATOR_MESSAGE_STATUSES)[number];
