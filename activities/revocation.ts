/**
 * The revocation activities: planning a departure's revocation, each step (matched, acted on, read back,
 * recorded), the sweep of a pass, tickets to owners where there is no API, failure reports, the last
 * day moved, the rescission review and the end of the revocation. Built by `createRevocationActivities`;
 * `activities/index.ts` assembles them with the other subsystems' activities.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { msToNumber } from '@temporalio/common';
import {
  MATCH_ERROR_TYPES,
  NON_RETRYABLE_ERROR_TYPES,
  type MatchEvidence,
  type OwnedCredentialRef,
  type PlannedStep,
  type Rescission,
  type RevocationPlan,
  type StepOutcome,
  type SweepInput,
  type SweepResult,
  type SweepStepResult,
} from '../contract';
import type { CatalogSystem } from '../config/catalog';
import { endOfLastDay, noticePeriodEnd } from '../lib/calendar';
import { audit, findDeparture, isDatabaseUnavailable, Prisma, sql } from '../lib/db';
import { subjectOf, type RevokeResult, type Subject } from './connector';
import { discoverMatched, revokeMatched } from './matched';
import { describeMatch } from './matching';
import {
  AccountMatchError,
  DepartureNotFoundError,
  TargetRejectedError,
  TargetThrottledError,
  TargetUnavailableError,
  UnknownSystemError,
} from './errors';
import { withPace } from './pace';
import { withTimeout } from '../lib/timeout';
import type { ActivityDeps } from './index';
import type { RevocationGauge } from './followup';
import { buildPlan, ownedCredentialStep, type PlanOptions } from './plan';

export interface StepRef {
  departureId: string;
  systemId: string;
  action: string;
  /**
   * Attempts already made outside this activity (a sweep's try): the attempt numbers recorded and
   * reported continue from there. Absent = none.
   */
  priorAttempts?: number;
}

export interface StepFailure extends StepRef {
  reason: 'retries_exhausted' | 'non_retryable' | 'sla_breached';
  error: string;
  attempts: number;
}

/** A search for owned credentials; the steps it finds run on the same task queue as the search. */
export interface DiscoverRef extends StepRef {
  taskQueue: string | null;
}

/** A step that revokes one credential the leaver owns. */
export interface OwnedStepRef extends StepRef {
  owned: OwnedCredentialRef;
}

export interface TicketDone extends StepRef {
  ticketId: string;
  confirmedBy: string;
  note: string;
}

/** Bounds a step's work (the sweep gives each step its own timeout). */
type Guard = <T>(work: Promise<T>) => Promise<T>;

/** A step run by a sweep: bounded by its own timeout, halted by a rescission. */
interface Sweep {
  guard: Guard;
}

/** A sweep found the termination rescinded before a step: the step does not start. */
class StepHalted extends Error {
  override readonly name = 'StepHalted';
}

/** A step's record before an attempt (timestamps as ISO text). */
interface PriorStep {
  status: string;
  attempts: number;
  actedAt: string | null;
  confirmedAt: string | null;
}

/**
 * A step's attempt, in one statement: reads the step's record as it was, marks it running with this
 * attempt's number unless it is settled, and (in a sweep, $7) reads whether the termination was
 * rescinded, in which case nothing is marked (`markAttempt`). Exported for `npm run bench -- db`.
 */
export const ATTEMPT_SQL = `WITH halt AS (
     SELECT $7::boolean AND (
              EXISTS (SELECT 1 FROM "WorkflowMessage" WHERE "departureId" = $1 AND kind = 'rescind')
              OR EXISTS (SELECT 1 FROM "Departure" WHERE id = $1 AND "rescindedAt" IS NOT NULL)
            ) AS rescinded),
   prior AS (
     SELECT status, attempts,
            to_char("actedAt", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "actedAt",
            to_char("confirmedAt", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "confirmedAt"
       FROM "StepRecord" WHERE "departureId" = $1 AND "systemId" = $2 AND action = $3),
   attempt AS (
   UPDATE "StepRecord"
      SET "startedAt" = coalesce("startedAt", $4::timestamp),
          status = CASE WHEN status = ANY($6) THEN status ELSE 'running' END,
          attempts = CASE WHEN status = ANY($6) THEN attempts ELSE $5 END,
          "updatedAt" = $4::timestamp
    WHERE "departureId" = $1 AND "systemId" = $2 AND action = $3
      AND ("startedAt" IS NULL OR NOT (status = ANY($6)))
      AND NOT (SELECT rescinded FROM halt)
   RETURNING 1)
   SELECT prior.*, (SELECT rescinded FROM halt) AS rescinded FROM prior`;

/**
 * A step confirmed: green with its evidence and its `step_confirmed` audit row, in one statement
 * (`recordConfirmed`). Exported for `npm run bench -- db`.
 */
