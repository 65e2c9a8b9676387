/**
 * A rescinded termination: the sweep halted at its next step, the halted steps recorded, and a review
 * for HR and IT of what was revoked (nothing is re-enabled automatically).
 */
import { type Prisma, audit, sql } from '../../lib/db';
import type { Rescission, StepRef } from '../../contract';
import type { RevocationContext } from './context';

/** Records rescissions and opens their review. */
export function createRescission(ctx: RevocationContext) {
  const { db, catalog, mailer, loadDeparture, stepWhere, forget, publicUrl } = ctx;

  return {
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
      // What a notice period's scope removed, change by change: the list to restore from.
      const scopedLine = (x: (typeof steps)[number]) => {
        const changes = (x.evidence as { changes?: string[] } | null)?.changes ?? [];
        return `${x.systemName}: ${changes.length ? changes.join('; ') : 'nothing needed removing'}`;
      };
      const green = steps.filter((x) => x.status === 'green');
      const summary = {
        rescission: input.rescission,
        scoped: green.filter((x) => x.kind === 'scope').map(scopedLine),
        revoked: green.filter((x) => x.kind !== 'scope').map(line),
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
          'Scoped for the notice period (removed at once, confirmed; the account was kept working):',
          ...list(summary.scoped),
          'Already revoked (confirmed):',
          ...list(summary.revoked),
          'Failed (may or may not have taken effect):',
          ...list(summary.failed),
          'Halted (never run, access unchanged):',
          ...list(summary.halted),
          'Tickets still open with system owners (tell them whether to go ahead):',
          ...list(summary.openTickets),
          '',
          `Review ${review.id}: ${publicUrl}/departures/${d.id}`,
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
            scoped: summary.scoped.length,
            notified: [hr.email, it.email],
            messageId: sent.messageId,
          },
        });
      forget(d.id);
      return { reviewId: review.id, notified: [hr.email, it.email] };
    },
  };
}
