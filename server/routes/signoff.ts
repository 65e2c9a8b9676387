/** The verification report's sign-off: HR or IT acknowledges it; a red or yellow item is resolved. */
import express from 'express';
import { acknowledgeUpdate, resolveUpdate, type SignoffRole } from '../../contract';
import { jsonBody, parseBody } from '../route-helpers';
import { acknowledgeBody, resolveBody } from '../schemas';
import type { RouteContext } from './context';

export function createSignoffRouter({ client, requireRole, calls }: RouteContext): express.Router {
  const { workflowIdOf, updateFailure } = calls;
  const r = express.Router();
  /**
   * HR or IT acknowledges the verification report of a departure (workflow update `acknowledge`): the
   * token's role is the role acknowledged, so each signs only as itself. A second acknowledgment is
   * answered with the first. Roles hr, it (not admin: a sign-off is personal to its function).
   */
  r.post('/departures/:id/acknowledge', requireRole.only('hr', 'it'), jsonBody(), async (req, res) => {
    const body = parseBody(acknowledgeBody, req.body ?? {});
    const id = String(req.params.id);
    const dep = { workflowId: await workflowIdOf(id) };
    const operator = req.operator!;
    try {
      const result = await client.withDeadline(Date.now() + 15_000, () =>
        client.workflow.getHandle(dep.workflowId).executeUpdate(acknowledgeUpdate, {
          args: [
            {
              departureId: id,
              role: operator.role as SignoffRole,
              by: operator.name,
              note: body.note,
            },
          ],
        }),
      );
      res.json({ departureId: id, ...result });
    } catch (e) {
      throw (await updateFailure(e)) ?? e;
    }
  });

  /**
   * Resolves a red or yellow item of the verification report with a note (workflow update `resolve`):
   * how = fixed_by_hand | redriven_confirmed | accepted_risk. 404 unknown item, 409 already resolved or
   * report not yet compiled, 422 an item that needs no (or not this) resolution. Roles hr, it, admin.
   */
  r.post('/departures/:id/resolutions', requireRole('hr', 'it'), jsonBody(), async (req, res) => {
    const body = parseBody(resolveBody, req.body);
    const id = String(req.params.id);
    const dep = { workflowId: await workflowIdOf(id) };
    const operator = req.operator!;
    try {
      const resolution = await client.withDeadline(Date.now() + 15_000, () =>
        client.workflow.getHandle(dep.workflowId).executeUpdate(resolveUpdate, {
          args: [{ ...body, departureId: id, by: operator.name, role: operator.role }],
        }),
      );
      res.status(201).json({ departureId: id, resolution });
    } catch (e) {
      throw (await updateFailure(e)) ?? e;
    }
  });
  return r;
}