export const CONFIRM_SQL = `WITH step AS (
     UPDATE "StepRecord"
        SET status = 'green', "actedAt" = $4::timestamp, "confirmedAt" = $4::timestamp,
            "finishedAt" = $4::timestamp, "lastError" = NULL, evidence = $5::jsonb,
            "updatedAt" = $4::timestamp
      WHERE "departureId" = $1 AND "systemId" = $2 AND action = $3
     RETURNING "departureId")
   INSERT INTO "AuditEvent" (at, "createdAt", actor, action, "departureId", details)
   SELECT $4::timestamp, $4::timestamp, $6, 'step_confirmed', step."departureId", $7::jsonb
     FROM step`;

/** The matching error type a step failed with (its error starts with it), or null. */
function matchFailureOf(error: string): MatchErrorType | null {
  return Object.values(MATCH_ERROR_TYPES).find((t) => error.startsWith(`${t}:`)) ?? null;
}

type MatchErrorType = (typeof MATCH_ERROR_TYPES)[keyof typeof MATCH_ERROR_TYPES];

/** Why a step of each matching failure is red, for its owner. */
const MATCH_WHY: Record<MatchErrorType, string> = {
  AccountNotFoundError:
    'no account of theirs was found there by any matching key, where every employee is expected to have one',
  AmbiguousAccountError: 'more than one account matches them, so nothing was changed there',
  ProtectedAccountError: 'the account that matches them is protected, so automation did not touch it',
};

/** What the owner of a step of each matching failure is asked to do. */
const MATCH_NEXT: Record<MatchErrorType, string> = {
  AccountNotFoundError:
    'Please find their account. If they have one, record its id on the departure (POST /departures/<id>/accounts, or offboard account) and re-drive the step; if they never had one, resolve the report item as no_account with a note. The step stays red until then.',
  AmbiguousAccountError:
    'Please decide which account is theirs (the candidates are in the last error above), record its id on the departure (POST /departures/<id>/accounts, or offboard account) and re-drive the step, or revoke it by hand and record how. Nothing was changed in either account.',
  ProtectedAccountError:
    'A person must decide what happens to a protected account: act in the system yourself and record how in Offboard. The step stays red until then.',
};

/** A sweep tries this many application steps at once (as the workflow sweeps them step by step). */
const SWEEP_CONCURRENCY = 4;

/** A step that failed in a sweep, described as a failed step activity would be. */
function sweepFailure(stepId: string, startedAt: string, e: unknown): SweepStepResult {
  // confirmedBy turns a throttled target into an ApplicationFailure of that type with its delay.
  const type = e instanceof ApplicationFailure ? (e.type ?? 'Error') : e instanceof Error ? e.name : 'Error';
  const message = e instanceof Error ? e.message : String(e);
  return {
    stepId,
    startedAt,
    outcome: 'failed',
    error: truncate(`${type}: ${message}`),
    nonRetryable:
      (NON_RETRYABLE_ERROR_TYPES as readonly string[]).includes(type) ||
      (e instanceof ApplicationFailure && e.nonRetryable === true),
    retryAfterMs:
      e instanceof TargetThrottledError
        ? e.retryAfterMs
        : e instanceof ApplicationFailure && e.nextRetryDelay !== undefined && e.nextRetryDelay !== null
          ? msToNumber(e.nextRetryDelay)
          : null,
  };
}

/** Just the step's key and attempts of a larger activity input (what the step table's writes take). */
function stepRefOf(x: StepRef): StepRef {
  return {
    departureId: x.departureId,
    systemId: x.systemId,
    action: x.action,
    priorAttempts: x.priorAttempts,
  };
}

function truncate(s: string, n = 1000): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/** A value for a `jsonb` column in raw SQL, as the Prisma client writes a `Json` field: JSON text. */
function jsonb(value: Prisma.InputJsonValue): string {
  return JSON.stringify(value);
}

/** What the Prisma client throws when `update` finds no row (P2025), for the raw statements below. */
function stepNotFound(ref: StepRef): Prisma.PrismaClientKnownRequestError {
  return new Prisma.PrismaClientKnownRequestError(
    `No record was found for an update: step ${ref.departureId}/${ref.systemId}/${ref.action}.`,
    { code: 'P2025', clientVersion: Prisma.prismaVersion.client },
  );
}

/**
 * Heartbeats an ordinary activity. A local activity has no heartbeat (Core keeps its workflow task
 * alive instead), so there it does nothing.
 */
function heartbeat(ctx: Context, details?: unknown): void {
  if (!ctx.info.isLocal) ctx.heartbeat(details);
}

