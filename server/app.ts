/**
 * The HTTP API (Express): HRIS webhook, health, departures and ticket confirmation. Errors of every
 * route go through one handler that maps AppError codes to HTTP statuses and one JSON shape:
 * `{ "error": { "code", "message", "fields"? } }`.
 */
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import {
  ApplicationFailure,
  isGrpcServiceError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
} from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import { z } from 'zod';
import {
  DEPARTURE_STATUSES,
  archiveConfirmedSignal,
  RESOLUTION_KINDS,
  UPDATE_REJECTIONS,
  DOCUMENT_TYPES,
  acknowledgeUpdate,
  assetReceivedSignal,
  confirmTicketSignal,
  redriveUpdate,
  resolveUpdate,
  type Rescission,
  type SignoffRole,
} from '../contract';
import { audit, isDatabaseUnavailable, Prisma, type Db } from '../lib/db';
import { AppError, httpStatusFor } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { OPEN_ACCOUNT_POLICY, type AccountPolicy } from './account-policy';
import { createAccountsRouter } from './accounts';
import { jsonBody, parseBody } from './route-helpers';
import { createAuth, type TokenEntry } from './auth';
import { createCodecRouter, type CodecEndpointOptions } from './codec';
import { getDepartureView } from './departures';
import { createDashboardRouter } from './dashboard';
import { fieldErrors, text } from './hris';
import type { Intake } from './intake';
import { OPENAPI_PATH, openApiDocument } from './openapi';
import { operatorIdempotencyKey, parseOperatorDeparture } from './operator-start';
import { createPublicPagesRouter } from './public-pages';
import type { Starter } from './starter';
import { departureIdsInState, WORKFLOW_STATES } from './workflow-state';

export interface AppDeps {
  db: Db;
  client: Client;
  intake: Intake;
  starter: Starter;
  logger: Logger;
  operatorTokens: TokenEntry[];
  maxBodyBytes: number;
  codec: CodecEndpointOptions;
  /** The catalog's rules for named and protected accounts (none: every account id is taken). */
  accounts?: AccountPolicy;
}

// Free text goes to the database (audit details, messages): `text()` refuses what PostgreSQL cannot store.
export const ticketConfirmBody = z.object({ note: text().trim().min(3).max(2000) }).strict();
export const rescindBody = z.object({ reason: text().trim().min(3).max(2000) }).strict();
export const redriveBody = z
  .object({
    stepIds: z.array(text().min(1).max(300)).min(1).max(100).optional(),
    reason: text().trim().min(3).max(2000),
  })
  .strict();
export const assetReceivedBody = z
  .object({
    /** Who received it; defaults to the operator recording it. */
    receivedBy: text().trim().min(1).max(200).optional(),
    condition: z.enum(['good', 'damaged', 'missing_parts', 'wiped', 'not_working']),
    inspectedBy: text().trim().min(1).max(200),
    notes: text().trim().max(2000).default(''),
  })
  .strict();

/** An archive owner's word that the leaver's data is archived, relayed by IT. */
export const archiveConfirmedBody = z
  .object({
    /** How many items were archived (what the owner reported). */
    items: z.number().int().min(0).max(1_000_000_000),
    note: text().trim().min(3).max(2000),
  })
  .strict();

export const acknowledgeBody = z.object({ note: text().trim().max(2000).optional() }).strict();
export const resolveBody = z
  .object({
    /** `step:<stepId>`, `asset:<tag>`, `document:<type>` or `access:<systemId>`. */
    itemId: text().min(3).max(400),
    how: z.enum(RESOLUTION_KINDS),
    note: text().trim().min(3).max(4000),
  })
  .strict();

/** gRPC status codes for "the server did not answer": DEADLINE_EXCEEDED, UNAVAILABLE. */
const NO_ANSWER_CODES = new Set([4, 14]);

/**
 * True when `err` (or a cause of it) says Temporal could not be reached or did not answer in time
 * (`codes`: by default either; UNAVAILABLE alone = could not be reached at all).
 */
