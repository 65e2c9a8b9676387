/**
 * What every part of the revocation activities shares: the catalog and its connectors, the leaver as the
 * departure record says (cached per process), the step table's key, and waiting out an outage of our
 * own database.
 */
import { Context } from '@temporalio/activity';
import type { PlannedStep, StepRef } from '../../contract';
import type { CatalogSystem } from '../../config/catalog';
import { audit, findDeparture, isDatabaseUnavailable, type Prisma } from '../../lib/db';
import { subjectOf, type Subject } from '../connector';
import { DepartureNotFoundError, UnknownSystemError } from '../errors';
import type { ActivityDeps } from '../index';
import type { PlanOptions } from '../plan';

/** Bounds a step's work (the sweep gives each step its own timeout). */
export type Guard = <T>(work: Promise<T>) => Promise<T>;

/** A step run by a sweep: bounded by its own timeout, halted by a rescission. */
export interface Sweep {
  guard: Guard;
}

/** Step states a late (timed-out) attempt must not overwrite. */
export const SETTLED_STEP_STATUSES = ['green', 'yellow'];

/** Just the step's key and attempts of a larger activity input (what the step table's writes take). */
export function stepRefOf(x: StepRef): StepRef {
  return {
    departureId: x.departureId,
    systemId: x.systemId,
    action: x.action,
    priorAttempts: x.priorAttempts,
  };
}

export function truncate(s: string, n = 1000): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/** A value for a `jsonb` column in raw SQL, as the Prisma client writes a `Json` field: JSON text. */
export function jsonb(value: Prisma.InputJsonValue): string {
  return JSON.stringify(value);
}

/**
 * Heartbeats an ordinary activity. A local activity has no heartbeat (Core keeps its workflow task
 * alive instead), so there it does nothing.
 */
export function heartbeat(ctx: Context, details?: unknown): void {
  if (!ctx.info.isLocal) ctx.heartbeat(details);
}

/** The revocation activities' shared dependencies and helpers (see `createRevocationContext`). */
export type RevocationContext = ReturnType<typeof createRevocationContext>;

/** Builds what the revocation activities share, once per worker. */
export function createRevocationContext(deps: ActivityDeps) {
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

  const stepWhere = (r: StepRef) => ({
    departureId_systemId_action: { departureId: r.departureId, systemId: r.systemId, action: r.action },
  });

  function connectorOf(sys: CatalogSystem) {
    const c = connectors.get(sys.id);
    if (!c) throw new UnknownSystemError(`no connector for system "${sys.id}"`);
    return c;
  }

  /** The HRIS sent no manager; a target (Entra) knew it: keep it on the departure record. */
  async function learnManager(departureId: string, managerEmail: string, from: string): Promise<void> {
    const res = await db.departure.updateMany({
      where: { id: departureId, managerEmail: null },
      data: { managerEmail },
    });
    forget(departureId);
    if (res.count > 0)
      await audit(db, {
        actor: `worker:${from}`,
        action: 'manager_recorded',
        departureId,
        details: { managerEmail, source: from },
      });
  }

  /** Drops the cached subject of a departure (its record changed, or it is over). */
  function forget(departureId: string): void {
    subjects.delete(departureId);
  }

  return {
    db,
    catalog,
    connectors,
    mailer,
    publicUrl: deps.publicUrl,
    plan: { sweep, localSweep, firstRound, options: planOptions },
    system,
    connectorOf,
    loadDeparture,
    subject,
    forget,
    noticeOver,
    learnManager,
    stepRow,
    whileDatabaseDown,
    attemptOf,
    stepWhere,
  };
}