/** Creates the revocation activities; `revocations` counts their work in flight (followup.ts paces by it). */
export function createRevocationActivities(deps: ActivityDeps, revocations: RevocationGauge) {
  const { db, catalog, connectors, mailer } = deps;
  const systems = new Map(catalog.systems.map((s) => [s.id, s]));
  const subjects = new Map<string, Subject>();
  /** Departures seen in their notice period (`scoped`) whose row has not been moved on to `running`. */
  const inNotice = new Set<string>();
  const legacy = deps.legacyPlan ?? {};
  const sweep = legacy.sweep ?? true;
  const localSweep = sweep && (legacy.localSweep ?? true);
  const firstRound = legacy.firstRound ?? true;
  // A sweep already makes a pass one activity: its fallback steps stay ordinary activities.
  const planOptions: PlanOptions = { localSteps: !sweep && (legacy.localSteps ?? false) };

  function system(id: string): CatalogSystem {
    const s = systems.get(id);
    if (!s) throw new UnknownSystemError(`system "${id}" is not in this worker's catalog`);
    return s;
  }

  async function loadDeparture(departureId: string) {
    const d = await findDeparture(db, departureId);
    if (!d) throw new DepartureNotFoundError(`no departure ${departureId}`);
    return d;
  }

  /** The leaver as the departure record says (cached per process; `fresh` reads it again). */
  async function subject(departureId: string, fresh = false): Promise<Subject> {
    const hit = fresh ? undefined : subjects.get(departureId);
    if (hit) return hit;
    const d = await loadDeparture(departureId);
    const s = subjectOf(d);
    if (subjects.size > 10_000) subjects.clear();
    subjects.set(departureId, s);
    if (d.status === 'scoped') inNotice.add(departureId);
    return s;
  }

  /**
   * The notice period is over once a non-privileged system is revoked: the departure row says `running`
   * again (it said "Notice period" until sign-off). One statement per departure that had a notice period.
   */
  async function noticeOver(departureId: string): Promise<void> {
    if (!inNotice.has(departureId)) return;
    await db.departure.updateMany({
      where: { id: departureId, status: 'scoped' },
      data: { status: 'running' },
    });
    inNotice.delete(departureId);
  }

  const stepRow = (departureId: string, p: PlannedStep, scheduledFor: Date | null) => ({
    departureId,
    systemId: p.systemId,
    systemName: p.systemName,
    action: p.action,
    kind: p.kind,
    integration: p.integration,
    tier: p.tier,
    ordinal: p.ordinal,
    privileged: p.privileged,
    scheduledFor,
    executingSystem: p.executingSystem,
  });

  /**
   * Runs a database call of a revocation attempt; while Offboard's own database cannot be reached,
   * waits for it (heartbeating) as long as the attempt has time left. An outage of our database is not
   * the target's failure: it must not use up the retries the catalog gives the target, and the target
   * is not called until the attempt is recorded.
   */
  async function whileDatabaseDown<T>(fn: () => Promise<T>): Promise<T> {
    const ctx = Context.current();
    const { currentAttemptScheduledTimestampMs: scheduled, startToCloseTimeoutMs: timeout } = ctx.info;
    const deadline = scheduled + timeout - 1_000;
    for (let delay = 200; ; delay = Math.min(delay * 2, 2_000)) {
      try {
        return await fn();
      } catch (e) {
        if (!isDatabaseUnavailable(e) || Date.now() + delay >= deadline) throw e;
        heartbeat(ctx);
        await ctx.sleep(delay);
      }
    }
  }

  /** This attempt's number: the activity's, after any a sweep made before it. */
  const attemptOf = (ref: StepRef) => Context.current().info.attempt + (ref.priorAttempts ?? 0);

  /** Step states a late (timed-out) attempt must not overwrite. */
  const SETTLED_STEP_STATUSES = ['green', 'yellow'];
  const stepWhere = (r: StepRef) => ({
    departureId_systemId_action: { departureId: r.departureId, systemId: r.systemId, action: r.action },
  });

  async function openTicket(
    ref: StepRef,
    sys: CatalogSystem,
    who: Subject,
    owned?: OwnedCredentialRef,
  ): Promise<{ id: string; due: Date }> {
    const key = owned ? `${ref.departureId}:${sys.id}:${ref.action}` : `${ref.departureId}:${sys.id}`;
    const slaHours = owned ? (sys.ownedCredentials?.ticketSlaHours ?? 24) : (sys.ticketSlaHours ?? 24);
    const due = new Date(Date.now() + slaHours * 3_600_000);
    const summary = owned
      ? `Service ticket: ${who.employeeName} (${who.employeeId}) owns ${owned.kind} "${owned.name}" in ${sys.name}: rotate its secrets and give it a new owner`
      : `${sys.integration === 'manual' ? 'Manual task' : 'Service ticket'}: revoke all access of ${who.employeeName} (${who.employeeId}) in ${sys.name}`;
    const ticket = await db.ticket.upsert({
      where: { key },
      create: {
        key,
        departureId: ref.departureId,
        systemId: sys.id,
        summary,
        ownerName: sys.owner.name,
        ownerEmail: sys.owner.email,
        slaDueAt: due,
      },
      update: {},
    });
    await mailer.send({
      key: `ticket:${ticket.id}:opened`,
      departureId: ref.departureId,
      purpose: 'ticket_opened',
      to: sys.owner.email,
      subject: `[Offboard] Action needed by ${ticket.slaDueAt.toISOString()}: revoke ${who.employeeName}'s access in ${sys.name}`,
      text: [
        `Hello ${sys.owner.name},`,
        '',
        `${summary}.`,
        owned
          ? 'The catalog asks for this to be done by its owner rather than automatically.'
          : `${sys.name} has no API Offboard can use, so this is yours to do by hand.`,
        '',
        `Ticket: ${ticket.id}`,
        `Employee: ${who.employeeName} (${who.employeeId}, ${who.workEmail})`,
        `Due (SLA ${slaHours} h): ${ticket.slaDueAt.toISOString()}`,
        '',
        'When the account is disabled, confirm it (an operator token with role it or admin):',
        `  curl -X POST -H 'authorization: Bearer <token>' -H 'content-type: application/json' \\`,
        `    -d '{"note":"what you did"}' ${deps.publicUrl}/tickets/${ticket.id}/confirm`,
        '',
        `If it is not confirmed by the due time the step turns red and ${sys.escalationOwner.name} is told.`,
      ].join('\n'),
    });
    return { id: ticket.id, due: ticket.slaDueAt };
  }

  function connectorOf(sys: CatalogSystem) {
    const c = connectors.get(sys.id);
    if (!c) throw new UnknownSystemError(`no connector for system "${sys.id}"`);
    return c;
  }

  /*
   * The step table's writes on the revocation hot path (`markAttempt`, `recordConfirmed`) are one raw
   * statement each, one round trip. Through the Prisma client they were two statements each, and each
   * `updateMany` three round trips (it runs in its own BEGIN/COMMIT): eight round trips per step, at
   * about 2 ms of worker CPU per client statement against 0.6 ms per `$executeRaw` and 0.15 ms on the
   * `pg` pool the client runs on (`sql`; `npm run bench -- db`). They write what the client wrote:
   * timestamps from this process's clock (`@updatedAt` included; as ISO text cast to `timestamp`, the
   * UTC wall time the client stores), JSON as JSON text, P2025 where `update` found no row.
   */

  /**
   * Records the start of an attempt in the step table: `startedAt` on the first, `running` and the
   * attempt number unless the step is settled. Never moves a step back from green or yellow: an attempt
   * that timed out can still be running here (its database call stuck in a database outage) after a
   * later attempt confirmed the step, and must not make the record say "running" again. Returns the
   * step's record as it was before (null: no such step). In a sweep, a rescinded termination (stored
   * by the API or the intake before they signal, or by `noteRescission`) leaves the step untouched and
   * throws `StepHalted`: the same statement reads it, so no step starts after it is seen.
   */
  async function markAttempt(ref: StepRef, sweep?: Sweep): Promise<PriorStep | null> {
    const attempt = attemptOf(ref);
    const { rows } = await sql<PriorStep & { rescinded: boolean }>(db, ATTEMPT_SQL, [
      ref.departureId,
      ref.systemId,
      ref.action,
      new Date().toISOString(),
      attempt,
      SETTLED_STEP_STATUSES,
      sweep !== undefined,
    ]);
    const row = rows[0];
    if (row?.rescinded) throw new StepHalted();
    return row ?? null;
  }

  /**
   * A step its record shows confirmed already (an earlier attempt confirmed it and then could not
   * report back: its worker died, or a sweep it ran in did): the target is not touched again.
   */
  function confirmedEarlier(prior: PriorStep): StepOutcome {
    const now = new Date().toISOString();
    return {
      outcome: 'confirmed',
      attempts: prior.attempts,
      actedAt: prior.actedAt ?? now,
      confirmedAt: prior.confirmedAt ?? now,
      detail: `confirmed earlier (attempt ${prior.attempts})`,
      ticketId: null,
    };
  }

  /**
   * Records the step green with its evidence and appends its `step_confirmed` audit row, in one
   * statement, so in one transaction (no green step without its audit row). The audit row is the one
   * `audit()` (lib/db.ts) inserts: `at` and `createdAt` from this clock; `seq`, `prevHash` and `hash`
   * set by the chain trigger. The step's row is locked before the trigger takes the chain's lock (the
   * audit row last, as lib/db.ts asks). No step: P2025 and no audit row, as before.
   */
  async function recordConfirmed(
    ref: StepRef,
    confirmedAt: Date,
    evidence: Prisma.InputJsonValue,
    entry: { actor: string; details: Prisma.InputJsonValue },
  ): Promise<void> {
    const at = confirmedAt.toISOString();
    const { rowCount: inserted } = await sql(db, CONFIRM_SQL, [
      ref.departureId,
      ref.systemId,
      ref.action,
      at,
      jsonb(evidence),
      entry.actor,
      jsonb(entry.details),
    ]);
    if (inserted === 0) throw stepNotFound(ref);
  }

  /** Opens (or finds) the step's ticket and records the step yellow. */
  async function ticketOpened(
    ref: StepRef,
    sys: CatalogSystem,
    who: Subject,
    owned?: OwnedCredentialRef,
  ): Promise<StepOutcome> {
    const t = await whileDatabaseDown(() => openTicket(ref, sys, who, owned));
    const actedAt = new Date();
    const detail = `ticket ${t.id} opened for ${sys.owner.name}, due ${t.due.toISOString()}`;
    await whileDatabaseDown(() =>
      db.stepRecord.update({
        where: stepWhere(ref),
        data: { status: 'yellow', actedAt, lastError: null, evidence: { ticketId: t.id, slaDueAt: t.due } },
      }),
    );
    return {
      outcome: 'ticket_opened',
      attempts: attemptOf(ref),
      actedAt: actedAt.toISOString(),
      confirmedAt: null,
      detail,
      ticketId: t.id,
    };
  }

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
      const r = await call();
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

  /** One revocation pass in one activity (`sweepRevocations`, documented where it is exported). */
  async function sweepPass(input: SweepInput): Promise<SweepResult> {
    const ctx = Context.current();
    const results: SweepStepResult[] = [];
    const discovered: PlannedStep[] = [];
    const beat = setInterval(() => heartbeat(ctx, results.length), 2_000);
    const tryStep = async (p: PlannedStep): Promise<SweepStepResult> => {
      heartbeat(ctx, results.length);
      const ref = { departureId: input.departureId, systemId: p.systemId, action: p.action };
      const startedAt = new Date().toISOString();
      const limitMs = msToNumber(p.startToCloseTimeout as Parameters<typeof msToNumber>[0]);
      // The step's own timeout, from when it may start (after its system's pace, pace.ts).
      const guard: Guard = (work) =>
        withTimeout(
          work,
          limitMs,
          () => new TargetUnavailableError(`no answer within ${p.startToCloseTimeout}`),
        );
      try {
        const r =
          p.kind === 'revoke'
            ? await revokeStep(ref, { guard })
            : p.kind === 'discover_owned'
              ? await discoverStep({ ...ref, taskQueue: p.taskQueue }, { guard })
              : await revokeOwnedStep({ ...ref, owned: p.owned! }, { guard });
        const { discovered: found, ...outcome } = r;
        discovered.push(...(found ?? []));
        return { stepId: p.stepId, startedAt, ...outcome };
      } catch (e) {
        if (e instanceof StepHalted) return { stepId: p.stepId, outcome: 'halted' };
        return sweepFailure(p.stepId, startedAt, e);
      }
    };
    try {
      for (const p of input.ordered) {
        const r = await tryStep(p);
        results.push(r);
        if (r.outcome === 'failed' || r.outcome === 'halted') return { results, discovered };
      }
      const sweepSteps = () => [...input.applications, ...discovered];
      let next = 0;
      const lane = async () => {
        for (let p = sweepSteps()[next++]; p; p = sweepSteps()[next++]) results.push(await tryStep(p));
      };
      await Promise.all(Array.from({ length: SWEEP_CONCURRENCY }, lane));
      return { results, discovered };
    } finally {
      clearInterval(beat);
    }
  }

  /** The HRIS sent no manager; a target (Entra) knew it: keep it on the departure record. */
  async function learnManager(departureId: string, managerEmail: string, from: string): Promise<void> {
    const res = await db.departure.updateMany({
      where: { id: departureId, managerEmail: null },
      data: { managerEmail },
    });
    subjects.delete(departureId);
    if (res.count > 0)
      await audit(db, {
        actor: `worker:${from}`,
        action: 'manager_recorded',
        departureId,
        details: { managerEmail, source: from },
      });
  }

  /**
   * Revokes one system's access for the departure and confirms it by reading the target back
   * (`confirmed`), or opens a ticket to the system's owner where there is no API (`ticket_opened`).
   * Records each attempt in the step table. Idempotent.
   */
  async function revokeStep(ref: StepRef, sweep?: Sweep): Promise<StepOutcome> {
    const sys = system(ref.systemId);
    let who = await whileDatabaseDown(() => subject(ref.departureId));
    if (!sys.privileged) await whileDatabaseDown(() => noticeOver(ref.departureId));
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
        return confirmedBy(ref, sys, connector.executingSystem, () => revokeMatched(sys, connector, who));
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

  /** An activity counted as revocation work in flight. */
  const tracked =
    <A, R>(activity: (input: A) => Promise<R>) =>
    (input: A): Promise<R> =>
      revocations.track(() => activity(input));

  return {
    /**
     * Plans the revocation of a departure from the catalog, records the step table (all `pending`) and
     * marks the departure running. A voluntary departure whose last day has not ended gets a notice
     * period: its non-privileged steps are scheduled for the end of that day (company time zone). The
     * plan lands in history, so a catalog change later does not alter a running offboarding.
     */
    async planRevocation(input: { departureId: string }): Promise<RevocationPlan> {
      const d = await loadDeparture(input.departureId);
      const steps = buildPlan(catalog, connectors, Context.current().info.taskQueue, planOptions);
      const restAt = noticePeriodEnd(d, catalog.organization.timeZone);
      const details = {
        steps: steps.map((p) => `${p.ordinal + 1}. ${p.tier}/${p.systemId}/${p.action}`),
        noticePeriod: restAt
          ? {
              lastDay: d.lastDay,
              timeZone: catalog.organization.timeZone,
              revokeRestAt: restAt.toISOString(),
              now: steps.filter((p) => p.privileged).map((p) => p.stepId),
            }
          : null,
      };
      const rows = steps.map((p) => ({
        ...stepRow(d.id, p, restAt && !p.privileged ? restAt : null),
        id: randomUUID(),
      }));
      // One statement, one transaction: the step table (a repeat adds nothing), the departure running or
      // scoped, and the `revocation_planned` audit row once (last: the chain's lock, see lib/db.ts).
      const now = new Date().toISOString();
      await sql(
        db,
        `WITH steps AS (
           INSERT INTO "StepRecord" (id, "departureId", "systemId", "systemName", action, kind, integration,
                                     tier, ordinal, privileged, "scheduledFor", "executingSystem",
                                     "createdAt", "updatedAt")
           SELECT s.id, $1, s."systemId", s."systemName", s.action, s.kind, s.integration, s.tier,
                  s.ordinal, s.privileged, s."scheduledFor"::timestamp, s."executingSystem",
                  $3::timestamp, $3::timestamp
             FROM jsonb_to_recordset($2::jsonb) AS s(id text, "systemId" text, "systemName" text,
                  action text, kind text, integration text, tier text, ordinal int, privileged boolean,
                  "scheduledFor" text, "executingSystem" text)
           ON CONFLICT ("departureId", "systemId", action) DO NOTHING
           RETURNING 1),
         dep AS (
           UPDATE "Departure" SET status = $4, "revokeRestAt" = $5::timestamp, "updatedAt" = $3::timestamp
            WHERE id = $1
           RETURNING id)
         INSERT INTO "AuditEvent" (at, "createdAt", actor, action, "departureId", details)
         SELECT $3::timestamp, $3::timestamp, 'workflow', 'revocation_planned', dep.id, $6::jsonb
           FROM dep
          WHERE NOT EXISTS (SELECT 1 FROM "AuditEvent" WHERE "departureId" = $1 AND action = 'revocation_planned')`,
        [
          d.id,
          JSON.stringify(rows),
          now,
          restAt ? 'scoped' : 'running',
          restAt?.toISOString() ?? null,
          JSON.stringify(details),
        ],
      );
      return {
        steps,
        ...(sweep ? { sweep: true } : {}),
        ...(localSweep ? { localSweep: true, quietRevoking: true } : {}),
        ...(firstRound ? { firstRound: true } : {}),
        revokeRestAt: restAt?.toISOString() ?? null,
        documents: {
          ndaReminderEveryHours: catalog.documents.nda.reminderEveryHours,
          ndaDeadlineDays: catalog.documents.nda.deadlineDays,
          dataSourceIds: catalog.dataSources.map((x) => x.id),
        },
        verification: {
          triggerAt: d.createdAt.toISOString(),
          reportAfterHours: catalog.verification.reportAfterHours,
          redEscalationAfterHours: catalog.verification.redEscalationAfterHours,
          continueAsNewAfterEvents: catalog.verification.continueAsNewAfterEvents,
          afterPaperwork: true,
        },
      };
    },

    /**
     * Applies a moved last day: returns when the non-privileged systems are now revoked (null = at once,
     * the new last day has already ended) and reschedules the waiting steps in the step table.
     */
    async moveLastDay(input: {
      departureId: string;
      lastDay: string;
      source: string;
    }): Promise<{ revokeRestAt: string | null }> {
      const d = await loadDeparture(input.departureId);
      let end: Date;
      try {
        end = endOfLastDay(input.lastDay, catalog.organization.timeZone);
      } catch (e) {
        throw new TargetRejectedError((e as Error).message);
      }
      const restAt = end.getTime() > Date.now() ? end : null;
      await db.$transaction([
        db.departure.update({
          where: { id: d.id },
          data: { lastDay: input.lastDay, revokeRestAt: restAt ?? new Date() },
        }),
        db.stepRecord.updateMany({
          where: { departureId: d.id, status: 'pending', scheduledFor: { not: null } },
          data: { scheduledFor: restAt ?? new Date() },
        }),
      ]);
      await audit(db, {
        actor: 'workflow',
        action: 'notice_period_moved',
        departureId: d.id,
        details: {
          from: d.lastDay,
          to: input.lastDay,
          source: input.source,
          revokeRestAt: restAt?.toISOString() ?? 'now',
        },
      });
      return { revokeRestAt: restAt?.toISOString() ?? null };
    },

    /**
     * Revokes one system's access for the departure and confirms it by reading the target back
     * (`confirmed`), or opens a ticket to the system's owner where there is no API (`ticket_opened`).
     * Records each attempt in the step table. Idempotent.
     */
    revokeAccess: tracked((ref: StepRef) => revokeStep(ref)),

    /**
     * Finds the credentials the leaver owns in a system (app registrations, service accounts) and adds
     * one step per credential to the step table; the workflow runs them. Confirmed by the search itself.
     */
    discoverOwnedCredentials: tracked((input: DiscoverRef) => discoverStep(input)),

    /**
     * Revokes one credential the leaver owns (rotating its secrets through the API) and confirms it, or
     * tickets it to the system's owner, as the catalog's `ownedCredentials` says. Idempotent.
     */
    revokeOwnedCredential: tracked((ref: OwnedStepRef) => revokeOwnedStep(ref)),

    /**
     * One revocation pass in one activity: tries every step once, in PRODUCT order (identity,
     * directory, VPN, MFA and the searches for owned credentials one after another, stopping at the
     * first that fails; then the applications and the credentials found, concurrently, each on its own).
     * Rate-limited systems are paced through the shared pace (pace.ts). Before each step it reads
     * whether the termination was rescinded (the API and the intake store a rescission before they
     * signal; the workflow records one it got otherwise with `noteRescission`) and halts if so. A step
     * that fails is reported, not retried: the workflow retries it as its own activity by the system's
     * policy, counting this try. Heartbeats while it runs; a sweep that dies (worker killed) is simply
     * not trusted: the workflow runs the pass step by step, every step being idempotent.
     */
    sweepRevocations: tracked(sweepPass),

    /**
     * Records a rescission the workflow received while a sweep was running, so that the sweep halts
     * at its next step (the API and the intake record theirs before they signal; this covers a signal
     * sent straight to Temporal). Sets `rescindedAt` if not yet set. Idempotent.
     */
    async noteRescission(input: { departureId: string; rescission: Rescission }): Promise<void> {
      // A signal sent by hand may carry anything as its instant: then now is recorded.
      const at = Date.parse(input.rescission.at);
      const when = new Date(Number.isFinite(at) ? at : Date.now()).toISOString();
      await sql(
        db,
        `UPDATE "Departure" SET "rescindedAt" = $2::timestamptz AT TIME ZONE 'UTC',
                                "updatedAt" = now() AT TIME ZONE 'UTC'
          WHERE id = $1 AND "rescindedAt" IS NULL`,
        [input.departureId, when],
      );
    },

    /**
     * Turns a step red after its retries ran out (or its ticket's SLA passed), tells the system's owner
     * by email (and the escalation owner on an SLA breach) and records it in the audit trail.
     */
    async reportStepFailure(f: StepFailure): Promise<{ notified: string[] }> {
      const sys = system(f.systemId);
      const who = await subject(f.departureId);
      const now = new Date();
      const step = await db.stepRecord.update({
        where: stepWhere(f),
        data: {
          status: 'red',
          finishedAt: now,
          lastError: truncate(f.error),
          attempts: f.attempts || undefined,
        },
      });
      const red = await db.stepRecord.count({ where: { departureId: f.departureId, status: 'red' } });
      await db.departure.update({ where: { id: f.departureId }, data: { redSteps: red } });
      if (f.reason === 'sla_breached')
        await db.ticket.updateMany({
          where: { key: `${f.departureId}:${f.systemId}`, status: 'open' },
          data: { status: 'breached' },
        });
      const to = f.reason === 'sla_breached' ? sys.escalationOwner : sys.owner;
      const cc = f.reason === 'sla_breached' ? [sys.owner.email] : [];
      const matching = matchFailureOf(f.error);
      const why =
        f.reason === 'sla_breached'
          ? `its ticket was not confirmed within the ${sys.ticketSlaHours ?? 24} h SLA`
          : matching
            ? MATCH_WHY[matching]
            : f.reason === 'non_retryable'
              ? 'the target refused it and retrying cannot help'
              : `it still failed after ${f.attempts} attempts`;
      const sent = await mailer.send({
        key: `step:${f.departureId}:${f.systemId}:${f.action}:failed:${f.reason}`,
        departureId: f.departureId,
        purpose: f.reason === 'sla_breached' ? 'step_escalated' : 'step_failed',
        to: to.email,
        cc,
        subject: `[Offboard] RED: ${who.employeeName} may still have access to ${sys.name}`,
        text: [
          `Hello ${to.name},`,
          '',
          `Offboard could not confirm that ${who.employeeName} (${who.employeeId}, ${who.workEmail}) no longer`,
          `has access to ${sys.name}: ${why}.`,
          '',
          `Step: ${step.tier} / ${step.action} (executing system: ${step.executingSystem})`,
          `Last error: ${f.error}`,
          `Departure: ${deps.publicUrl}/departures/${f.departureId}`,
          '',
          matching
            ? MATCH_NEXT[matching]
            : 'Please revoke the access by hand now and record how in Offboard. The step stays red until then.',
        ].join('\n'),
      });
      await audit(db, {
        actor: 'workflow',
        action: f.reason === 'sla_breached' ? 'step_sla_breached' : 'step_failed',
        departureId: f.departureId,
        details: {
          systemId: f.systemId,
          action: f.action,
          attempts: f.attempts,
          error: truncate(f.error, 500),
          ...(matching ? { match: (step.evidence as { match?: unknown } | null)?.match ?? null } : {}),
          notified: [to.email, ...cc],
          messageId: sent.messageId,
        },
      });
      return { notified: [to.email, ...cc] };
    },

    /** Marks a ticket step green once the owner confirmed the manual revocation. */
    async completeTicketStep(t: TicketDone): Promise<void> {
      const now = new Date();
      await db.ticket.updateMany({
        where: { id: t.ticketId, status: { not: 'done' } },
        data: { status: 'done', closedBy: t.confirmedBy, closedAt: now, note: t.note },
      });
      await db.stepRecord.update({
        where: stepWhere(t),
        data: {
          status: 'green',
          confirmedAt: now,
          finishedAt: now,
          evidence: { ticketId: t.ticketId, confirmedBy: t.confirmedBy, note: t.note },
        },
      });
      await audit(db, {
        actor: `operator:${t.confirmedBy}`,
        action: 'ticket_confirmed',
        departureId: t.departureId,
        details: { systemId: t.systemId, ticketId: t.ticketId, note: t.note },
      });
    },

    /**
     * The termination was rescinded: records the halted steps, marks the departure rescinded and opens a
     * review for HR and IT listing what was revoked (nothing is re-enabled automatically), what was
     * halted and which tickets are still open. Idempotent (one review per departure).
     */
    async openRescissionReview(input: {
      departureId: string;
      rescission: Rescission;
      halted: StepRef[];
    }): Promise<{ reviewId: string; notified: string[] }> {
      const d = await loadDeparture(input.departureId);
      const now = new Date();
      for (const h of input.halted)
        await db.stepRecord.updateMany({
          where: { ...stepWhere(h).departureId_systemId_action, status: { in: ['pending', 'running'] } },
          data: { status: 'halted', finishedAt: now, lastError: null, scheduledFor: null },
        });
      const steps = await db.stepRecord.findMany({
        where: { departureId: d.id },
        orderBy: { ordinal: 'asc' },
      });
      const tickets = await db.ticket.findMany({ where: { departureId: d.id, status: 'open' } });
      const line = (x: { systemName: string; action: string }) => `${x.systemName} (${x.action})`;
      const summary = {
        rescission: input.rescission,
        revoked: steps.filter((x) => x.status === 'green').map(line),
        failed: steps.filter((x) => x.status === 'red').map(line),
        halted: steps.filter((x) => x.status === 'halted').map(line),
        openTickets: tickets.map((t) => `${t.id}: ${t.summary} (owner ${t.ownerEmail})`),
      };
      const review = await db.review.upsert({
        where: { key: `${d.id}:rescission` },
        create: {
          key: `${d.id}:rescission`,
          departureId: d.id,
          kind: 'rescission',
          summary: summary as unknown as Prisma.InputJsonValue,
          openedBy: input.rescission.by,
        },
        update: {},
      });
      await db.departure.update({
        where: { id: d.id },
        data: {
          status: 'rescinded',
          rescindedAt: d.rescindedAt ?? new Date(input.rescission.at),
          revokeRestAt: null,
        },
      });
      const { hr, it } = catalog.organization;
      const list = (xs: string[]) => (xs.length ? xs.map((x) => `  - ${x}`) : ['  (none)']);
      const sent = await mailer.send({
        key: `review:${review.id}:opened`,
        departureId: d.id,
        purpose: 'rescission_review',
        to: hr.email,
        cc: [it.email],
        subject: `[Offboard] Termination rescinded: review access of ${d.employeeName} (${d.employeeId})`,
        text: [
          `Hello ${hr.name} and ${it.name},`,
          '',
          `The termination of ${d.employeeName} (${d.employeeId}, ${d.department}) was rescinded`,
          `(${input.rescission.by} at ${input.rescission.at}: ${input.rescission.reason}).`,
          'Offboard stopped every step that had not yet run. NOTHING has been re-enabled: restoring',
          'access is a decision for you to take, system by system, and to carry out by hand.',
          '',
          'Already revoked (confirmed):',
          ...list(summary.revoked),
          'Failed (may or may not have taken effect):',
          ...list(summary.failed),
          'Halted (never run, access unchanged):',
          ...list(summary.halted),
          'Tickets still open with system owners (tell them whether to go ahead):',
          ...list(summary.openTickets),
          '',
          `Review ${review.id}: ${deps.publicUrl}/departures/${d.id}`,
        ].join('\n'),
      });
      const prior = await db.auditEvent.findFirst({
        where: { departureId: d.id, action: 'review_opened' },
        select: { id: true },
      });
      if (!prior)
        await audit(db, {
          actor: 'workflow',
          action: 'review_opened',
          departureId: d.id,
          details: {
            reviewId: review.id,
            kind: 'rescission',
            rescindedBy: input.rescission.by,
            halted: summary.halted.length,
            revoked: summary.revoked.length,
            notified: [hr.email, it.email],
            messageId: sent.messageId,
          },
        });
      subjects.delete(d.id);
      return { reviewId: review.id, notified: [hr.email, it.email] };
    },

    /** Records the end of the revocation phase on the departure. */
    async finishRevocation(input: { departureId: string; red: number; yellow: number }): Promise<void> {
      await db.departure.update({
        where: { id: input.departureId },
        data: { status: 'completed', redSteps: input.red, completedAt: new Date() },
      });
      await audit(db, {
        actor: 'workflow',
        action: 'revocation_finished',
        departureId: input.departureId,
        details: { red: input.red, yellow: input.yellow },
      });
      subjects.delete(input.departureId);
    },
  };
}