function isTemporalUnreachable(err: unknown, codes: ReadonlySet<number> = NO_ANSWER_CODES): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (isGrpcServiceError(e) && codes.has(e.code)) return true;
  }
  return false;
}
const UNAVAILABLE = new Set([14]);

/** Temporal did not answer (unreachable, restarting, deadline passed): 503, the caller retries. */
const temporalUnavailable = (e: unknown) =>
  new AppError(
    'unavailable',
    `Temporal could not be reached (${e instanceof Error ? e.message.slice(0, 200) : 'no answer'}); retry later`,
  );

/** The update got no answer within its deadline: no worker serves the offboarding right now. */
const updateTimedOut = () =>
  new AppError('unavailable', 'the offboarding did not answer in time (is a worker running?); retry later');

/**
 * Maps a rejected or failed workflow update to the API's error codes (an unanswered one: `updateFailure`
 * in `createApp`, which can ask Temporal why).
 */
function updateError(e: unknown): AppError | null {
  // Temporal itself unreachable is not "no worker": say which.
  if (isTemporalUnreachable(e, UNAVAILABLE)) return temporalUnavailable(e);
  if (e instanceof WorkflowNotFoundError)
    return new AppError('conflict', 'the offboarding is no longer running (it has completed or was reset)');
  if (e instanceof WorkflowUpdateFailedError) {
    const cause = e.cause;
    const message = cause instanceof Error ? cause.message : e.message;
    if (cause instanceof ApplicationFailure) {
      if (cause.type === UPDATE_REJECTIONS.notFound) return new AppError('not_found', message);
      if (cause.type === UPDATE_REJECTIONS.unprocessable) return new AppError('unprocessable', message);
      if (cause.type === UPDATE_REJECTIONS.conflict) return new AppError('conflict', message);
    }
    if (/unknown update/i.test(message))
      return new AppError(
        'conflict',
        'this offboarding predates the verification checkpoint: nothing to sign off',
      );
    return new AppError('conflict', message);
  }
  return null;
}

