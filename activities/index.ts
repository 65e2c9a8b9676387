/**
 * Activities of the offboarding workflow, built by a factory from their dependencies. Workflows import
 * this module only as a type: `proxyActivities<Activities>()`.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { PlannedStep, StepOutcome } from '../contract';
import type { Catalog, CatalogSystem } from '../config/catalog';
import { audit, Prisma, type Db } from '../lib/db';
import type { Mailer } from '../lib/mailer';
import type { Subject } from './connector';
import type { ConnectorRegistry } from './connectors';
import { DepartureNotFoundError, TargetThrottledError, UnknownSystemError } from './errors';
import { buildPlan } from './plan';

export interface ActivityDeps {
  db: Db;
  catalog: Catalog;
  connectors: ConnectorRegistry;
  mailer: Mailer;
  /** Base URL of the API, for links in emails. */
  publicUrl: string;
}

export interface StepRef {
  departureId: string;
  systemId: string;
  action: string;
}

export interface StepFailure extends StepRef {
  reason: 'retries_exhausted' | 'non_retryable' | 'sla_breached';
  error: string;
  attempts: number;
}

export interface TicketDone extends StepRef {
  ticketId: string;
  confirmedBy: string;
  note: string;
}

function truncate(s: string, n = 1000): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/** Creates the activity functions bound to their dependencies. */
export function createActivities(deps: ActivityDeps) {
  const { db, catalog, connectors, mailer } = deps;
  const systems = new Map(catalog.systems.map((s) => [s.id, s]));
  const subjects = new Map<string, Subject>();

  function system(id: string): CatalogSystem {
    const s = systems.get(id);
    if (!s) throw new UnknownSystemError(`system "${id}" is not in this worker's catalog`);
    return s;
  }

  async function loadDeparture(departureId: string) {
    const d = await db.departure.findUnique({ where: { id: departureId } });
    if (!d) throw new DepartureNotFoundError(`no departure ${departureId}`);
    return d;
  }

  async function subject(departureId: string): Promise<Subject> {
    const hit = subjects.get(departureId);
    if (hit) return hit;
    const d = await loadDeparture(departureId);
    const s: Subject = {
      departureId,
      employeeId: d.employeeId,
      employeeName: d.employeeName,
      workEmail: d.workEmail,
      confirmedAt: d.confirmedAt.toISOString(),
      managerEmail: d.managerEmail,
    };
    if (subjects.size > 10_000) subjects.clear();
    subjects.set(departureId, s);
    return s;
  }

  const stepWhere = (r: StepRef) => ({
    departureId_systemId_action: { departureId: r.departureId, systemId: r.systemId, action: r.action },
  });

  async function openTicket(
    ref: StepRef,
    sys: CatalogSystem,
    who: Subject,
  ): Promise<{ id: string; due: Date }> {
    const key = `${ref.departureId}:${sys.id}`;
    const due = new Date(Date.now() + (sys.ticketSlaHours ?? 24) * 3_600_000);
    const summary = `${sys.integration === 'manual' ? 'Manual task' : 'Service ticket'}: revoke all access of ${who.employeeName} (${who.employeeId}) in ${sys.name}`;
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
        `${sys.name} has no API Offboard can use, so this is yours to do by hand.`,
        '',
        `Ticket: ${ticket.id}`,
        `Employee: ${who.employeeName} (${who.employeeId}, ${who.workEmail})`,
        `Due (SLA ${sys.ticketSlaHours ?? 24} h): ${ticket.slaDueAt.toISOString()}`,
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

  return {
    /**
     * Plans the revocation of a departure from the catalog, records the step table (all `pending`) and
     * marks the departure running. The plan lands in history, so a catalog change later does not alter
     * a running offboarding.
     */
    async planRevocation(input: { departureId: string }): Promise<PlannedStep[]> {
      const d = await loadDeparture(input.departureId);
      const plan = buildPlan(catalog, connectors);
      await db.$transaction([
        db.stepRecord.createMany({
          data: plan.map((p) => ({
            departureId: d.id,
            systemId: p.systemId,
            systemName: p.systemName,
            action: p.action,
            tier: p.tier,
            ordinal: p.ordinal,
            executingSystem: p.executingSystem,
          })),
          skipDuplicates: true,
        }),
        db.departure.update({ where: { id: d.id }, data: { status: 'running' } }),
      ]);
      const existing = await db.auditEvent.findFirst({
        where: { departureId: d.id, action: 'revocation_planned' },
        select: { id: true },
      });
      if (!existing)
        await audit(db, {
          actor: 'workflow',
          action: 'revocation_planned',
          departureId: d.id,
          details: { steps: plan.map((p) => `${p.ordinal + 1}. ${p.tier}/${p.systemId}/${p.action}`) },
        });
      return plan;
    },

    /**
     * Revokes one system's access for the departure and confirms it by reading the target back
     * (`confirmed`), or opens a ticket to the system's owner where there is no API (`ticket_opened`).
     * Records each attempt in the step table. Idempotent.
     */
    async revokeAccess(ref: StepRef): Promise<StepOutcome> {
      const ctx = Context.current();
      const attempt = ctx.info.attempt;
      const sys = system(ref.systemId);
      const who = await subject(ref.departureId);
      const startedAt = new Date();
      await db.stepRecord.updateMany({
        where: { ...stepWhere(ref).departureId_systemId_action, startedAt: null },
        data: { startedAt },
      });
      await db.stepRecord.update({ where: stepWhere(ref), data: { status: 'running', attempts: attempt } });

      if (sys.integration !== 'api') {
        const t = await openTicket(ref, sys, who);
        const actedAt = new Date();
        const detail = `ticket ${t.id} opened for ${sys.owner.name}, due ${t.due.toISOString()}`;
        await db.stepRecord.update({
          where: stepWhere(ref),
          data: { status: 'yellow', actedAt, lastError: null, evidence: { ticketId: t.id, slaDueAt: t.due } },
        });
        return {
          outcome: 'ticket_opened',
          attempts: attempt,
          actedAt: actedAt.toISOString(),
          confirmedAt: null,
          detail,
          ticketId: t.id,
        };
      }

      const connector = connectors.get(sys.id);
      if (!connector) throw new UnknownSystemError(`no connector for system "${sys.id}"`);
      try {
        const r = await connector.revoke(who);
        const confirmedAt = new Date();
        await db.stepRecord.update({
          where: stepWhere(ref),
          data: {
            status: 'green',
            actedAt: confirmedAt,
            confirmedAt,
            finishedAt: confirmedAt,
            lastError: null,
            evidence: { changes: r.changes, confirmation: r.confirmation } as Prisma.InputJsonValue,
          },
        });
        await audit(db, {
          actor: `worker:${connector.executingSystem}`,
          action: 'step_confirmed',
          departureId: ref.departureId,
          details: { systemId: sys.id, action: ref.action, changes: r.changes, attempt },
        });
        ctx.log.info('revocation confirmed', { systemId: sys.id, attempt, changes: r.changes.length });
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
        await db.stepRecord
          .update({ where: stepWhere(ref), data: { lastError: message } })
          .catch(() => undefined);
        ctx.log.warn('revocation attempt failed', { systemId: sys.id, attempt, error: message });
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
      const why =
        f.reason === 'sla_breached'
          ? `its ticket was not confirmed within the ${sys.ticketSlaHours ?? 24} h SLA`
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
          'Please revoke the access by hand now and record how in Offboard. The step stays red until then.',
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

/** The activity interface workflows proxy. */
export type Activities = ReturnType<typeof createActivities>;
