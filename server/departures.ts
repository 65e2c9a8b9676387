/**
 * Departures' data: the list, one departure (the database projection merged with the live workflow
 * status query) and an operator's rescission.
 */
import type { Client } from '@temporalio/client';
import {
  knownAccounts,
  statusQuery,
  type ArchiveStatus,
  type Rescission,
  type AssetView,
  type MatchEvidence,
  type DocumentView,
  type OffboardingStatus,
  type ReportItem,
  type StepView,
  type VerificationView,
} from '../contract';
import { consentsOf, type ConsentRow } from '../contract/consents';
import type { z } from 'zod';
import { audit, Prisma, type Db } from '../lib/db';
import { AppError } from '../lib/errors';
import type { departureListQuery } from './schemas';

export interface DepartureView {
  departure: {
    id: string;
    employeeId: string;
    employeeName: string;
    workEmail: string;
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
    /** Account ids named per catalog system (they win over every matching key). */
    accounts: Record<string, string>;
    /** Who submitted it (`operator:<name>`), null for the HRIS. */
    submittedBy: string | null;
    /** Status awaiting_approval: why a second operator must approve it; and who did, when. */
    approvalReason: string | null;
    approvedBy: string | null;
    approvedAt: string | null;
  };
  /**
   * `status`: the execution status of the workflow's current run (RUNNING, COMPLETED, FAILED,
   * TERMINATED, ...), null when Temporal did not answer or the run belongs to another departure.
   */
  workflow: { phase: string | null; reachable: boolean; status: string | null; runId: string | null };
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
  /** Asset recovery, one entry per asset (from the workflow; empty when it is not reachable). */
  assets: AssetView[];
  /** Compliance documents and their state (from the workflow, else from the database). */
  documents: Pick<DocumentView, 'type' | 'status' | 'updatedAt' | 'sha256'>[];
  /**
   * The leaver's data archives, one per catalog data source (from the database): `pending` ones wait
   * for their owner's word (`POST /departures/:id/archives/:sourceId/confirmed`).
   */
  archives: {
    sourceId: string;
    sourceName: string;
    /** A checked column: the database holds nothing else. */
    status: ArchiveStatus;
    retentionPolicy: string;
    location: string | null;
    items: number | null;
    archivedAt: string | null;
  }[];
  /**
   * Shadow IT from the leaver's consents: each third-party app an identity-provider step found the leaver
   * had authorised (revoked and read back gone), with what in the catalog covers it (null: nothing).
   */
  consents: ConsentRow[];
  /**
   * The verification checkpoint: the report, acknowledgments, resolutions and what is outstanding
   * (from the workflow; from the database once it has finished). Null before it exists.
   */
  verification: VerificationView | null;
  /** Where the step colours came from: the running workflow or (when it is unreachable) the database. */
  source: 'workflow' | 'database';
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** How a step matched the leaver's account, from its evidence (null for steps without matching). */
function matchOf(evidence: unknown): MatchEvidence | null {
  const m = (evidence as { match?: MatchEvidence } | null)?.match;
  return m && typeof m === 'object' && typeof m.outcome === 'string' ? m : null;
}

/** One departure with its step table. */
export async function getDepartureView(db: Db, client: Client, id: string): Promise<DepartureView> {
  const d = await db.departure.findUnique({
    where: { id },
    include: {
      steps: { orderBy: { ordinal: 'asc' } },
      tickets: true,
      reviews: true,
      report: true,
      resolutions: { orderBy: { resolvedAt: 'asc' } },
      documents: { select: { type: true, status: true, updatedAt: true, sha256: true } },
      archives: { orderBy: { sourceId: 'asc' } },
    },
  });
  if (!d) throw new AppError('not_found', `no departure ${id}`);
  let live: OffboardingStatus | null = null;
  let reachable = false;
  let execution: { status: string; runId: string } | null = null;
  if (d.workflowStartedAt) {
    const handle = client.workflow.getHandle(d.workflowId);
    const [q, desc] = await Promise.all([
      client.withDeadline(Date.now() + 2_000, () => handle.query(statusQuery)).catch(() => null),
      client.withDeadline(Date.now() + 2_000, () => handle.describe()).catch(() => null),
    ]);
    // Not found (e.g. past retention) or Temporal down: answer from the database alone.
    if (q) {
      reachable = true;
      live = q.departureId === d.id ? q : null; // null: a later departure of a rehired employee
    }
    if (desc && (desc.memo as { departureId?: string } | undefined)?.departureId === d.id)
      execution = { status: desc.status.name, runId: desc.runId };
    // The workflow answered after the step rows were read: a step it reports decided may have been
    // written since (its evidence, its error). Read them once more so the two agree.
    const read = new Map(
      d.steps.map((s) => [s.kind === 'revoke' ? s.systemId : `${s.systemId}/${s.action}`, s]),
    );
    if (
      live?.steps.some(
        (w) =>
          !['pending', 'running'].includes(w.status) &&
          ['pending', 'running'].includes(read.get(w.stepId)?.status ?? 'pending'),
      )
    )
      d.steps = await db.stepRecord.findMany({ where: { departureId: d.id }, orderBy: { ordinal: 'asc' } });
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
    match: matchOf(s.evidence),
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
      // While a sweep runs (activities/index.ts `sweepRevocations`) the workflow learns its steps'
      // results when it returns; the step table has them as they happen.
      if (row && w.status === 'pending' && row.status !== 'pending') return { ...row, detail: w.detail };
      // The workflow decides the colour; the database knows every attempt and the latest error.
      return {
        ...w,
        match: row?.match ?? null,
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
      workEmail: d.workEmail,
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
      accounts: knownAccounts(d.accounts),
      submittedBy: d.submittedBy,
      approvalReason: d.approvalReason,
      approvedBy: d.approvedBy,
      approvedAt: iso(d.approvedAt),
    },
    reviews: d.reviews.map((r) => ({
      id: r.id,
      kind: r.kind,
      status: r.status,
      openedBy: r.openedBy,
      summary: r.summary,
      createdAt: r.createdAt.toISOString(),
    })),
    workflow: {
      phase: live?.phase ?? null,
      reachable,
      status: execution?.status ?? null,
      runId: execution?.runId ?? null,
    },
    steps,
    assets: live?.assets ?? [],
    documents: live
      ? live.documents.map((x) => ({
          type: x.type,
          status: x.status,
          updatedAt: x.updatedAt,
          sha256: x.sha256,
        }))
      : d.documents.map((x) => ({
          type: x.type as DocumentView['type'],
          status: x.status as DocumentView['status'],
          updatedAt: x.updatedAt.toISOString(),
          sha256: x.sha256 ?? undefined,
        })),
    archives: d.archives.map((a) => ({
      sourceId: a.sourceId,
      sourceName: a.sourceName,
      status: a.status as ArchiveStatus,
      retentionPolicy: a.retentionPolicy,
      location: a.location,
      items: a.items,
      archivedAt: iso(a.archivedAt),
    })),
    consents: d.steps.flatMap((s) =>
      consentsOf(s.evidence).map(
        (c): ConsentRow => ({
          appId: c.appId,
          name: c.name,
          scopes: c.scopes,
          kind: c.kind,
          stepId: s.kind === 'revoke' ? s.systemId : `${s.systemId}/${s.action}`,
          systemId: s.systemId,
          systemName: s.systemName,
          coveredBy: c.coveredBy ?? null,
          revoked: s.confirmedAt !== null,
        }),
      ),
    ),
    verification: live?.verification ?? storedVerification(d),
    source: live ? 'workflow' : 'database',
  };
}

/** The checkpoint as the database recorded it (for a finished offboarding or when Temporal is away). */
function storedVerification(d: {
  status: string;
  report: {
    id: string;
    compiledAt: Date;
    ackDueAt: Date;
    items: unknown;
    accessAudit: unknown;
    finalAudit: unknown;
    finalAuditAt: Date | null;
    hrAcknowledgedAt: Date | null;
    hrAcknowledgedBy: string | null;
    hrNote: string | null;
    itAcknowledgedAt: Date | null;
    itAcknowledgedBy: string | null;
    itNote: string | null;
    reminders: number;
    ackEscalatedAt: Date | null;
    redEscalatedAt: Date | null;
  } | null;
  resolutions: {
    itemId: string;
    how: string;
    note: string;
    resolvedBy: string;
    role: string;
    resolvedAt: Date;
  }[];
}): VerificationView | null {
  const r = d.report;
  if (!r) return null;
  const ack = (role: 'hr' | 'it', at: Date | null, by: string | null, note: string | null) =>
    at && by ? { role, by, at: at.toISOString(), note } : null;
  return {
    reportAt: r.compiledAt.toISOString(),
    redEscalationAt: (r.redEscalatedAt ?? r.compiledAt).toISOString(),
    report: {
      reportId: r.id,
      compiledAt: r.compiledAt.toISOString(),
      ackDueAt: r.ackDueAt.toISOString(),
      items: r.items as ReportItem[],
    },
    reportAudit: r.accessAudit as VerificationView['reportAudit'],
    acknowledgments: {
      hr: ack('hr', r.hrAcknowledgedAt, r.hrAcknowledgedBy, r.hrNote),
      it: ack('it', r.itAcknowledgedAt, r.itAcknowledgedBy, r.itNote),
    },
    nextReminderAt: null,
    reminders: r.reminders,
    ackEscalated: r.ackEscalatedAt !== null,
    redEscalated: r.redEscalatedAt !== null,
    resolutions: d.resolutions.map((x) => ({
      itemId: x.itemId,
      how: x.how as VerificationView['resolutions'][number]['how'],
      note: x.note,
      by: x.resolvedBy,
      role: x.role,
      at: x.resolvedAt.toISOString(),
    })),
    finalAudit: r.finalAuditAt
      ? {
          at: r.finalAuditAt.toISOString(),
          rows: r.finalAudit as NonNullable<VerificationView['finalAudit']>['rows'],
        }
      : null,
    unresolved: [],
    outstanding: d.status === 'completed' ? [] : ['the workflow is not reachable: live state unknown'],
    done: d.status === 'completed',
  };
}

/**
 * The creation window of a list query: a bare date as `to` means the whole of that day (UTC); `from`
 * after `to` is a field error.
 */
export function listWindow(q: { from?: string; to?: string }): { from?: Date; to?: Date } {
  const from = q.from ? new Date(q.from) : undefined;
  const to = q.to ? new Date(q.to.length === 10 ? Date.parse(q.to) + 86_400_000 - 1 : q.to) : undefined;
  if (from && to && from > to)
    throw new AppError('validation_failed', 'invalid query', {
      fields: [{ field: 'to', message: 'must not be before from' }],
    });
  return { from, to };
}

/** Departures matching a list query, newest first (`ids`: only these, from the workflow-state filter). */
export async function listDepartures(db: Db, q: z.output<typeof departureListQuery>, ids?: string[]) {
  const { from, to } = listWindow(q);
  return db.departure.findMany({
    where: {
      status: q.status,
      // "finance" finds Finance: operators type department names as they say them.
      department: q.department ? { equals: q.department, mode: 'insensitive' } : undefined,
      employeeId: q.employeeId,
      // Red: a red step or a red report item nobody has resolved (e.g. an account still active).
      ...(q.red === 'true'
        ? { OR: [{ redSteps: { gt: 0 } }, { redItems: { gt: 0 } }] }
        : q.red === 'false'
          ? { redSteps: 0, redItems: 0 }
          : {}),
      createdAt: from || to ? { gte: from, lte: to } : undefined,
      id: ids ? { in: ids } : undefined,
    },
    orderBy: { createdAt: 'desc' },
    take: q.limit,
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
}

/**
 * Stores an operator's rescission of a departure (its `rescind` message and audit row, in one
 * transaction); the dispatcher delivers it. 404 no such departure, 409 blocked or already rescinded.
 */
export async function storeRescission(
  db: Db,
  id: string,
  operator: { name: string; role: string },
  reason: string,
) {
  return db.$transaction(async (tx) => {
    const d = await tx.departure.findUnique({ where: { id } });
    if (!d) throw new AppError('not_found', `no departure ${id}`);
    if (d.status === 'blocked')
      throw new AppError('conflict', `departure is ${d.status}; there is nothing to rescind`);
    if (await tx.workflowMessage.findFirst({ where: { departureId: id, kind: 'rescind' } }))
      throw new AppError('conflict', 'this termination has already been rescinded');
    const r: Rescission = {
      at: new Date().toISOString(),
      by: `operator:${operator.name}`,
      reason: reason,
    };
    await tx.workflowMessage.create({
      data: { departureId: id, kind: 'rescind', payload: r as unknown as Prisma.InputJsonValue },
    });
    await audit(tx, {
      actor: `operator:${operator.name}`,
      action: 'rescission_received',
      departureId: id,
      details: { role: operator.role, reason: reason },
    });
    return d;
  });
}