const instant = z.union([z.iso.datetime({ offset: true }), z.iso.date()]);
/** The query of `GET /departures`. */
export const departureListQuery = z
  .object({
    status: z.enum(DEPARTURE_STATUSES).optional(),
    department: z.string().max(200).optional(),
    employeeId: z.string().min(1).max(64).optional(),
    red: z.enum(['true', 'false']).optional(),
    from: instant.optional(),
    to: instant.optional(),
    workflow: z.enum(WORKFLOW_STATES).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();

/** Builds the Express application. */
export function createApp(deps: AppDeps): express.Express {
  const { db, client, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  const requireRole = createAuth(deps.operatorTokens);
  /** The workflow id of a departure, or 404. */
  const workflowIdOf = async (id: string): Promise<string> => {
    const d = await db.departure.findUnique({ where: { id }, select: { workflowId: true } });
    if (!d) throw new AppError('not_found', `no departure ${id}`);
    return d.workflowId;
  };
  /**
   * An update that got no answer within its deadline: Temporal itself unreachable (a 1 s probe fails),
   * or no worker serves the offboarding. Both 503, each named, so the operator knows what to fix.
   */
  const noAnswer = async (e: unknown): Promise<AppError> => {
    const reachable = await client
      .withDeadline(Date.now() + 1_000, () => client.workflowService.getSystemInfo({}))
      .then(
        () => true,
        () => false,
      );
    return reachable ? updateTimedOut() : temporalUnavailable(e);
  };
  /** `updateError`, with an unanswered update told apart by `noAnswer`. */
  const updateFailure = async (e: unknown): Promise<AppError | null> =>
    e instanceof WorkflowUpdateRPCTimeoutOrCancelledError ? noAnswer(e) : updateError(e);

  /**
   * The handle of the run serving departure `id`, for a signal or update. A rehired employee's later
   * offboarding runs under the same workflow id: a message meant for the earlier (finished) departure
   * must not reach it, so the current run's memo must name this departure; otherwise 409.
   */
  const runOf = async (id: string, workflowId: string, what: string) => {
    let memo: { departureId?: string } | undefined;
    try {
      const desc = await client.withDeadline(Date.now() + 5_000, () =>
        client.workflow.getHandle(workflowId).describe(),
      );
      memo = (await desc.memo) as { departureId?: string } | undefined;
    } catch (e) {
      // Temporal unreachable (e.g. restarting) is not the operator's mistake: 503, retry later.
      if (!(e instanceof WorkflowNotFoundError)) throw temporalUnavailable(e);
    }
    if (memo?.departureId !== id)
      throw new AppError('conflict', `the offboarding of departure ${id} is no longer running; ${what}`);
    return client.workflow.getHandle(workflowId);
  };

  /**
   * Signals the departure's running offboarding (`runOf`); one that is no longer running, or finished
   * meanwhile, is a 409 saying what to do instead (`ifFinished`).
   */
  const signalRunning = async <Args extends unknown[]>(
    id: string,
    workflowId: string,
    ifFinished: string,
    signal: SignalDefinition<Args>,
    ...args: Args
  ): Promise<void> => {
    try {
      const run = await runOf(id, workflowId, ifFinished);
      await client.withDeadline(Date.now() + 5_000, () => run.signal(signal, ...args));
    } catch (e) {
      if (e instanceof WorkflowNotFoundError)
        throw new AppError('conflict', `the offboarding of departure ${id} has finished; ${ifFinished}`);
      throw e;
    }
  };

  /**
   * Sends an operator's one-time message (an asset received, a ticket or an archive confirmed) at most
   * once: under a transaction-scoped advisory lock on `key`, a message already sent (its audit row, which
   * carries the key) is refused with 409 naming who sent it; otherwise `send` runs and the audit row is
   * written. Two requests at the same moment: the second waits for the first, then gets the 409 (both
   * were answered 202 before, and the second operator's details were silently dropped).
   */
  const sendOnce = async (o: {
    key: string;
    departureId: string;
    action: string;
    what: string;
    actor: string;
    details: Record<string, unknown>;
    send: () => Promise<void>;
  }): Promise<void> => {
    await db.$transaction(
      async (tx) => {
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${o.key}, 0))`;
        const prior = await tx.auditEvent.findFirst({
          where: { departureId: o.departureId, action: o.action, details: { path: ['key'], equals: o.key } },
          select: { actor: true, at: true },
        });
        if (prior)
          throw new AppError(
            'conflict',
            `${o.what} was already sent by ${prior.actor.replace(/^operator:/, '')} at ${prior.at.toISOString()}`,
          );
        await o.send();
        await audit(tx, {
          actor: o.actor,
          action: o.action,
          departureId: o.departureId,
          details: { key: o.key, ...o.details },
        });
      },
      { maxWait: 10_000, timeout: 20_000 },
    );
  };

  // One child logger per request, with a request id echoed to the caller.
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    const reqId = randomUUID();
    res.locals.log = logger.child({ reqId });
    res.setHeader('x-request-id', reqId);
    res.on('finish', () => {
      (res.locals.log as Logger).debug(
        {
          method: req.method,
          path: loggablePath(req.path),
          status: res.statusCode,
          ms: Number(process.hrtime.bigint() - started) / 1e6,
        },
        'request',
      );
    });
    next();
  });

  // A NUL character (%00) in the path or query names nothing and cannot reach the database (PostgreSQL
  // refuses it in text): refuse it before any route reads a parameter.
  app.use((req, _res, next) => {
    next(
      /%00/i.test(req.url) ? new AppError('bad_request', 'the URL must not contain %00 (NUL)') : undefined,
    );
  });

  /** Liveness and readiness: 200 only when the database and Temporal both answer. */
  app.get('/health', async (_req, res) => {
    const check = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
        return 'ok';
      } catch (e) {
        return `unreachable: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
      }
    };
    const [database, temporal] = await Promise.all([
      check(() => db.$queryRaw`SELECT 1`),
      check(() => client.withDeadline(Date.now() + 2_000, () => client.workflowService.getSystemInfo({}))),
    ]);
    const ok = database === 'ok' && temporal === 'ok';
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'degraded', database, temporal });
  });

  /** The OpenAPI 3.1 description of every route (server/openapi.ts); no token: it is not data. */
  app.get(OPENAPI_PATH, (_req, res) => {
    res.json(openApiDocument());
  });

  /** HRIS webhook (Standard Webhooks signature). See docs/api.md "Webhook contract". */
  app.post(
    '/webhooks/hris',
    express.raw({ type: () => true, limit: deps.maxBodyBytes }),
    async (req: Request, res: Response) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      let answer;
      try {
        answer = await deps.intake.receive({
          headers: req.headers,
          body,
          contentType: req.headers['content-type'],
          receivedAt: new Date(),
        });
      } catch (e) {
        if (e instanceof AppError) throw e;
        // Could not store the event: do not pretend to accept it; the HRIS redelivers.
        (res.locals.log as Logger).error({ err: e }, 'HRIS event could not be stored');
        res.setHeader('retry-after', '5');
        throw new AppError('unavailable', 'the event could not be stored; retry later');
      }
      res.status(answer.status).json(answer.body);
    },
  );

  /**
   * An operator submits a confirmed departure (canonical HRIS `employee` + `termination`; `status` is
   * implied by the termination type when absent). Same validation, storage, idempotency and start as the
   * webhook; `Idempotency-Key` header, or the employee + confirmedAt. Roles hr, admin.
   */
  app.post(
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
      const parsed = parseOperatorDeparture(body, deps.intake.triggerStatuses, receivedAt);
      if (!parsed.ok) throw new AppError('validation_failed', 'invalid departure', { fields: parsed.fields });
      const key = operatorIdempotencyKey(req.headers['idempotency-key'], parsed.event);
      if (!key.ok) throw new AppError('validation_failed', 'invalid Idempotency-Key', { fields: key.fields });
      let answer;
      try {
        answer = await deps.intake.submit({
          event: parsed.event,
          key: key.key,
          operator: req.operator!.name,
          body: raw,
          receivedAt,
        });
      } catch (e) {
        if (e instanceof AppError) throw e;
        (res.locals.log as Logger).error({ err: e }, 'operator departure could not be stored');
        res.setHeader('retry-after', '5');
        throw new AppError('unavailable', 'the departure could not be stored; retry later');
      }
      res.status(answer.status).json(answer.body);
    },
  );

  /**
   * List departures (newest first); filters: status, department, employeeId, red=true, from/to (created
   * at, ISO date or instant), workflow=running|failed (the workflow's state in Temporal). Any operator role.
   */
  app.get('/departures', requireRole('hr', 'it', 'itdesk'), async (req, res) => {
    const q = departureListQuery.safeParse(req.query);
    if (!q.success)
      throw new AppError('validation_failed', 'invalid query', { fields: fieldErrors(q.error) });
    // A bare date as `to` means the whole of that day (UTC).
    const from = q.data.from ? new Date(q.data.from) : undefined;
    const to = q.data.to
      ? new Date(q.data.to.length === 10 ? Date.parse(q.data.to) + 86_400_000 - 1 : q.data.to)
      : undefined;
    if (from && to && from > to)
      throw new AppError('validation_failed', 'invalid query', {
        fields: [{ field: 'to', message: 'must not be before from' }],
      });
    let ids: string[] | undefined;
    if (q.data.workflow) {
      try {
        ids = [...(await departureIdsInState(client, q.data.workflow))];
      } catch (e) {
        (res.locals.log as Logger).warn({ err: e }, 'Temporal visibility unavailable');
        throw new AppError('unavailable', 'Temporal could not be asked for workflow states; retry later');
      }
    }
    const rows = await db.departure.findMany({
      where: {
        status: q.data.status,
        // "finance" finds Finance: operators type department names as they say them.
        department: q.data.department ? { equals: q.data.department, mode: 'insensitive' } : undefined,
        employeeId: q.data.employeeId,
        // Red: a red step or a red report item nobody has resolved (e.g. an account still active).
        ...(q.data.red === 'true'
          ? { OR: [{ redSteps: { gt: 0 } }, { redItems: { gt: 0 } }] }
          : q.data.red === 'false'
            ? { redSteps: 0, redItems: 0 }
            : {}),
        createdAt: from || to ? { gte: from, lte: to } : undefined,
        id: ids ? { in: ids } : undefined,
      },
      orderBy: { createdAt: 'desc' },
      take: q.data.limit,
      select: {
        id: true,
        employeeId: true,
        employeeName: true,
        department: true,
        status: true,
        redSteps: true,
        redItems: true,
        workflowId: true,
        createdAt: true,
      },
    });
    res.json({ departures: rows });
  });

  /** One departure with its step table (live from the workflow, else from the database). */
  app.get('/departures/:id', requireRole('hr', 'it', 'itdesk'), async (req, res) => {
    res.json(await getDepartureView(db, client, String(req.params.id)));
  });

  /** The owner of a ticket-integrated system confirms the manual revocation is done. */
  app.post('/tickets/:id/confirm', requireRole('it'), jsonBody(), async (req, res) => {
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

  /**
   * HR rescinds a termination (e.g. the HRIS cannot send the event): pending steps halt and a review
   * opens for HR and IT. Nothing is re-enabled. Roles hr, admin.
   */
  app.post('/departures/:id/rescind', requireRole('hr'), jsonBody(), async (req, res) => {
    const body = parseBody(rescindBody, req.body);
    const operator = req.operator!;
    const id = String(req.params.id);
    const dep = await db.$transaction(async (tx) => {
      const d = await tx.departure.findUnique({ where: { id } });
      if (!d) throw new AppError('not_found', `no departure ${id}`);
      if (d.status === 'blocked')
        throw new AppError('conflict', `departure is ${d.status}; there is nothing to rescind`);
      if (await tx.workflowMessage.findFirst({ where: { departureId: id, kind: 'rescind' } }))
        throw new AppError('conflict', 'this termination has already been rescinded');
      const r: Rescission = {
        at: new Date().toISOString(),
        by: `operator:${operator.name}`,
        reason: body.reason,
      };
      await tx.workflowMessage.create({
        data: { departureId: id, kind: 'rescind', payload: r as unknown as Prisma.InputJsonValue },
      });
      await audit(tx, {
        actor: `operator:${operator.name}`,
        action: 'rescission_received',
        departureId: id,
        details: { role: operator.role, reason: body.reason },
      });
      return d;
    });
    const delivered = await deps.starter.deliverMessages(id).catch(() => 0);
    res.status(202).json({
      departureId: dep.id,
      workflowId: dep.workflowId,
      action: 'rescinded',
      delivered: delivered > 0,
    });
  });

  /** Temporal's remote codec protocol for the Web UI and CLI (server/codec.ts). Any operator role. */
  app.use('/codec', createCodecRouter(deps));

  /** Approving a held departure; recording an account id matching could not find (server/accounts.ts). */
  app.use(
    createAccountsRouter({
      db,
      starter: deps.starter,
      accounts: deps.accounts ?? OPEN_ACCOUNT_POLICY,
      requireRole,
    }),
  );

  /** NDA signing and exit survey pages for leavers (the link's token is the credential): server/public-pages.ts. */
  app.use(createPublicPagesRouter({ db, client, logger }));

  /**
   * The IT desk records a returned asset: chain of custody and check-in happen in the workflow (signal
   * `assetReceived`). Roles itdesk, admin.
   */
  app.post('/departures/:id/assets/:tag/received', requireRole('itdesk'), jsonBody(), async (req, res) => {
    const body = parseBody(assetReceivedBody, req.body);
    const id = String(req.params.id);
    const tag = String(req.params.tag);
    const dep = { workflowId: await workflowIdOf(id) };
    const recovery = await db.assetRecovery.findFirst({ where: { departureId: id, assetTag: tag } });
    if (!recovery) throw new AppError('not_found', `departure ${id} has no asset with tag ${tag} to recover`);
    if (recovery.status === 'received')
      throw new AppError('conflict', `asset ${tag} was already received by ${recovery.receivedBy ?? '?'}`);
    const operator = req.operator!;
    const receipt = {
      assetTag: tag,
      receivedBy: body.receivedBy ?? operator.name,
      condition: body.condition,
      inspectedBy: body.inspectedBy,
      notes: body.notes,
    };
    await sendOnce({
      key: `asset_receipt:${id}:${tag}`,
      departureId: id,
      action: 'asset_receipt_sent',
      what: `the receipt of asset ${tag}`,
      actor: `operator:${operator.name}`,
      details: { ...receipt, role: operator.role },
      send: () =>
        signalRunning(
          id,
          dep.workflowId,
          `record the late return of ${tag} in the asset system`,
          assetReceivedSignal,
          receipt,
        ),
    });
    res.status(202).json({ departureId: id, assetTag: tag, action: 'receipt_sent' });
  });

  /**
   * Records that a data source's owner archived the leaver's data (the built-in manual archive connector
   * keeps it pending until then): signal `archiveConfirmed`; the workflow records it and generates the
   * data-archiving confirmation again. Roles it, admin.
   */
  app.post(
    '/departures/:id/archives/:sourceId/confirmed',
    requireRole('it'),
    jsonBody(),
    async (req, res) => {
      const body = parseBody(archiveConfirmedBody, req.body);
      const id = String(req.params.id);
      const sourceId = String(req.params.sourceId);
      const dep = { workflowId: await workflowIdOf(id) };
      const record = await db.archiveRecord.findUnique({
        where: { departureId_sourceId: { departureId: id, sourceId } },
      });
      if (!record)
        throw new AppError(
          'not_found',
          `departure ${id} has no archive of data source ${sourceId} to confirm`,
        );
      if (record.status === 'archived')
        throw new AppError(
          'conflict',
          `the archive of ${sourceId} was already confirmed${record.archivedAt ? ` (${record.archivedAt.toISOString()})` : ''}`,
        );
      const operator = req.operator!;
      const confirmation = {
        sourceId,
        items: body.items,
        confirmedBy: operator.name,
        note: body.note,
        at: new Date().toISOString(),
      };
      await sendOnce({
        key: `archive_confirmation:${id}:${sourceId}`,
        departureId: id,
        action: 'archive_confirmation_sent',
        what: `the confirmation of the archive of ${sourceId}`,
        actor: `operator:${operator.name}`,
        details: { ...confirmation, role: operator.role },
        send: () =>
          signalRunning(
            id,
            dep.workflowId,
            `record the archive of ${sourceId} by hand`,
            archiveConfirmedSignal,
            confirmation,
          ),
      });
      res.status(202).json({ departureId: id, sourceId, action: 'confirmation_sent' });
    },
  );

  /**
   * Re-drives red revocation steps of a running offboarding once their fault is fixed (workflow update
   * `redrive`; its validator decides what can run again). Roles it, admin.
   */
  app.post('/departures/:id/redrive', requireRole('it'), jsonBody(), async (req, res) => {
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

  /** Who the bearer token belongs to (name and role), for the dashboard. Any operator role. */
  app.get('/me', requireRole('hr', 'it', 'itdesk'), (req, res) => {
    res.json({ name: req.operator!.name, role: req.operator!.role });
  });

  /** The dashboard: one page over this API for HR, IT and the IT desk (server/dashboard/). */
  app.use(createDashboardRouter());

  /**
   * HR or IT acknowledges the verification report of a departure (workflow update `acknowledge`): the
   * token's role is the role acknowledged, so each signs only as itself. A second acknowledgment is
   * answered with the first. Roles hr, it (not admin: a sign-off is personal to its function).
   */
  app.post('/departures/:id/acknowledge', requireRole.only('hr', 'it'), jsonBody(), async (req, res) => {
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
  app.post('/departures/:id/resolutions', requireRole('hr', 'it'), jsonBody(), async (req, res) => {
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

  /** The compliance documents of a departure (type, status, hash, whether it can be downloaded). Roles hr, it. */
  app.get('/departures/:id/documents', requireRole('hr', 'it'), async (req, res) => {
    const id = String(req.params.id);
    const dep = await db.departure.findUnique({ where: { id }, select: { id: true } });
    if (!dep) throw new AppError('not_found', `no departure ${id}`);
    const docs = await db.document.findMany({
      where: { departureId: id },
      orderBy: { type: 'asc' },
      select: {
        type: true,
        status: true,
        sha256: true,
        contentType: true,
        issuedAt: true,
        completedAt: true,
        storageLocation: true,
        content: false,
      },
    });
    const stored = await db.document.findMany({
      where: { departureId: id, content: { not: null } },
      select: { type: true },
    });
    const downloadable = new Set(stored.map((d) => d.type));
    res.json({
      departureId: id,
      documents: docs.map((d) => ({
        ...d,
        downloadable: downloadable.has(d.type),
        href: downloadable.has(d.type) ? `/departures/${id}/documents/${d.type}` : null,
      })),
    });
  });

  /**
   * Downloads one stored document (e.g. the completion certificate PDF), with its SHA-256 in
   * `x-content-sha256`. Roles hr, it.
   */
  app.get('/departures/:id/documents/:type', requireRole('hr', 'it'), async (req, res) => {
    const id = String(req.params.id);
    const type = String(req.params.type);
    if (!(DOCUMENT_TYPES as readonly string[]).includes(type))
      throw new AppError('not_found', `no document type ${type}; one of ${DOCUMENT_TYPES.join(', ')}`);
    const dep = await db.departure.findUnique({ where: { id }, select: { id: true, employeeId: true } });
    if (!dep) throw new AppError('not_found', `no departure ${id}`);
    const doc = await db.document.findUnique({ where: { departureId_type: { departureId: id, type } } });
    // Exit surveys answered before the answers were stored as the content keep them in `meta` only.
    const meta = (doc?.meta ?? {}) as { answers?: unknown; answeredAt?: unknown };
    if (doc && !doc.content && type === 'exit_survey' && meta.answers) {
      res.setHeader('content-disposition', `attachment; filename="${type}-${dep.employeeId}.json"`);
      res.json({ answers: meta.answers, answeredAt: meta.answeredAt ?? null });
      return;
    }
    if (!doc?.content)
      throw new AppError(
        'not_found',
        type === 'exit_survey'
          ? `departure ${id}: the exit survey has not been answered (yet)`
          : `departure ${id} has no stored ${type.replace(/_/g, ' ')} (yet)`,
      );
    const ext = doc.contentType?.startsWith('application/pdf')
      ? 'pdf'
      : doc.contentType?.startsWith('application/json')
        ? 'json'
        : doc.contentType?.startsWith('text/plain')
          ? 'txt'
          : 'bin';
    res.setHeader('content-type', doc.contentType ?? 'application/octet-stream');
    res.setHeader('content-disposition', `attachment; filename="${type}-${dep.employeeId}.${ext}"`);
    if (doc.sha256) res.setHeader('x-content-sha256', doc.sha256);
    res.send(Buffer.from(doc.content));
  });

  // No route for this method: 405 naming the methods the path has (RFC 9110 §15.5.6), else 404.
  app.use((req, _res, next) => {
    const allow = allowedMethods(app, req.path);
    const use = allow.filter((m) => m !== 'HEAD').join(' or ');
    next(
      allow.length > 0
        ? new AppError('method_not_allowed', `${req.method} is not allowed on ${req.path}; use ${use}`, {
            allow,
          })
        : new AppError('not_found', 'no such route'),
    );
  });

  // The one place errors become HTTP answers. Bad input is never a 5xx.
  app.use(async (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    let e: AppError;
    if (err instanceof AppError) e = err;
    else if (err instanceof URIError) {
      // The router could not decode a path parameter (e.g. `%E0%A4%A`, or an encoded lone surrogate).
      e = new AppError('bad_request', 'the URL path is not valid percent-encoded UTF-8');
    } else if (isBodyParserError(err)) {
      e =
        err.type === 'entity.too.large'
          ? new AppError('payload_too_large', `body exceeds ${err.limit ?? deps.maxBodyBytes} bytes`)
          : err.type === 'entity.parse.failed'
            ? new AppError('bad_request', 'body is not valid JSON')
            : err.status === 415
              ? new AppError('unsupported_media_type', err.message)
              : err.type
                ? new AppError('bad_request', err.message)
                : // A stream error while reading (a compressed body that does not decompress).
                  new AppError('bad_request', `body could not be read: ${err.message}`);
      if (req.path === '/webhooks/hris') {
        await deps.intake
          .logUnreadable({
            headers: req.headers,
            bytes: Number(req.headers['content-length'] ?? 0),
            reason: e.message,
            receivedAt: new Date(),
          })
          .catch((logErr: unknown) => logger.error({ err: logErr }, 'could not log refused HRIS delivery'));
      }
    } else if (isTemporalUnreachable(err)) {
      // Whatever route asked: Temporal down or restarting is not the caller's mistake, nor a bug.
      ((res.locals.log as Logger | undefined) ?? logger).warn(
        { err, path: loggablePath(req.path) },
        'Temporal unreachable',
      );
      e = temporalUnavailable(err);
    } else if (isDatabaseUnavailable(err)) {
      ((res.locals.log as Logger | undefined) ?? logger).warn(
        { err, path: loggablePath(req.path) },
        'database unreachable',
      );
      e = new AppError('unavailable', 'the database could not be reached; retry later');
    } else {
      ((res.locals.log as Logger | undefined) ?? logger).error(
        { err, path: loggablePath(req.path) },
        'unhandled error',
      );
      e = new AppError('internal', 'internal error');
    }
    const status = httpStatusFor(e.code);
    if (status === 401) res.setHeader('www-authenticate', 'Bearer');
    if (e.code === 'method_not_allowed' && Array.isArray(e.details?.allow))
      res.setHeader('allow', (e.details.allow as string[]).join(', '));
    res.status(status).json({ error: { code: e.code, message: e.message, ...(e.details ?? {}) } });
  });
  return app;
}

/**
 * The methods the app's routes answer on `path` (HEAD with GET), for a 405's `Allow`: its own routes and
 * those of the routers mounted in it (codec, signing and survey pages, dashboard).
 */
function allowedMethods(app: express.Express, path: string): string[] {
  // Express 5 keeps its routes on `app.router.stack`; each layer matches paths itself (router 2's
  // `match` answers the part it took, or false), a mounted router's layer its prefix.
  const methods = new Set<string>();
  const walk = (stack: RouteLayer[], p: string) => {
    for (const layer of stack) {
      const m = layer.match(p);
      if (!m) continue;
      if (layer.route) {
        for (const [m, on] of Object.entries(layer.route.methods))
          if (on && m !== '_all') methods.add(m.toUpperCase());
      } else if (Array.isArray(layer.handle?.stack)) {
        walk(layer.handle.stack, p.slice(typeof m === 'object' ? m.path.length : 0) || '/');
      }
    }
  };
  walk((app as unknown as { router?: { stack?: RouteLayer[] } }).router?.stack ?? [], path);
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods].sort();
}

interface RouteLayer {
  route?: { methods: Record<string, boolean> };
  handle?: { stack?: RouteLayer[] };
  match(path: string): false | { path: string };
}

/** The request path with single-use link tokens (signing, survey) masked: they are credentials. */
export function loggablePath(p: string): string {
  return p.replace(/^\/(sign|survey)\/[^/]+/, '/$1/[redacted]');
}

/**
 * An error body-parser raised while reading a body: its own (with a `type`), or a stream error it
 * wrapped as a 4xx (a compressed body that does not decompress has a status but no `type`).
 */
function isBodyParserError(
  e: unknown,
): e is { type?: string; message: string; status: number; limit?: number } {
  if (typeof e !== 'object' || e === null || !('status' in e)) return false;
  const { type, status } = e as { type?: unknown; status: unknown };
  return (
    typeof status === 'number' &&
    ((typeof type === 'string' && 'type' in e) || (status >= 400 && status < 500 && 'expose' in e))
  );
}
