/**
 * Starts offboarding workflows for accepted departures, exactly once each, delivers the messages stored
 * for them (last day moved, termination rescinded), and keeps retrying both in the background while
 * Temporal is unreachable.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { SearchAttributePair } from '@temporalio/common';
import {
  OFFBOARDING_WORKFLOW,
  RESCISSION_REVIEW_WORKFLOW,
  SEARCH_ATTRIBUTES,
  contactUpdatedSignal,
  lastDayChangedSignal,
  offboardingInput,
  rescindSignal,
  rescissionReviewWorkflowId,
  type ContactUpdate,
  type LastDayChange,
  type Rescission,
} from '../contract';
import { audit, Prisma, sql, type Db } from '../lib/db';
import type { Logger } from '../lib/logger';

export interface DepartureRow {
  id: string;
  employeeId: string;
  workflowId: string;
  terminationType: string;
  confirmedAt: Date;
  lastDay: string | null;
  department: string;
  workLocation: string;
}

export interface StarterDeps {
  db: Db;
  client: Client;
  taskQueue: string;
  logger: Logger;
  /** How long one start may take before the event is answered "queued". */
  startTimeoutMs?: number;
  /**
   * How many starts intake may run while answering (default 8). Beyond that a burst's events are
   * answered "queued" at once and the dispatcher, woken, starts them in the background.
   */
  maxInlineStarts?: number;
  /** How many starts one dispatcher pass runs at once (default 16). */
  dispatchConcurrency?: number;
}

/**
 * A rescinded departure: its record says so, or a rescission is stored for it (written before it is
 * delivered to the workflow). Its workflow may still be closing.
 */
export const RESCINDED_DEPARTURE = {
  OR: [{ status: 'rescinded' }, { rescindedAt: { not: null } }, { messages: { some: { kind: 'rescind' } } }],
} satisfies Prisma.DepartureWhereInput;

export type StartResult = { started: true } | { started: false; error: string };

/**
 * The search attributes a departure's workflows start with (status and red count are the workflow's
 * own). Clear text in Temporal's visibility store: ids, department and location only, no names.
 */
function searchAttributesOf(d: DepartureRow): SearchAttributePair[] {
  return [
    { key: SEARCH_ATTRIBUTES.employeeId, value: d.employeeId },
    { key: SEARCH_ATTRIBUTES.department, value: d.department },
    { key: SEARCH_ATTRIBUTES.workLocation, value: d.workLocation },
  ];
}

