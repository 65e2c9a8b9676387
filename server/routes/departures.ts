/**
 * Departures: an operator submits one, lists them, reads one (its step table live from the workflow),
 * rescinds one, re-drives its red steps. Each route parses, calls the intake, a service below or the
 * workflow, and answers; errors go to the app's one handler.
 */
import express, { type Request, type Response } from 'express';
import { WorkflowNotFoundError, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { redriveUpdate } from '../../contract';
import { audit } from '../../lib/db';
import { AppError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { getDepartureView, listDepartures, listWindow, storeRescission } from '../departures';
import { fieldErrors } from '../hris';
import { operatorIdempotencyKey, parseOperatorDeparture } from '../operator-start';
import { jsonBody, parseBody, storedOr503 } from '../route-helpers';
import { departureListQuery, redriveBody, rescindBody } from '../schemas';
import { updateError } from '../workflow-calls';
import { departureIdsInState } from '../workflow-state';
import type { RouteContext } from './context';

export function createDeparturesRouter(ctx: RouteContext): express.Router {
  const { db, client, requireRole } = ctx;
  const { workflowIdOf, runOf, noAnswer } = ctx.calls;
  const r = express.Router();
  /**
   * An operator submits a confirmed departure (canonical HRIS `employee` + `termination`; `status` is
   * implied by the termination type when absent). Same validation, storage, idempotency and start as the
   * webhook; `Idempotency-Key` header, or the employee + confirmedAt. Roles hr, admin.
   */
  r.post(
    '/departures',
    requireRole('hr'),
    express.raw({ type: () => true, limit: '64kb' }),
    async (req: Request, res: Response) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const ct = req.headers['content-type'];
      if (!ct || !/^application\/([a-z.+-]*\+)?json\b/i.test(ct))
        throw new AppError('unsupported_media_type', 'content-type must be application/json');
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new AppError('bad_request', 'body is not valid JSON', {
          fields: [{ field: '(body)', message: 'not valid JSON' }],
        });
      }
      const receivedAt = new Date();
      const parsed = parseOperatorDeparture(body, ctx.intake.triggerStatuses, receivedAt);
      if (!parsed.ok) throw new AppError('validation_failed', 'invalid departure', { fields: parsed.fields });
      const key = operatorIdempotencyKey(req.headers['idempotency-key'], parsed.event);
      if (!key.ok) throw new AppError('validation_failed', 'invalid Idempotency-Key', { fields: key.fields });
      const answer = await storedOr503(res, 'the departure', () =>
        ctx.intake.submit({
          event: parsed.event,
          key: key.key,
          operator: req.operator!.name,
          body: raw,
          receivedAt,
        }),
      );
      res.status(answer.status).json(answer.body);
    },
  );

  /**
   * List departures (newest first); filters: status, department, employeeId, red=true, from/to (created
   * at, ISO date or instant), workflow=running|failed (the workflow's state in Temporal). Any operator role.
   */
  r.get('/departures', requireRole('hr', 'it', 'itdesk'), async (req, res) => {
    const q = departureListQuery.safeParse(req.query);
    if (!q.success)
      throw new AppError('validation_failed', 'invalid query', { fields: fieldErrors(q.error) });
    listWindow(q.data); // a bad window is the caller's mistake, whatever Temporal says
    let ids: string[] | undefined;
    if (q.data.workflow) {
      try {
        ids = [...(await departureIdsInState(client, q.data.workflow))];
      } catch (e) {
        (res.locals.log as Logger).warn({ err: e }, 'Temporal visibility unavailable');
        throw new AppError('unavailable', 'Temporal could not be asked for workflow states; retry later');
      }
    }
    const rows = await listDepartures(db, q.data, ids);
    res.json({ departures: rows });
  });

  /** One departure with its step table (live from the workflow, else from the database). */
  r.get('/departures/:id', requireRole('hr', 'it', 'itdesk'), async (req, res) => {
    res.json(await getDepartureView(db, client, String(req.params.id)));
  });

  /**
   * HR rescinds a termination (e.g. the HRIS cannot send the event): pending steps halt and a review
   * opens for HR and IT. Nothing is re-enabled. Roles hr, admin.
   */
  r.post('/departures/:id/rescind', requireRole('hr'), jsonBody(), async (req, res) => {
    const body = parseBody(rescindBody, req.body);
    const operator = req.operator!;
    const id = String(req.params.id);
    const dep = await storeRescission(db, id, operator, body.reason);
    const delivered = await ctx.starter.deliverMessages(id).catch(() => 0);
    res.status(202).json({
      departureId: dep.id,
      workflowId: dep.workflowId,
      action: 'rescinded',
      delivered: delivered > 0,
    });
  });

  /**
   * Re-drives red revocation steps of a running offboarding once their fault is fixed (workflow update
   * `redrive`; its validator decides what can run again). Roles it, admin.
   */
  r.post('/departures/:id/redrive', requireRole('it'), jsonBody(), async (req, res) => {
    const body = parseBody(redriveBody, req.body);
    const id = String(req.params.id);
    const dep = { workflowId: await workflowIdOf(id) };
    const operator = req.operator!;
    let result: { accepted: string[] };
    const run = await runOf(id, dep.workflowId, 'use `offboard retry` to reset it');
    try {
      result = await client.withDeadline(Date.now() + 10_000, () =>
        run.executeUpdate(redriveUpdate, {
          args: [{ stepIds: body.stepIds, requestedBy: operator.name, reason: body.reason }],
        }),
      );
    } catch (e) {
      if (e instanceof WorkflowUpdateRPCTimeoutOrCancelledError) throw await noAnswer(e);
      if (e instanceof WorkflowNotFoundError)
        throw new AppError('conflict', 'the offboarding has finished; use `offboard retry` to reset it');
      throw updateError(e) ?? e;
    }
    await audit(db, {
      actor: `operator:${operator.name}`,
      action: 'steps_redriven',
      departureId: id,
      details: { steps: result.accepted, reason: body.reason, role: operator.role },
    });
    res.json({ departureId: id, accepted: result.accepted });
  });
  return r;
}
