/**
 * Tickets to a system's owner where there is no API (or the catalog asks for a person): opened, mailed,
 * the step yellow until the owner confirms, then green. With a service desk (`connector.desk`: Jira
 * Service Management or ServiceNow) the ticket is also opened there, once (found again by its marker
 * after a crash), and closing it there confirms the step (activities/desk/checks.ts).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { OwnedCredentialRef, StepOutcome, StepRef, TicketDone } from '../../contract';
import type { CatalogSystem } from '../../config/catalog';
import { audit } from '../../lib/db';
import type { Subject } from '../connector';
import type { DeskClient, DeskRegistry, DeskTicketRef } from '../desk';
import { TargetThrottledError } from '../errors';
import { SETTLED_STEP_STATUSES, truncate, type RevocationContext } from './context';

const DESK_NAMES = { jira: 'Jira Service Management', servicenow: 'ServiceNow' } as const;

/** Opens tickets for steps and closes them when their owner confirms. */
export function createTickets(ctx: RevocationContext, desks: DeskRegistry) {
  const { db, mailer, whileDatabaseDown, attemptOf, stepWhere, publicUrl } = ctx;

  /**
   * The desk ticket of an Offboard ticket: the one on record, else the one an earlier attempt opened
   * (found by its marker), else a new one. Its reference is kept on the Offboard ticket at once.
   */
  async function deskTicket(
    desk: DeskClient,
    ticket: { id: string; deskRef: string | null; deskUrl: string | null },
    what: { summary: string; description: string; dueAt: Date },
  ): Promise<DeskTicketRef> {
    if (ticket.deskRef && ticket.deskUrl)
      return { ref: ticket.deskRef, key: ticket.deskRef, url: ticket.deskUrl };
    const made = (await desk.find(ticket.id)) ?? (await desk.create({ ticketId: ticket.id, ...what }));
    await whileDatabaseDown(() =>
      db.ticket.updateMany({
        where: { id: ticket.id, deskRef: null },
        data: { deskKind: desk.kind, deskRef: made.ref, deskUrl: made.url },
      }),
    );
    return made;
  }

  async function openTicket(
    ref: StepRef,
    sys: CatalogSystem,
    who: Subject,
    owned?: OwnedCredentialRef,
  ): Promise<{ id: string; due: Date; desk: (DeskTicketRef & { kind: DeskClient['kind'] }) | null }> {
    const key = owned ? `${ref.departureId}:${sys.id}:${ref.action}` : `${ref.departureId}:${sys.id}`;
    const slaHours = owned ? (sys.ownedCredentials?.ticketSlaHours ?? 24) : (sys.ticketSlaHours ?? 24);
    const due = new Date(Date.now() + slaHours * 3_600_000);
    const summary = owned
      ? `Service ticket: ${who.employeeName} (${who.employeeId}) owns ${owned.kind} "${owned.name}" in ${sys.name}: rotate its secrets and give it a new owner`
      : `${sys.integration === 'manual' ? 'Manual task' : 'Service ticket'}: revoke all access of ${who.employeeName} (${who.employeeId}) in ${sys.name}`;
    const ticket = await db.ticket.upsert({
      where: { key },
      create: {
        key,
        departureId: ref.departureId,
        systemId: sys.id,
        summary,
        ownerName: sys.owner.name,
        ownerEmail: sys.owner.email,
        slaDueAt: due,
      },
      update: {},
    });
    // A credential the leaver owns stays in the built-in queue: only a ticket system has a desk.
    const client = owned ? null : desks.of(sys);
    const desk = client
      ? {
          kind: client.kind,
          ...(await deskTicket(client, ticket, {
            // The leaver's name and employee id only: no personal or work address goes to the desk.
            summary: `Revoke all access of ${who.employeeName} (${who.employeeId}) in ${sys.name} by ${ticket.slaDueAt.toISOString()}`,
            description: [
              `Offboard asks for every access of ${who.employeeName} (employee id ${who.employeeId}) in ${sys.name} to be revoked (step ${ref.action}).`,
              `Due (SLA ${slaHours} h): ${ticket.slaDueAt.toISOString()}.`,
              '',
              'Close this ticket as done once the access is removed: Offboard reads it back and confirms the step.',
              client.kind === 'jira'
                ? "If it cannot be done, close it with the resolution Won't Do or Declined: the step turns red for its owner."
                : 'If it cannot be done, close it as Closed Incomplete or Closed Skipped: the step turns red for its owner.',
              '',
              `Offboard ticket: ${ticket.id}`,
            ].join('\n'),
            dueAt: ticket.slaDueAt,
          })),
        }
      : null;
    await mailer.send({
      key: `ticket:${ticket.id}:opened`,
      departureId: ref.departureId,
      purpose: 'ticket_opened',
      to: sys.owner.email,
      subject: `[Offboard] Action needed by ${ticket.slaDueAt.toISOString()}: revoke ${who.employeeName}'s access in ${sys.name}`,
      text: [
        `Hello ${sys.owner.name},`,
        '',
        `${summary}.`,
        owned
          ? 'The catalog asks for this to be done by its owner rather than automatically.'
          : `${sys.name} has no API Offboard can use, so this is yours to do by hand.`,
        '',
        `Ticket: ${ticket.id}`,
        `Employee: ${who.employeeName} (${who.employeeId}, ${who.workEmail})`,
        `Due (SLA ${slaHours} h): ${ticket.slaDueAt.toISOString()}`,
        '',
        ...(desk
          ? [
              `It is also in ${DESK_NAMES[desk.kind]} as ${desk.key}: ${desk.url}`,
              'Close it there as done when the account is disabled: Offboard reads it back and confirms the step.',
              '',
              'Or confirm it here (an operator token with role it or admin):',
            ]
          : ['When the account is disabled, confirm it (an operator token with role it or admin):']),
        `  curl -X POST -H 'authorization: Bearer <token>' -H 'content-type: application/json' \\`,
        `    -d '{"note":"what you did"}' ${publicUrl}/tickets/${ticket.id}/confirm`,
        '',
        `If it is not confirmed by the due time the step turns red and ${sys.escalationOwner.name} is told.`,
      ].join('\n'),
    });
    return { id: ticket.id, due: ticket.slaDueAt, desk };
  }

  /** Opens (or finds) the step's ticket and records the step yellow. */
  async function ticketOpened(
    ref: StepRef,
    sys: CatalogSystem,
    who: Subject,
    owned?: OwnedCredentialRef,
  ): Promise<StepOutcome> {
    let t;
    try {
      t = await whileDatabaseDown(() => openTicket(ref, sys, who, owned));
    } catch (e) {
      // The desk refused or could not be reached: the step says why, and is retried by its policy.
      const message = truncate(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
      await db.stepRecord
        .updateMany({
          where: { ...stepWhere(ref).departureId_systemId_action, status: { notIn: SETTLED_STEP_STATUSES } },
          data: { lastError: message },
        })
        .catch(() => undefined);
      Context.current().log.warn('ticket not opened', {
        systemId: sys.id,
        action: ref.action,
        error: message,
      });
      if (e instanceof TargetThrottledError)
        throw ApplicationFailure.create({
          type: e.name,
          message: e.message,
          nextRetryDelay: Math.max(e.retryAfterMs, 1),
        });
      throw e;
    }
    const actedAt = new Date();
    const inDesk = t.desk ? `; in ${t.desk.kind} as ${t.desk.key}` : '';
    const detail = `ticket ${t.id} opened for ${sys.owner.name}, due ${t.due.toISOString()}${inDesk}`;
    const desk = t.desk ? { desk: { kind: t.desk.kind, ref: t.desk.ref, url: t.desk.url } } : {};
    await whileDatabaseDown(() =>
      db.stepRecord.update({
        where: stepWhere(ref),
        data: {
          status: 'yellow',
          actedAt,
          lastError: null,
          evidence: { ticketId: t.id, slaDueAt: t.due, ...desk },
        },
      }),
    );
    return {
      outcome: 'ticket_opened',
      attempts: attemptOf(ref),
      actedAt: actedAt.toISOString(),
      confirmedAt: null,
      detail,
      ticketId: t.id,
    };
  }

  return {
    ticketOpened,
    /** Marks a ticket step green once the owner confirmed the manual revocation (or its desk did). */
    async completeTicketStep(t: TicketDone): Promise<void> {
      const now = new Date();
      await db.ticket.updateMany({
        where: { id: t.ticketId, status: { not: 'done' } },
        data: { status: 'done', closedBy: t.confirmedBy, closedAt: now, note: t.note },
      });
      await db.stepRecord.update({
        where: stepWhere(t),
        data: {
          status: 'green',
          confirmedAt: now,
          finishedAt: now,
          evidence: { ticketId: t.ticketId, confirmedBy: t.confirmedBy, note: t.note },
        },
      });
      await audit(db, {
        actor: t.source === 'desk' ? `desk:${t.confirmedBy}` : `operator:${t.confirmedBy}`,
        action: 'ticket_confirmed',
        departureId: t.departureId,
        details: { systemId: t.systemId, ticketId: t.ticketId, note: t.note },
      });
    },
  };
}