/** Starts workflows for departures; see `startDeparture` and `dispatchPending`. */
export function createStarter(deps: StarterDeps) {
  const { db, client, logger } = deps;
  const timeout = deps.startTimeoutMs ?? 3_000;
  const maxInline = deps.maxInlineStarts ?? 8;
  const concurrency = deps.dispatchConcurrency ?? 16;
  let inlineStarts = 0;
  /** Set by `runDispatcher`: runs a dispatcher pass now rather than at the next interval. */
  let wakeDispatcher: () => void = () => undefined;

  /** The departure the latest workflow under this departure's id runs (or ran) for; null: none. */
  async function departureOfWorkflow(d: DepartureRow): Promise<string | null> {
    try {
      const desc = await client.withDeadline(Date.now() + timeout, () =>
        client.workflow.getHandle(d.workflowId).describe(),
      );
      const memo = (await desc.memo) as { departureId?: string } | undefined;
      return memo?.departureId ?? null;
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) return null;
      throw e;
    }
  }

  /** True when the workflow with this id already runs (or ran) for this very departure. */
  async function alreadyOurs(d: DepartureRow): Promise<boolean> {
    return (await departureOfWorkflow(d)) === d.id;
  }

  /**
   * `previous` (the departure the workflow under `d`'s id runs for), when it is an earlier, rescinded
   * offboarding of the same employee that is still closing (halting its steps, opening its review): the
   * new one waits for it. Null otherwise.
   */
  async function rescindedStillClosing(d: DepartureRow, previous: string): Promise<string | null> {
    const n = await db.departure.count({
      where: { id: previous, employeeId: d.employeeId, ...RESCINDED_DEPARTURE },
    });
    return n > 0 ? previous : null;
  }

  /**
   * Records the start: the departure `started` and its `workflow_started` audit row, in one statement
   * (at most once: a second call finds `workflowStartedAt` set and writes nothing). Raw SQL for the
   * intake hot path; the audit row is the one `audit()` writes, chained by the trigger.
   */
  async function markStarted(d: DepartureRow, by: string): Promise<void> {
    const now = new Date().toISOString();
    await sql(
      db,
      `WITH dep AS (
         UPDATE "Departure"
            SET "workflowStartedAt" = $2::timestamp, status = 'started', "lastStartError" = NULL,
                "updatedAt" = $2::timestamp
          WHERE id = $1 AND "workflowStartedAt" IS NULL
         RETURNING id)
       INSERT INTO "AuditEvent" (at, "createdAt", actor, action, "departureId", details)
       SELECT $2::timestamp, $2::timestamp, $3, 'workflow_started', dep.id, $4::jsonb FROM dep`,
      [d.id, now, by, JSON.stringify({ workflowId: d.workflowId })],
    );
  }

  /**
   * Counts a (non-first) start attempt and reads the rescission stored for the departure, if any, in
   * one statement.
   */
  async function countAttempt(
    d: DepartureRow,
  ): Promise<{ startAttempts: number; rescind: { id: string; payload: unknown } | null }> {
    const r = await sql<{ startAttempts: number; rescind: { id: string; payload: unknown } | null }>(
      db,
      `UPDATE "Departure" SET "startAttempts" = "startAttempts" + 1, "updatedAt" = $2::timestamp
        WHERE id = $1
       RETURNING "startAttempts",
         (SELECT json_build_object('id', m.id, 'payload', m.payload) FROM "WorkflowMessage" m
           WHERE m."departureId" = $1 AND m.kind = 'rescind' AND m.status = 'pending'
           ORDER BY m."createdAt" LIMIT 1) AS rescind`,
      [d.id, new Date().toISOString()],
    );
    const row = r.rows[0];
    if (!row) throw new Error(`departure ${d.id} not found`);
    return row;
  }

  /**
   * Starts one departure's workflow; never throws for Temporal being unavailable. `fresh`: the departure
   * was created with `startAttempts` 1 in the caller's transaction a moment ago, so this is its first
   * start and no rescission can be stored for it yet (a later one is delivered as a signal).
   */
  async function startDeparture(
    d: DepartureRow,
    by: string,
    opts: { fresh?: boolean } = {},
  ): Promise<StartResult> {
    try {
      // A termination rescinded before its workflow could start: the rescission goes in with the start,
      // so the workflow halts before it revokes anything.
      let rescind: { id: string; payload: unknown } | null = null;
      if (!opts.fresh) {
        const prior = await countAttempt(d);
        // Only a retry can find its own earlier start (whose answer was lost); a first start skips the RPC.
        if (prior.startAttempts > 1 && (await alreadyOurs(d))) {
          await markStarted(d, by);
          return { started: true };
        }
        rescind = prior.rescind;
      }
      if (rescind) {
        // signalWithStart signals whatever runs under this id: make sure nothing does.
        const running = await client
          .withDeadline(Date.now() + timeout, () => client.workflow.getHandle(d.workflowId).describe())
          .then((x) => x.status.name === 'RUNNING')
          .catch((e: unknown) => {
            if (e instanceof WorkflowNotFoundError) return false;
            throw e;
          });
        if (running)
          throw new WorkflowExecutionAlreadyStartedError(
            'already running',
            d.workflowId,
            OFFBOARDING_WORKFLOW,
          );
      }
      const options = {
        taskQueue: deps.taskQueue,
        workflowId: d.workflowId,
        args: [offboardingInput(d)],
        memo: { departureId: d.id },
        // Its status starts as `planning` with no red step; the workflow upserts both from then on.
        typedSearchAttributes: [
          ...searchAttributesOf(d),
          { key: SEARCH_ATTRIBUTES.status, value: 'planning' },
          { key: SEARCH_ATTRIBUTES.redSteps, value: 0 },
        ] as SearchAttributePair[],
        // A rehired employee's next departure may reuse the id; a running one may not.
        workflowIdReusePolicy: 'ALLOW_DUPLICATE' as const,
      };
      await client.withDeadline(
        Date.now() + timeout,
        (): Promise<unknown> =>
          rescind
            ? client.workflow.signalWithStart(OFFBOARDING_WORKFLOW, {
                ...options,
                signal: rescindSignal,
                signalArgs: [rescind.payload as unknown as Rescission],
              })
            : client.workflow.start(OFFBOARDING_WORKFLOW, { ...options, workflowIdConflictPolicy: 'FAIL' }),
      );
      if (rescind)
        await db.workflowMessage.update({
          where: { id: rescind.id },
          data: { status: 'delivered', deliveredAt: new Date(), outcome: 'sent with the workflow start' },
        });
      await markStarted(d, by);
      logger.info({ departureId: d.id, workflowId: d.workflowId }, 'offboarding workflow started');
      return { started: true };
    } catch (e) {
      if (e instanceof WorkflowExecutionAlreadyStartedError) {
        // Another instance (or an earlier attempt whose answer we lost) started it.
        const running = await departureOfWorkflow(d).catch(() => null);
        if (running === d.id) {
          await markStarted(d, by);
          return { started: true };
        }
        const closing = running ? await rescindedStillClosing(d, running).catch(() => null) : null;
        if (closing) {
          // Stays accepted: the dispatcher starts it once the rescinded run has finished.
          const error = `waiting for the rescinded offboarding ${closing} to finish closing`;
          await db.departure
            .update({ where: { id: d.id }, data: { lastStartError: error } })
            .catch(() => undefined);
          logger.info({ departureId: d.id, previous: closing }, error);
          return { started: false, error };
        }
        const error = `a different offboarding is already running as ${d.workflowId}`;
        await db.departure.update({
          where: { id: d.id },
          data: { lastStartError: error, status: 'blocked' },
        });
        await audit(db, {
          actor: by,
          action: 'workflow_start_blocked',
          departureId: d.id,
          details: { error },
        });
        logger.warn({ departureId: d.id }, error);
        return { started: false, error };
      }
      const error = e instanceof Error ? e.message : String(e);
      await db.departure
        .update({ where: { id: d.id }, data: { lastStartError: error.slice(0, 500) } })
        .catch(() => undefined);
      logger.warn({ departureId: d.id, err: error }, 'could not start workflow yet; it stays queued');
      return { started: false, error };
    }
  }

  type MessageRow = {
    id: string;
    kind: string;
    payload: unknown;
    departure: DepartureRow & { workflowStartedAt: Date | null };
  };

  /**
   * A held departure (awaiting a second operator's approval) that is rescinded never starts: it is
   * marked rescinded. True when it was one.
   */
  async function withdrawnWhileHeld(departureId: string): Promise<boolean> {
    const r = await db.departure.updateMany({
      where: { id: departureId, status: 'awaiting_approval', workflowStartedAt: null },
      data: { status: 'rescinded', rescindedAt: new Date() },
    });
    return r.count > 0;
  }

  /** Delivers one stored message; returns its final status and what happened. */
  async function deliver(
    m: MessageRow,
  ): Promise<{ status: 'delivered' | 'not_applicable'; outcome: string }> {
    const d = m.departure;
    if (!d.workflowStartedAt) {
      if (m.kind === 'lastDayChanged')
        return {
          status: 'not_applicable',
          outcome: 'applied before the start: the workflow reads the last day from the departure',
        };
      if (m.kind === 'contactUpdated')
        return {
          status: 'not_applicable',
          outcome: 'applied before the start: every email reads the addresses from the departure',
        };
      if (await withdrawnWhileHeld(d.id))
        return {
          status: 'not_applicable',
          outcome: 'withdrawn while it awaited approval: nothing had started, nothing was revoked',
        };
      const r = await startDeparture(d, 'rescission');
      if (!r.started && r.error.startsWith('a different offboarding'))
        return { status: 'not_applicable', outcome: `departure never started: ${r.error}` };
      if (!r.started) throw new Error(r.error);
      const after = await db.workflowMessage.findUniqueOrThrow({ where: { id: m.id } });
      if (after.status !== 'pending')
        return { status: 'delivered', outcome: after.outcome ?? 'sent with the workflow start' };
      // It had been started after all (an earlier answer was lost): signal it below.
    }
    let desc;
    try {
      desc = await client.withDeadline(Date.now() + timeout, () =>
        client.workflow.getHandle(d.workflowId).describe(),
      );
    } catch (e) {
      if (!(e instanceof WorkflowNotFoundError)) throw e;
      desc = null;
    }
    const ours = desc && ((await desc.memo) as { departureId?: string } | undefined)?.departureId === d.id;
    if (desc && ours && desc.status.name === 'RUNNING') {
      const handle = client.workflow.getHandle(d.workflowId, desc.runId);
      await client.withDeadline(Date.now() + timeout, () =>
        m.kind === 'rescind'
          ? handle.signal(rescindSignal, m.payload as Rescission)
          : m.kind === 'contactUpdated'
            ? handle.signal(contactUpdatedSignal, m.payload as ContactUpdate)
            : handle.signal(lastDayChangedSignal, m.payload as LastDayChange),
      );
      return { status: 'delivered', outcome: `signalled run ${desc.runId}` };
    }
    // The offboarding has finished (or is past retention).
    if (m.kind === 'lastDayChanged' || m.kind === 'contactUpdated')
      return { status: 'not_applicable', outcome: 'the offboarding had already finished' };
    try {
      await client.withDeadline(Date.now() + timeout, () =>
        client.workflow.start(RESCISSION_REVIEW_WORKFLOW, {
          taskQueue: deps.taskQueue,
          workflowId: rescissionReviewWorkflowId(d.id),
          args: [{ departureId: d.id, rescission: m.payload as Rescission }],
          typedSearchAttributes: searchAttributesOf(d),
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
        }),
      );
    } catch (e) {
      if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
    }
    return { status: 'delivered', outcome: 'offboarding had finished: review workflow started' };
  }

  /**
   * Delivers pending messages (oldest first), for one departure or all. Stops at the first failure
   * (Temporal down): the message stays pending and the dispatcher tries again.
   */
  /**
   * Delivers pending workflow messages, one pass at a time in this process: the intake's inline call and
   * the dispatcher's tick could both read the same pending message and signal it twice (seen in CI: two
   * `contactUpdated` signals 31 ms apart); serialized, the second pass finds it delivered.
   */
  let delivering: Promise<unknown> = Promise.resolve();
  function deliverMessages(departureId?: string, limit = 100): Promise<number> {
    const pass = delivering.then(() => deliverPending(departureId, limit));
    delivering = pass.catch(() => undefined);
    return pass;
  }

  async function deliverPending(departureId?: string, limit = 100): Promise<number> {
    const pending = await db.workflowMessage.findMany({
      where: { status: 'pending', ...(departureId ? { departureId } : {}) },
      orderBy: { createdAt: 'asc' },
      take: limit,
      include: { departure: true },
    });
    let delivered = 0;
    for (const m of pending) {
      try {
        const r = await deliver(m);
        await db.workflowMessage.updateMany({
          where: { id: m.id, status: 'pending' },
          data: { status: r.status, outcome: r.outcome, deliveredAt: new Date(), attempts: { increment: 1 } },
        });
        await audit(db, {
          actor: 'dispatcher',
          action: `message_${r.status}`,
          departureId: m.departureId,
          details: { messageId: m.id, kind: m.kind, outcome: r.outcome },
        });
        delivered++;
      } catch (e) {
        const error = e instanceof Error ? e.message : String(e);
        await db.workflowMessage
          .update({
            where: { id: m.id },
            data: { attempts: { increment: 1 }, lastError: error.slice(0, 500) },
          })
          .catch(() => undefined);
        logger.warn(
          { messageId: m.id, kind: m.kind, err: error },
          'message not delivered yet; it stays pending',
        );
        break;
      }
    }
    return delivered;
  }

  /** Starts every accepted departure that has no workflow yet (oldest first). Returns how many started. */
  async function dispatchPending(limit = 100): Promise<number> {
    await deliverMessages(undefined, limit);
    const pending = await db.departure.findMany({
      where: {
        workflowStartedAt: null,
        status: 'accepted',
        // Not one whose inline start (intake's) may still be in flight: it was tried in the last
        // `timeout`; once that has passed without a start, it is ours.
        OR: [{ startAttempts: 0 }, { updatedAt: { lt: new Date(Date.now() - timeout) } }],
      },
      orderBy: { createdAt: 'asc' },
      take: limit,
    });
    let started = 0;
    // Oldest first, `concurrency` at a time; a batch with a start Temporal refused ends the pass.
    for (let i = 0; i < pending.length; i += concurrency) {
      const results = await Promise.all(
        pending.slice(i, i + concurrency).map((d) => startDeparture(d, 'dispatcher')),
      );
      started += results.filter((r) => r.started).length;
      // Temporal still down: try later.
      if (results.some((r) => !r.started && !r.error.startsWith('a different offboarding'))) break;
    }
    return started;
  }

  /**
   * Intake claims a start slot before it stores a departure: granted while fewer than `maxInlineStarts`
   * run, so a quiet system starts the workflow while answering ("started"). Refused in a burst: the
   * departure is stored for the dispatcher and answered "queued" (see `queued`). Release with `release`.
   */
  function claimInlineStart(): boolean {
    if (inlineStarts >= maxInline) return false;
    inlineStarts++;
    return true;
  }
  function releaseInlineStart(): void {
    inlineStarts--;
  }
  /** A departure was stored without a start slot: wake the dispatcher to start it in the background. */
  function queued(): void {
    wakeDispatcher();
  }

  /** Runs `dispatchPending` every `intervalMs` until the returned stop function is called. */
  function runDispatcher(intervalMs: number): () => Promise<void> {
    let stopped = false;
    let running = false;
    let again = false;
    let current: Promise<unknown> = Promise.resolve();
    const tick = async () => {
      if (stopped) return;
      running = true;
      again = false;
      current = dispatchPending().catch((e: unknown) =>
        logger.warn({ err: e instanceof Error ? e.message : String(e) }, 'dispatcher pass failed'),
      );
      await current;
      running = false;
      // Woken during the pass: go again at once (the pass may have missed what was queued meanwhile).
      if (!stopped) timer = setTimeout(() => void tick(), again ? 0 : intervalMs);
    };
    let timer = setTimeout(() => void tick(), intervalMs);
    wakeDispatcher = () => {
      if (stopped) return;
      if (running) {
        again = true;
        return;
      }
      clearTimeout(timer);
      timer = setTimeout(() => void tick(), 0);
    };
    return async () => {
      stopped = true;
      wakeDispatcher = () => undefined;
      clearTimeout(timer);
      await current;
    };
  }

  return {
    startDeparture,
    claimInlineStart,
    releaseInlineStart,
    queued,
    deliverMessages,
    dispatchPending,
    runDispatcher,
  };
}

export type Starter = ReturnType<typeof createStarter>;
