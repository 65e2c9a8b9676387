/**
 * `checkDeskTickets`: reads open desk tickets back from their desks (Jira, ServiceNow) and returns
 * those closed, done or not, for `deskTicketsWorkflow` to tell each offboarding. Run by the poll's
 * schedule (every open desk ticket whose SLA ended less than a day ago) and by a verified webhook (the
 * tickets it named: a webhook only says where to look; what the desk answers here is what counts).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { DeskCheckInput, DeskCheckResult, DeskVerdict } from '../../contract';
import type { Catalog } from '../../config/catalog';
import type { Db } from '../../lib/db';
import { TargetThrottledError } from '../errors';
import type { DeskRegistry } from './index';

/** Most tickets one run reads (the oldest-read first); the next run takes the rest. */
const BATCH = 200;
/** Tickets are read back until a day after their SLA (the step is red by then; a late close is logged). */
const AFTER_SLA_MS = 86_400_000;

export function createDeskChecks(deps: { db: Db; catalog: Catalog; desks: DeskRegistry }) {
  const { db, catalog, desks } = deps;
  const systems = new Map(catalog.systems.map((s) => [s.id, s]));

  return {
    /**
     * Reads the desk tickets back; returns the closed ones (the offboarding records them: the step's
     * audit row names the desk). A throttled desk retries the activity after its Retry-After.
     */
    async checkDeskTickets(input: DeskCheckInput): Promise<DeskCheckResult> {
      const ctx = Context.current();
      const ids = input.ticketIds?.filter((x) => typeof x === 'string').slice(0, BATCH);
      const rows = await db.ticket.findMany({
        where: {
          status: 'open',
          deskRef: { not: null },
          ...(ids ? { id: { in: ids } } : { slaDueAt: { gte: new Date(Date.now() - AFTER_SLA_MS) } }),
        },
        include: { departure: { select: { workflowId: true } } },
        orderBy: [{ deskCheckedAt: { sort: 'asc', nulls: 'first' } }, { createdAt: 'asc' }],
        take: BATCH,
      });
      const verdicts: DeskVerdict[] = [];
      const failed: DeskCheckResult['failed'] = [];
      for (const t of rows) {
        ctx.heartbeat(t.id);
        const sys = systems.get(t.systemId);
        const desk = sys ? desks.of(sys) : null;
        if (!desk || desk.kind !== t.deskKind) {
          failed.push({
            ticketId: t.id,
            error: `system "${t.systemId}" has no ${t.deskKind} desk in this worker's catalog`,
          });
          continue;
        }
        let back;
        try {
          back = await desk.read(t.deskRef!);
        } catch (e) {
          if (e instanceof TargetThrottledError)
            throw ApplicationFailure.create({
              type: e.name,
              message: e.message,
              nextRetryDelay: Math.max(e.retryAfterMs, 1),
            });
          const error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
          ctx.log.warn('desk ticket not read back', { ticketId: t.id, systemId: t.systemId, error });
          failed.push({ ticketId: t.id, error });
          continue;
        }
        await db.ticket.update({ where: { id: t.id }, data: { deskCheckedAt: new Date() } });
        if (back.state === 'missing')
          ctx.log.warn('desk ticket not found in the desk (deleted, or no longer visible)', {
            ticketId: t.id,
            systemId: t.systemId,
            desk: t.deskKind,
          });
        if (back.state !== 'done' && back.state !== 'not_done') continue;
        const verb = t.deskKind === 'jira' ? 'resolved' : 'closed';
        const v: DeskVerdict = {
          ticketId: t.id,
          systemId: t.systemId,
          workflowId: t.departure.workflowId,
          outcome: back.state,
          confirmedBy: `${t.deskKind}:${back.key} (${verb}${back.by ? ` by ${back.by}` : ''})`,
          note: back.words,
        };
        verdicts.push(v);
      }
      return { checked: rows.length - failed.length, verdicts, failed };
    },
  };
}
