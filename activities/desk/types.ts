/**
 * What a service desk client does for a ticket step (activities/desk/jira.ts, servicenow.ts): find the
 * desk ticket an earlier attempt opened (by the idempotency marker), open one, and read one back.
 */
import type { TicketDesk } from '../../contract';
import { header, type Headers } from '../http-json';
import { retryAfterMs } from '../errors';

/** What a desk ticket says: no personal email, only the leaver's name and employee id. */
export interface DeskTicketInput {
  /** The Offboard ticket id: the idempotency marker the desk ticket carries. */
  ticketId: string;
  summary: string;
  description: string;
  /** The SLA: when the step turns red if the ticket is not closed. */
  dueAt: Date;
}

/** A desk ticket: its reference (Jira issue key, ServiceNow sys_id), human key and link. */
export interface DeskTicketRef {
  ref: string;
  key: string;
  url: string;
}

/**
 * A desk ticket read back: still open; closed as done or as not done (with the desk's words and who
 * closed it); or gone (404: deleted, or no longer visible to Offboard's account).
 */
export type DeskReadBack =
  | { state: 'open'; key: string; status: string }
  | { state: 'done' | 'not_done'; key: string; words: string; by: string | null }
  | { state: 'missing'; key: string };

export interface DeskClient {
  readonly kind: TicketDesk;
  /** The desk ticket carrying the marker of this Offboard ticket, if an earlier attempt opened one. */
  find(ticketId: string): Promise<DeskTicketRef | null>;
  /** Opens a desk ticket carrying the marker. */
  create(t: DeskTicketInput): Promise<DeskTicketRef>;
  /** Reads a desk ticket back by its reference. */
  read(ref: string): Promise<DeskReadBack>;
  close(): Promise<void>;
}

/** The idempotency marker of an Offboard ticket in a desk (a Jira label, a ServiceNow correlation id). */
export const deskMarker = (ticketId: string) => `offboard-${ticketId}`;

/**
 * Milliseconds a throttled desk asks to wait: `Retry-After` (seconds or an HTTP date) first, else the
 * reset instant (`X-RateLimit-Reset`: ISO 8601 from Jira, Unix seconds from ServiceNow) measured
 * against the answer's own `Date`, else `fallbackMs`.
 */
export function deskRetryMs(h: Headers, fallbackMs = 5_000, now = Date.now()): number {
  const retryAfter = header(h, 'retry-after');
  if (retryAfter) return retryAfterMs(retryAfter, fallbackMs);
  const reset = header(h, 'x-ratelimit-reset');
  if (reset) {
    const date = Date.parse(header(h, 'date') ?? '');
    const base = Number.isFinite(date) ? date : now;
    const at = /^\d+$/.test(reset) ? Number(reset) * 1000 : Date.parse(reset);
    if (Number.isFinite(at)) return Math.max(0, at - base);
  }
  return fallbackMs;
}

/** Cuts a text to what a desk field takes. */
export const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
