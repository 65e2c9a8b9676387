/**
 * Tickets to a system's owner where there is no API (or the catalog asks for a person): opened, mailed,
 * the step yellow until the owner confirms, then green.
 */
import type { OwnedCredentialRef, StepOutcome, StepRef, TicketDone } from '../../contract';
import type { CatalogSystem } from '../../config/catalog';
import { audit } from '../../lib/db';
import type { Subject } from '../connector';
import type { RevocationContext } from './context';

/** Opens tickets for steps and closes them when their owner confirms. */
export function createTickets(ctx: RevocationContext) {
  const { db, mailer, whileDatabaseDown, attemptOf, stepWhere, publicUrl } = ctx;

  async function openTicket(
    ref: StepRef,
    sys: CatalogSystem,
    who: Subject,
    owned?: OwnedCredentialRef,
  ): Promise<{ id: string; due: Date }> {
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
        'When the account is disabled, confirm it (an operator token with role it or admin):',
        `  curl -X POST -H 'authorization: Bearer <token>' -H 'content-type: application/json' \\`,
        `    -d '{"note":"what you did"}' ${publicUrl}/tickets/${ticket.id}/confirm`,
        '',
        `If it is not confirmed by the due time the step turns red and ${sys.escalationOwner.name} is told.`,
      ].join('\n'),
    });
    return { id: ticket.id, due: ticket.slaDueAt };
  }

  /** Opens (or finds) the step's ticket and records the step yellow. */
  async function ticketOpened(
    ref: StepRef,
    sys: CatalogSystem,
    who: Subject,
    owned?: OwnedCredentialRef,
  ): Promise<StepOutcome> {
    const t = await whileDatabaseDown(() => openTicket(ref, sys, who, owned));
    const actedAt = new Date();
    const detail = `ticket ${t.id} opened for ${sys.owner.name}, due ${t.due.toISOString()}`;
    await whileDatabaseDown(() =>
      db.stepRecord.update({
        where: stepWhere(ref),
        data: { status: 'yellow', actedAt, lastError: null, evidence: { ticketId: t.id, slaDueAt: t.due } },
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
    /** Marks a ticket step green once the owner confirmed the manual revocation. */
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
        actor: `operator:${t.confirmedBy}`,
        action: 'ticket_confirmed',
        departureId: t.departureId,
        details: { systemId: t.systemId, ticketId: t.ticketId, note: t.note },
      });
    },
  };
}
