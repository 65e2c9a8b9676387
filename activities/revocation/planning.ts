/**
 * The revocation's plan and its bounds: the step table planned from the catalog (with a notice period
 * where the last day has not ended), a moved last day, and the end of the revocation phase.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { runsAtOnce, type RevocationPlan } from '../../contract';
import { endOfLastDay, noticePeriodEnd } from '../../lib/calendar';
import { audit, sql } from '../../lib/db';
import { TargetRejectedError } from '../errors';
import { buildPlan } from '../plan';
import type { RevocationContext } from './context';

/** Plans revocations, moves their last day and records their end. */
export function createPlanning(ctx: RevocationContext) {
  const { db, catalog, connectors, loadDeparture, stepRow, forget } = ctx;
  const { sweep, localSweep, firstRound, options: planOptions } = ctx.plan;

  return {
    /**
     * Plans the revocation of a departure from the catalog, records the step table (all `pending`) and
     * marks the departure running. A voluntary departure whose last day has not ended gets a notice
     * period: the accounts the catalog scopes are reduced at once, the systems it revokes at once are
     * revoked, and the rest is scheduled for the end of that day (company time zone). The plan lands
     * in history, so a catalog change later does not alter a running offboarding.
     */
    async planRevocation(input: { departureId: string }): Promise<RevocationPlan> {
      const d = await loadDeparture(input.departureId);
      const restAt = noticePeriodEnd(d, catalog.organization.timeZone);
      const queue = Context.current().info.taskQueue;
      const steps = buildPlan(catalog, connectors, queue, planOptions, restAt !== null);
      const details = {
        steps: steps.map((p) => `${p.ordinal + 1}. ${p.tier}/${p.systemId}/${p.action}`),
        noticePeriod: restAt
          ? {
              lastDay: d.lastDay,
              timeZone: catalog.organization.timeZone,
              revokeRestAt: restAt.toISOString(),
              now: steps.filter(runsAtOnce).map((p) => p.stepId),
            }
          : null,
      };
      const rows = steps.map((p) => ({
        ...stepRow(d.id, p, restAt && !runsAtOnce(p) ? restAt : null),
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
     * Applies a moved last day: returns when the systems held by the notice period are now revoked (null = at once,
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
      forget(input.departureId);
    },
  };
}
