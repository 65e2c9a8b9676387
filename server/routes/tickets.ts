/** `POST /tickets/:id/confirm`: the owner of a system without an API confirms the revocation is done. */
import express from 'express';
import { WorkflowNotFoundError } from '@temporalio/client';
import { confirmTicketSignal } from '../../contract';
import { AppError } from '../../lib/errors';
import { jsonBody, parseBody } from '../route-helpers';
import { ticketConfirmBody } from '../schemas';
import { temporalUnavailable } from '../workflow-calls';
import type { RouteContext } from './context';

export function createTicketsRouter({ db, client, requireRole, calls }: RouteContext): express.Router {
  const { runOf, sendOnce } = calls;
  const r = express.Router();
  /** The owner of a ticket-integrated system confirms the manual revocation is done. */
  r.post('/tickets/:id/confirm', requireRole('it'), jsonBody(), async (req, res) => {
    const body = parseBody(ticketConfirmBody, req.body);
    const ticket = await db.ticket.findUnique({
      where: { id: String(req.params.id) },
      include: { departure: { select: { workflowId: true } } },
    });
    if (!ticket) throw new AppError('not_found', `no ticket ${String(req.params.id)}`);
    if (ticket.status !== 'open') throw new AppError('conflict', `ticket is ${ticket.status}, not open`);
    const operator = req.operator!;
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
              note: body.note,
            }),
          )
          .catch((e: unknown) => {
            throw e instanceof WorkflowNotFoundError ? e : temporalUnavailable(e);
          });
      },
    });
    res.status(202).json({ ticketId: ticket.id, action: 'confirmation_sent' });
  });
  return r;
}
