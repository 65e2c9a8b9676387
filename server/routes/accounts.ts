/**
 * Operator routes about the leaver's accounts: approve a held departure, record an account id. Thin
 * routes over server/accounts.ts.
 */
import express from 'express';
import { approveDeparture, recordAccount } from '../accounts';
import { jsonBody, parseBody } from '../route-helpers';
import { accountBody, approveBody } from '../schemas';
import type { RouteContext } from './context';

/** The routes. */
export function createAccountsRouter(deps: RouteContext): express.Router {
  const r = express.Router();

  /**
   * A second operator approves a held departure (an operator's involuntary departure of a protected
   * account); it starts at once. Roles hr, it, admin; never the operator who submitted it.
   */
  r.post('/departures/:id/approve', deps.requireRole('hr', 'it'), jsonBody(), async (req, res) => {
    const body = parseBody(approveBody, req.body);
    res.status(202).json(await approveDeparture(deps, String(req.params.id), req.operator!, body.note));
  });

  /**
   * Records the leaver's account id in one catalog system (matching found none, or two): it wins over
   * every matching key; re-drive the red step to act on it. Roles it, admin.
   */
  r.post('/departures/:id/accounts', deps.requireRole('it'), jsonBody(), async (req, res) => {
    const body = parseBody(accountBody, req.body);
    res.json(await recordAccount(deps, String(req.params.id), body, req.operator!));
  });
  return r;
}
