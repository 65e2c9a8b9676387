/**
 * Tickets to the owners of systems without an API: the owner's confirmation that the revocation is
 * done is sent to the running offboarding once (it turns the step green).
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { confirmTicketSignal } from '../contract';
import type { Db } from '../lib/db';
import { AppError } from '../lib/errors';
import type { Operator } from './accounts';
import { temporalUnavailable, type WorkflowCalls } from './workflow-calls';

/** Sends an open ticket's confirmation to its offboarding: 404 no such ticket, 409 not open. */
export async function confirmTicket(
  deps: { db: Db; client: Client; calls: WorkflowCalls },
  id: string,
  note: string,
  operator: Operator,
): Promise<{ ticketId: string; action: 'confirmation_sent' }> {
  const { db, client } = deps;
  const { runOf, sendOnce } = deps.calls;
  const ticket = await db.ticket.findUnique({
    where: { id },
    include: { departure: { select: { workflowId: true } } },
  });
  if (!ticket) throw new AppError('not_found', `no ticket ${id}`);
  if (ticket.status !== 'open') throw new AppError('conflict', `ticket is ${ticket.status}, not open`);
  await sendOnce({
    key: `ticket_confirmation:${ticket.id}`,
    departureId: ticket.departureId,
    action: 'ticket_confirmation_sent',
    what: `the confirmation of ticket ${ticket.id}`,
    actor: `operator:${operator.name}`,
    details: { ticketId: ticket.id, systemId: ticket.systemId, role: operator.role },
    send: async () => {
      const run = await runOf(
        ticket.departureId,
        ticket.departure.workflowId,
        'close the ticket in the system itself',
      );
      await client
        .withDeadline(Date.now() + 5_000, () =>
          run.signal(confirmTicketSignal, {
            systemId: ticket.systemId,
            ticketId: ticket.id,
            confirmedBy: operator.name,
            note,
          }),
        )
        .catch((e: unknown) => {
          throw e instanceof WorkflowNotFoundError ? e : temporalUnavailable(e);
        });
    },
  });
  return { ticketId: ticket.id, action: 'confirmation_sent' };
}
