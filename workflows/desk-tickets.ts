/**
 * Reads service desk tickets back (Jira Service Management, ServiceNow) and tells each offboarding
 * whose ticket was closed: `confirmTicketSignal`, the signal an operator's confirmation sends, naming the
 * desk as `confirmedBy`; closed as not done turns the step red with the desk's words. Started by the
 * poll's schedule (server/desk-schedules.ts: every open desk ticket) and by a verified desk webhook
 * (server/desk-webhooks.ts: the ticket it names; the webhook only says where to look).
 */
import { getExternalWorkflowHandle, log, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  NON_RETRYABLE_ERROR_TYPES,
  confirmTicketSignal,
  type DeskCheckInput,
  type DeskCheckResult,
} from '../contract';

const { checkDeskTickets } = proxyActivities<Activities>({
  startToCloseTimeout: '10m',
  heartbeatTimeout: '2m',
  retry: {
    initialInterval: '5s',
    maximumInterval: '5m',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
  },
});

/** One read-back; returns what it found (the tickets closed were signalled to their offboardings). */
export async function deskTicketsWorkflow(input: DeskCheckInput = {}): Promise<DeskCheckResult> {
  const result = await checkDeskTickets(input);
  for (const v of result.verdicts) {
    try {
      await getExternalWorkflowHandle(v.workflowId).signal(confirmTicketSignal, {
        systemId: v.systemId,
        ticketId: v.ticketId,
        confirmedBy: v.confirmedBy,
        note: v.note,
        outcome: v.outcome,
      });
    } catch (err) {
      // The offboarding has ended (completed, or its ticket was left open by a rescission).
      log.warn('desk ticket closed, but its offboarding is not running', {
        ticketId: v.ticketId,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
  return result;
}
