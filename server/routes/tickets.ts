/** `POST /tickets/:id/confirm`: the owner of a system without an API confirms the revocation is done. */
import express from 'express';
import { jsonBody, parseBody } from '../route-helpers';
import { ticketConfirmBody } from '../schemas';
import { confirmTicket } from '../tickets';
import type { RouteContext } from './context';

export function createTicketsRouter(deps: RouteContext): express.Router {
  const r = express.Router();
  /** The owner of a ticket-integrated system confirms the manual revocation is done. Roles it, admin. */
  r.post('/tickets/:id/confirm', deps.requireRole('it'), jsonBody(), async (req, res) => {
    const body = parseBody(ticketConfirmBody, req.body);
    res.status(202).json(await confirmTicket(deps, String(req.params.id), body.note, req.operator!));
  });
  return r;
}
