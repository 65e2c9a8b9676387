/** Reading departures: the database projection merged with the live workflow status query. */
import type { Client } from '@temporalio/client';
import { statusQuery, type OffboardingStatus, type StepView } from '../contract';
import type { Db } from '../lib/db';
import { AppError } from '../lib/errors';

export interface DepartureView {
  departure: {
    id: string;
    employeeId: string;
    employeeName: string;
    department: string;
    workLocation: string;
    terminationType: string;
    confirmedAt: string;
    lastDay: string | null;
    status: string;
    workflowId: string;
    workflowStartedAt: string | null;
    lastStartError: string | null;
    redSteps: number;
    /** Notice period: when the non-privileged systems are revoked. */
    revokeRestAt: string | null;
    rescindedAt: string | null;
    createdAt: string;
  };
  workflow: { phase: string | null; reachable: boolean };
  /** Decisions open for HR and IT (e.g. after a rescinded termination). */
  reviews: {
    id: string;
    kind: string;
    status: string;
    openedBy: string;
    summary: unknown;
    createdAt: string;
  }[];
  steps: StepView[];
  /** Where the step colours came from: the running workflow or (when it is unreachable) the database. */
  source: 'workflow' | 'database';
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** One departure with its step table. */
export async function getDepartureView(db: Db, client: Client, id: string): Promise<DepartureView> {
  const d = await db.departure.findUnique({
    where: { id },
    include: { steps: { orderBy: { ordinal: 'asc' } }, tickets: true, reviews: true },
  });
  if (!d) throw new AppError('not_found', `no departure ${id}`);
  let live: OffboardingStatus | null = null;
  let reachable = false;
  if (d.workflowStartedAt) {
    try {
      live = await client.withDeadline(Date.now() + 2_000, () =>
        client.workflow.getHandle(d.workflowId).query(statusQuery),
      );
      reachable = true;
      if (live.departureId !== d.id) live = null; // a later departure of a rehired employee
    } catch {
      // Not found (e.g. past retention) or Temporal down: answer from the database alone.
    }
  }
  const ticketByKey = new Map(d.tickets.map((t) => [t.key, t.id]));
  const dbSteps: StepView[] = d.steps.map((s) => ({
    stepId: s.kind === 'revoke' ? s.systemId : `${s.systemId}/${s.action}`,
    kind: s.kind as StepView['kind'],
    systemId: s.systemId,
    systemName: s.systemName,
    tier: s.tier as StepView['tier'],
    action: s.action,
    integration: s.integration as StepView['integration'],
    privileged: s.privileged,
    scheduledFor: iso(s.scheduledFor),
    executingSystem: s.executingSystem,
    status: s.status as StepView['status'],
    attempts: s.attempts,
    startedAt: iso(s.startedAt),
    actedAt: iso(s.actedAt),
    confirmedAt: iso(s.confirmedAt),
    finishedAt: iso(s.finishedAt),
    lastError: s.lastError,
    detail: null,
    ticketId:
      ticketByKey.get(
        s.kind === 'revoke_owned' ? `${d.id}:${s.systemId}:${s.action}` : `${d.id}:${s.systemId}`,
      ) ?? null,
  }));
  let steps = dbSteps;
  if (live) {
    const byId = new Map(dbSteps.map((s) => [s.stepId, s]));
    steps = live.steps.map((w) => {
      const row = byId.get(w.stepId);
      // The workflow decides the colour; the database knows every attempt and the latest error.
      return {
        ...w,
        attempts: Math.max(w.attempts, row?.attempts ?? 0),
        lastError: w.lastError ?? row?.lastError ?? null,
        startedAt: row?.startedAt ?? w.startedAt,
      };
    });
  }
  return {
    departure: {
      id: d.id,
      employeeId: d.employeeId,
      employeeName: d.employeeName,
      department: d.department,
      workLocation: d.workLocation,
      terminationType: d.terminationType,
      confirmedAt: d.confirmedAt.toISOString(),
      lastDay: d.lastDay,
      status: d.status,
      workflowId: d.workflowId,
      workflowStartedAt: iso(d.workflowStartedAt),
      lastStartError: d.lastStartError,
      redSteps: steps.filter((s) => s.status === 'red').length,
      revokeRestAt: live ? live.revokeRestAt : iso(d.revokeRestAt),
      rescindedAt: iso(d.rescindedAt),
      createdAt: d.createdAt.toISOString(),
    },
    reviews: d.reviews.map((r) => ({
      id: r.id,
      kind: r.kind,
      status: r.status,
      openedBy: r.openedBy,
      summary: r.summary,
      createdAt: r.createdAt.toISOString(),
    })),
    workflow: { phase: live?.phase ?? null, reachable },
    steps,
    source: live ? 'workflow' : 'database',
  };
}
