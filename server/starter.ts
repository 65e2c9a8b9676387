/**
 * Starts offboarding workflows for accepted departures, exactly once each, and keeps retrying the ones
 * that could not be started (Temporal unreachable) in the background.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { OFFBOARDING_WORKFLOW, type OffboardingInput, type TerminationType } from '../contract';
import { audit, type Db } from '../lib/db';
import type { Logger } from '../lib/logger';

export interface DepartureRow {
  id: string;
  employeeId: string;
  workflowId: string;
  terminationType: string;
  confirmedAt: Date;
  lastDay: string | null;
}

export interface StarterDeps {
  db: Db;
  client: Client;
  taskQueue: string;
  logger: Logger;
  /** How long one start may take before the event is answered "queued". */
  startTimeoutMs?: number;
}

export type StartResult = { started: true } | { started: false; error: string };

function inputOf(d: DepartureRow): OffboardingInput {
  return {
    departureId: d.id,
    employeeId: d.employeeId,
    terminationType: d.terminationType as TerminationType,
    confirmedAt: d.confirmedAt.toISOString(),
    lastDay: d.lastDay,
  };
}

/** Starts workflows for departures; see `startDeparture` and `dispatchPending`. */
export function createStarter(deps: StarterDeps) {
  const { db, client, logger } = deps;
  const timeout = deps.startTimeoutMs ?? 3_000;

  /** True when the workflow with this id already runs (or ran) for this very departure. */
  async function alreadyOurs(d: DepartureRow): Promise<boolean> {
    try {
      const desc = await client.withDeadline(Date.now() + timeout, () =>
        client.workflow.getHandle(d.workflowId).describe(),
      );
      const memo = (await desc.memo) as { departureId?: string } | undefined;
      return memo?.departureId === d.id;
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) return false;
      throw e;
    }
  }

  async function markStarted(d: DepartureRow, by: string): Promise<void> {
    const res = await db.departure.updateMany({
      where: { id: d.id, workflowStartedAt: null },
      data: { workflowStartedAt: new Date(), status: 'started', lastStartError: null },
    });
    if (res.count > 0)
      await audit(db, {
        actor: by,
        action: 'workflow_started',
        departureId: d.id,
        details: { workflowId: d.workflowId },
      });
  }

  /** Starts one departure's workflow; never throws for Temporal being unavailable. */
  async function startDeparture(d: DepartureRow, by: string): Promise<StartResult> {
    try {
      const prior = await db.departure.update({
        where: { id: d.id },
        data: { startAttempts: { increment: 1 } },
        select: { startAttempts: true },
      });
      // Only a retry can find its own earlier start (whose answer was lost); a first start skips the RPC.
      if (prior.startAttempts > 1 && (await alreadyOurs(d))) {
        await markStarted(d, by);
        return { started: true };
      }
      await client.withDeadline(Date.now() + timeout, () =>
        client.workflow.start(OFFBOARDING_WORKFLOW, {
          taskQueue: deps.taskQueue,
          workflowId: d.workflowId,
          args: [inputOf(d)],
          memo: { departureId: d.id },
          // A rehired employee's next departure may reuse the id; a running one may not.
          workflowIdReusePolicy: 'ALLOW_DUPLICATE',
          workflowIdConflictPolicy: 'FAIL',
        }),
      );
      await markStarted(d, by);
      logger.info({ departureId: d.id, workflowId: d.workflowId }, 'offboarding workflow started');
      return { started: true };
    } catch (e) {
      if (e instanceof WorkflowExecutionAlreadyStartedError) {
        // Another instance (or an earlier attempt whose answer we lost) started it.
        if (await alreadyOurs(d).catch(() => false)) {
          await markStarted(d, by);
          return { started: true };
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

  /** Starts every accepted departure that has no workflow yet (oldest first). Returns how many started. */
  async function dispatchPending(limit = 100): Promise<number> {
    const pending = await db.departure.findMany({
      where: { workflowStartedAt: null, status: 'accepted' },
      orderBy: { createdAt: 'asc' },
      take: limit,
    });
    let started = 0;
    for (const d of pending) {
      const r = await startDeparture(d, 'dispatcher');
      if (r.started) started++;
      else if (!r.error.startsWith('a different offboarding')) break; // Temporal still down: try later.
    }
    return started;
  }

  /** Runs `dispatchPending` every `intervalMs` until the returned stop function is called. */
  function runDispatcher(intervalMs: number): () => Promise<void> {
    let stopped = false;
    let current: Promise<unknown> = Promise.resolve();
    const tick = async () => {
      if (stopped) return;
      current = dispatchPending().catch((e: unknown) =>
        logger.warn({ err: e instanceof Error ? e.message : String(e) }, 'dispatcher pass failed'),
      );
      await current;
      if (!stopped) timer = setTimeout(() => void tick(), intervalMs);
    };
    let timer = setTimeout(() => void tick(), intervalMs);
    return async () => {
      stopped = true;
      clearTimeout(timer);
      await current;
    };
  }

  return { startDeparture, dispatchPending, runDispatcher };
}

export type Starter = ReturnType<typeof createStarter>;
