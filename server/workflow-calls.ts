/**
 * How the API talks to running offboardings: the handle of the run serving a departure, signals and
 * updates with deadlines, one-time operator messages (sent once under a lock, audited), and the mapping
 * of Temporal's failures to the API's error codes (503 when Temporal or the worker does not answer).
 */
import {
  ApplicationFailure,
  isGrpcServiceError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
} from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import { UPDATE_REJECTIONS } from '../contract';
import { audit, type Db } from '../lib/db';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '../lib/errors';

/** gRPC status codes for "the server did not answer": DEADLINE_EXCEEDED, UNAVAILABLE. */
const NO_ANSWER_CODES = new Set([4, 14]);

/**
 * True when `err` (or a cause of it) says Temporal could not be reached or did not answer in time
 * (`codes`: by default either; UNAVAILABLE alone = could not be reached at all).
 */
export function isTemporalUnreachable(err: unknown, codes: ReadonlySet<number> = NO_ANSWER_CODES): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (isGrpcServiceError(e) && codes.has(e.code)) return true;
  }
  return false;
}
const UNAVAILABLE = new Set([14]);

/** Temporal did not answer (unreachable, restarting, deadline passed): 503, the caller retries. */
export const temporalUnavailable = (e: unknown) =>
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
export function updateError(e: unknown): AppError | null {
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

/** The calls to running offboardings the routes make, bound to the database and Temporal client. */
/** A one-time operator message (`sendOnce`). */
interface SendOnce {
  key: string;
  departureId: string;
  action: string;
  what: string;
  actor: string;
  details: Record<string, unknown>;
  send: () => Promise<void>;
}

/** A claim older than this is its dead sender's: the next request takes it over. */
const CLAIM_STALE_MS = 60_000;
/** How long a request waits for another one sending the same message. */
const CLAIM_WAIT_MS = 15_000;

export function createWorkflowCalls({ db, client }: { db: Db; client: Client }) {
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

  /** The audit row of a one-time message already sent, if any. */
  const sentBefore = (tx: Pick<Db, 'auditEvent'>, o: { key: string; departureId: string; action: string }) =>
    tx.auditEvent.findFirst({
      where: { departureId: o.departureId, action: o.action, details: { path: ['key'], equals: o.key } },
      select: { actor: true, at: true },
    });
  const alreadySent = (what: string, prior: { actor: string; at: Date }) =>
    new AppError(
      'conflict',
      `${what} was already sent by ${prior.actor.replace(/^operator:/, '')} at ${prior.at.toISOString()}`,
    );

  /**
   * Claims a one-time message for this request: 'mine', or the audit row of the one already sent, or
   * 'busy' while another request is sending it. A claim older than CLAIM_STALE_MS (its sender died) is
   * taken over. One short transaction under an advisory lock on the key.
   */
  const claim = (o: SendOnce) =>
    db.$transaction(
      async (tx) => {
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${o.key}, 0))`;
        const prior = await sentBefore(tx, o);
        if (prior) return { sent: prior } as const;
        const held = await tx.operatorMessage.findUnique({ where: { key: o.key } });
        if (held && Date.now() - held.claimedAt.getTime() < CLAIM_STALE_MS) return 'busy' as const;
        const data = { departureId: o.departureId, action: o.action, actor: o.actor, status: 'claimed' };
        await tx.operatorMessage.upsert({
          where: { key: o.key },
          create: { key: o.key, ...data },
          update: { ...data, claimedAt: new Date() },
        });
        return 'mine' as const;
      },
      { maxWait: 10_000, timeout: 5_000 },
    );

  /**
   * Sends an operator's one-time message (an asset received, a ticket or an archive confirmed) at most
   * once: a message already sent (its audit row, which carries the key) is refused with 409 naming who
   * sent it; otherwise this request claims it (`OperatorMessage`), `send` runs with no database
   * connection held (a slow Temporal cannot starve the pool), and the audit row is written. Two
   * requests at the same moment: the second waits (polling, no connection held) for the first, then
   * gets the 409; a send that fails gives up its claim, so the operator can try again.
   */
  const sendOnce = async (o: SendOnce): Promise<void> => {
    const deadline = Date.now() + CLAIM_WAIT_MS;
    for (;;) {
      const c = await claim(o);
      if (c === 'mine') break;
      if (c !== 'busy') throw alreadySent(o.what, c.sent);
      if (Date.now() > deadline)
        throw new AppError('conflict', `${o.what} is being sent by another request; try again in a minute`);
      await sleep(100);
    }
    try {
      await o.send();
    } catch (e) {
      await db.operatorMessage
        .deleteMany({ where: { key: o.key, status: 'claimed' } })
        .catch(() => undefined);
      throw e;
    }
    await db.$transaction(async (tx) => {
      await audit(tx, {
        actor: o.actor,
        action: o.action,
        departureId: o.departureId,
        details: { key: o.key, ...o.details },
      });
      await tx.operatorMessage.update({
        where: { key: o.key },
        data: { status: 'sent', sentAt: new Date() },
      });
    });
  };

  return { workflowIdOf, noAnswer, updateFailure, runOf, signalRunning, sendOnce };
}

export type WorkflowCalls = ReturnType<typeof createWorkflowCalls>;
