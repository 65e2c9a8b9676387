/**
 * A step turned red: recorded, its owner (or on an SLA breach its escalation owner) told by email why
 * and what to do next, and the audit trail told.
 */
import { MATCH_ERROR_TYPES, type StepFailure } from '../../contract';
import { audit } from '../../lib/db';
import { truncate, type RevocationContext } from './context';

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

/** Reports red steps. */
export function createFailureReports(ctx: RevocationContext) {
  const { db, mailer, system, subject, stepWhere, publicUrl } = ctx;

  return {
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
      if (f.reason === 'ticket_declined')
        await db.ticket.updateMany({
          where: { key: `${f.departureId}:${f.systemId}`, status: 'open' },
          data: { status: 'declined', closedBy: f.closedBy ?? null, closedAt: now, note: truncate(f.error) },
        });
      const to = f.reason === 'sla_breached' ? sys.escalationOwner : sys.owner;
      const cc = f.reason === 'sla_breached' ? [sys.owner.email] : [];
      const matching = matchFailureOf(f.error);
      const why =
        f.reason === 'sla_breached'
          ? `its ticket was not confirmed within the ${sys.ticketSlaHours ?? 24} h SLA`
          : f.reason === 'ticket_declined'
            ? 'its service desk ticket was closed as not done'
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
          `Departure: ${publicUrl}/departures/${f.departureId}`,
          '',
          matching
            ? MATCH_NEXT[matching]
            : 'Please revoke the access by hand now and record how in Offboard. The step stays red until then.',
        ].join('\n'),
      });
      await audit(db, {
        actor: 'workflow',
        action:
          f.reason === 'sla_breached'
            ? 'step_sla_breached'
            : f.reason === 'ticket_declined'
              ? 'step_ticket_declined'
              : 'step_failed',
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
  };
}
