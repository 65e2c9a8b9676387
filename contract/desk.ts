/**
 * Service desk tickets (Jira Service Management, ServiceNow; config/desk.ts, docs/configuration.md):
 * the workflow that reads desk tickets back and tells each offboarding, its schedule and its ids.
 */

/** Workflow type that reads open desk tickets back (workflows/desk-tickets.ts). */
export const DESK_TICKETS_WORKFLOW = 'deskTicketsWorkflow';

/** Input of `deskTicketsWorkflow`: the tickets a verified webhook named; none = every open desk ticket. */
export interface DeskCheckInput {
  ticketIds?: string[];
}

/** One desk ticket read back closed: what the offboarding is told (`confirmTicketSignal`). */
export interface DeskVerdict {
  ticketId: string;
  systemId: string;
  /** The offboarding's workflow id (the departure's). */
  workflowId: string;
  outcome: 'done' | 'not_done';
  /** The desk and who closed it, e.g. `jira:HR-123 (resolved by Alex Agent)`. */
  confirmedBy: string;
  /** The desk's own words: the resolution or close state and notes. */
  note: string;
}

/** What one read-back found. */
export interface DeskCheckResult {
  /** Desk tickets read back. */
  checked: number;
  /** Those closed, done or not (each is signalled to its offboarding). */
  verdicts: DeskVerdict[];
  /** Tickets that could not be read (the desk answered an error): read again on the next run. */
  failed: { ticketId: string; error: string }[];
}

/** The Temporal schedule that polls the desks for the deployment serving `taskQueue`. */
export function deskTicketsScheduleId(taskQueue: string): string {
  return `desk-tickets.${taskQueue}`;
}

/** Workflow id of a scheduled poll (the schedule appends the run's time). */
export function deskTicketsWorkflowId(taskQueue: string): string {
  return `desk-tickets:${taskQueue}`;
}

/** Workflow id of the read-back a webhook asks for, one per Offboard ticket. */
export function deskTicketCheckWorkflowId(ticketId: string): string {
  return `desk-ticket:${ticketId}`;
}
