/**
 * One revocation step: the account matched, acted on and read back, and recorded green with its evidence
 * (or the error), paced by its system's rate limit. Four kinds: revoke a system's access, search for
 * the credentials the leaver owns, revoke one such credential, scope an account for a notice period.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type {
  DiscoverRef,
  MatchEvidence,
  OwnedCredentialRef,
  OwnedStepRef,
  StepOutcome,
  StepRef,
} from '../../contract';
import type { CatalogSystem } from '../../config/catalog';
import type { Prisma } from '../../lib/db';
import type { RevokeResult } from '../connector';
import { withShadowIt } from '../consents';
import { AccountMatchError, TargetThrottledError, UnknownSystemError } from '../errors';
import { noticeActionOf } from '../../config/notice';
import { connectorSpan } from '../../lib/tracing';
import { discoverMatched, revokeMatched, scopeMatched } from '../matched';
import { describeMatch } from '../matching';
import { withPace } from '../pace';
import { ownedCredentialStep } from '../plan';
import {
  SETTLED_STEP_STATUSES,
  stepRefOf,
  truncate,
  type Guard,
  type RevocationContext,
  type Sweep,
} from './context';
import type { createStepRecords } from './records';
import type { createTickets } from './tickets';

/** Runs steps of each kind; `sweep` when a sweep runs them (its timeout, its rescission check). */
export function createStepRunners(
  ctx: RevocationContext,
  records: ReturnType<typeof createStepRecords>,
  tickets: Pick<ReturnType<typeof createTickets>, 'ticketOpened'>,
) {
  const {
    db,
    system,
    subject,
    noticeOver,
    learnManager,
    connectorOf,
    whileDatabaseDown,
    attemptOf,
    stepWhere,
    stepRow,
  } = ctx;
  const { recordConfirmed, confirmedEarlier } = records;
  const { ticketOpened } = tickets;
  const markAttempt = (ref: StepRef, sweep?: Sweep) => records.markAttempt(ref, sweep !== undefined);
  const planOptions = ctx.plan.options;

  /**
   * Runs a connector call that changes the target and reads it back; records the step green with the
   * evidence, or the error (a throttled target's Retry-After becomes the next retry delay).
   */
  async function confirmedBy(
    ref: StepRef,
    sys: CatalogSystem,
    executingSystem: string,
    call: () => Promise<RevokeResult & { match?: MatchEvidence }>,
  ): Promise<StepOutcome> {
    const ctx = Context.current();
    const attempt = attemptOf(ref);
    try {
      // One span per connector call (lib/tracing.ts): system and action, no personal data.
      const r = await connectorSpan({ systemId: sys.id, action: ref.action, executingSystem, attempt }, call);
      const confirmedAt = new Date();
      const match = r.match ? { match: r.match } : {};
      // The audit row names the account and the key that found it; the step keeps every key's result.
      const matched = r.match
        ? { match: { outcome: r.match.outcome, by: r.match.by, account: r.match.account } }
        : {};
      await whileDatabaseDown(() =>
        recordConfirmed(
          ref,
          confirmedAt,
          { changes: r.changes, confirmation: r.confirmation, ...match } as Prisma.InputJsonValue,
          {
            actor: `worker:${executingSystem}`,
            details: {
              systemId: sys.id,
              action: ref.action,
              changes: r.changes,
              attempt,
              ...matched,
            } as Prisma.InputJsonValue,
          },
        ),
      );
      if (r.facts?.managerEmail) {
        const managerEmail = r.facts.managerEmail;
        await whileDatabaseDown(() => learnManager(ref.departureId, managerEmail, sys.id));
      }
      ctx.log.info('step confirmed', {
        systemId: sys.id,
        action: ref.action,
        attempt,
        changes: r.changes.length,
      });
      return {
        outcome: 'confirmed',
        attempts: attempt,
        actedAt: confirmedAt.toISOString(),
        confirmedAt: confirmedAt.toISOString(),
        detail: r.detail,
        ticketId: null,
      };
    } catch (e) {
      const message = truncate(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
      const matched = e instanceof AccountMatchError;
      await db.stepRecord
        .updateMany({
          where: { ...stepWhere(ref).departureId_systemId_action, status: { notIn: SETTLED_STEP_STATUSES } },
          data: {
            lastError: message,
            // What matching found is the evidence of a step nothing was done in.
            ...(matched ? { evidence: { match: e.evidence } as unknown as Prisma.InputJsonValue } : {}),
          },
        })
        .catch(() => undefined);
      // A match error names accounts (personal data): the log says only what kind it was.
      ctx.log.warn('step attempt failed', {
        systemId: sys.id,
        action: ref.action,
        attempt,
        error: matched ? `${e.name} (${e.evidence.outcome})` : message,
      });
      if (matched) {
        // A person decides: never retried, whatever retry policy an older run scheduled it with.
        throw ApplicationFailure.create({ type: e.name, message: e.message, nonRetryable: true });
      }
      if (e instanceof TargetThrottledError) {
        // Honour Retry-After exactly: the next attempt is scheduled no sooner than the target allows.
        throw ApplicationFailure.create({
          type: e.name,
          message: e.message,
          nextRetryDelay: Math.max(e.retryAfterMs, 1),
        });
      }
      throw e;
    }
  }

  /**
   * Runs one step's calls and records within its system's rate limit (pace.ts), waiting out an outage
   * of our database for the booking. `guard` bounds the step once it may start (a sweep's timeout).
   */
  function paced<T>(sys: CatalogSystem, step: () => Promise<T>, guard?: Guard): Promise<T> {
    return withPace(
      db,
      sys,
      () => (guard ? guard(step()) : step()),
      (book) => whileDatabaseDown(book),
    );
  }

  /**
   * Revokes one system's access for the departure and confirms it by reading the target back
   * (`confirmed`), or opens a ticket to the system's owner where there is no API (`ticket_opened`).
   * Records each attempt in the step table. Idempotent.
   */
  async function revokeStep(ref: StepRef, sweep?: Sweep): Promise<StepOutcome> {
    const sys = system(ref.systemId);
    let who = await whileDatabaseDown(() => subject(ref.departureId));
    // A system held by the notice period is revoked: the notice period is over.
    if (noticeActionOf(sys) !== 'revoke') await whileDatabaseDown(() => noticeOver(ref.departureId));
    return paced(
      sys,
      async () => {
        const prior = await whileDatabaseDown(() => markAttempt(ref, sweep));
        if (prior?.status === 'green') return confirmedEarlier(prior);
        if (sys.integration !== 'api') return ticketOpened(ref, sys, who);
        // A step tried before (a retry, a re-drive) reads the departure again: an operator may have
        // recorded the account id matching could not find.
        if (prior && prior.attempts > 0) who = await whileDatabaseDown(() => subject(ref.departureId, true));
        const connector = connectorOf(sys);
        // The third-party apps the leaver authorised, compared with the catalog (shadow IT).
        return confirmedBy(ref, sys, connector.executingSystem, async () =>
          withShadowIt(await revokeMatched(sys, connector, who), ctx.catalog),
        );
      },
      sweep?.guard,
    );
  }

  /**
   * Notice period: reduces the leaver's account in one system to what they need to work (admin roles
   * and privileged groups removed, sessions renewed; the account stays enabled) and confirms it by
   * reading the target back. Idempotent. The revocation of the same system runs when the last day ends.
   */
  async function scopeStep(ref: StepRef, sweep?: Sweep): Promise<StepOutcome> {
    const sys = system(ref.systemId);
    let who = await whileDatabaseDown(() => subject(ref.departureId));
    return paced(
      sys,
      async () => {
        const prior = await whileDatabaseDown(() => markAttempt(ref, sweep));
        if (prior?.status === 'green') return confirmedEarlier(prior);
        if (prior && prior.attempts > 0) who = await whileDatabaseDown(() => subject(ref.departureId, true));
        const connector = connectorOf(sys);
        return confirmedBy(ref, sys, connector.executingSystem, () => scopeMatched(sys, connector, who));
      },
      sweep?.guard,
    );
  }

  /**
   * Finds the credentials the leaver owns in a system (app registrations, service accounts) and adds
   * one step per credential to the step table; the workflow runs them. Confirmed by the search itself.
   */
  async function discoverStep(input: DiscoverRef, sweep?: Sweep): Promise<StepOutcome> {
    const ref = stepRefOf(input);
    const sys = system(ref.systemId);
    let who = await whileDatabaseDown(() => subject(ref.departureId));
    const connector = connectorOf(sys);
    if (!connector.discoverOwned)
      throw new UnknownSystemError(`the connector of "${sys.id}" cannot find owned credentials`);
    let found: OwnedCredentialRef[] = [];
    // A search changes nothing: it runs again even when an earlier attempt's record says green.
    const outcome = await paced(
      sys,
      async () => {
        const prior = await whileDatabaseDown(() => markAttempt(ref, sweep));
        if (prior && prior.attempts > 0) who = await whileDatabaseDown(() => subject(ref.departureId, true));
        return confirmedBy(ref, sys, connector.executingSystem, async () => {
          const r = await discoverMatched(sys, connector, who);
          found = r.found;
          return {
            changes: [],
            confirmation: { found: found.map((f) => ({ id: f.id, kind: f.kind, name: f.name })) },
            detail:
              `${describeMatch(r.match)}; ` +
              (found.length === 0
                ? 'owns no credentials here (confirmed by search)'
                : `owns ${found.length}: ${found.map((f) => `${f.kind} ${f.name}`).join(', ')}`),
            match: r.match,
          };
        });
      },
      sweep?.guard,
    );
    // Usually nothing is found: then there is no step to number or add.
    if (found.length === 0) return { ...outcome, discovered: [] };
    const base = await whileDatabaseDown(() =>
      db.stepRecord.count({ where: { departureId: ref.departureId } }),
    );
    const discovered = found.map((item, i) =>
      ownedCredentialStep(sys, input.taskQueue, item, base + i, connector.executingSystem, planOptions),
    );
    await whileDatabaseDown(() =>
      db.stepRecord.createMany({
        data: discovered.map((p) => stepRow(ref.departureId, p, null)),
        skipDuplicates: true,
      }),
    );
    return { ...outcome, discovered };
  }

  /**
   * Revokes one credential the leaver owns (rotating its secrets through the API) and confirms it, or
   * tickets it to the system's owner, as the catalog's `ownedCredentials` says. Idempotent.
   */
  async function revokeOwnedStep(ref: OwnedStepRef, sweep?: Sweep): Promise<StepOutcome> {
    const sys = system(ref.systemId);
    const who = await whileDatabaseDown(() => subject(ref.departureId));
    const stepRef = stepRefOf(ref);
    return paced(
      sys,
      async () => {
        const prior = await whileDatabaseDown(() => markAttempt(stepRef, sweep));
        if (prior?.status === 'green') return confirmedEarlier(prior);
        if (sys.ownedCredentials?.integration !== 'api') return ticketOpened(stepRef, sys, who, ref.owned);
        const connector = connectorOf(sys);
        if (!connector.revokeOwned)
          throw new UnknownSystemError(`the connector of "${sys.id}" cannot revoke owned credentials`);
        const revoke = connector.revokeOwned.bind(connector);
        return confirmedBy(stepRef, sys, connector.executingSystem, () => revoke(who, ref.owned));
      },
      sweep?.guard,
    );
  }

  return { revokeStep, discoverStep, revokeOwnedStep, scopeStep };
}
