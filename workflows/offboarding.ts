/**
 * The offboarding workflow: one per departure. Revokes every credential in the catalog's tier order
 * (identity provider, directory, VPN, MFA, then each non-SSO application), each step confirmed by
 * reading the target back. A failing step is retried by its system's policy, then turns red and its
 * owner is told; the remaining steps still run. Ticket steps wait for their owner's confirmation up to
 * the SLA.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  log,
  proxyActivities,
  setHandler,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { Activities } from '../activities';
import {
  NON_RETRYABLE_ERROR_TYPES,
  confirmTicketSignal,
  statusQuery,
  type OffboardingInput,
  type OffboardingPhase,
  type OffboardingStatus,
  type PlannedStep,
  type StepView,
  type TicketConfirmation,
} from '../contract';

/** Applications are swept concurrently, at most this many at once. */
const APPLICATION_CONCURRENCY = 4;

const control = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
  },
});

function stepActivities(step: PlannedStep) {
  const options: ActivityOptions = {
    startToCloseTimeout: step.startToCloseTimeout as Duration,
    retry: {
      ...step.retry,
      initialInterval: step.retry.initialInterval as Duration,
      maximumInterval: step.retry.maximumInterval as Duration,
      nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
    },
  };
  return proxyActivities<Activities>(options);
}

function describeFailure(err: unknown): { message: string; nonRetryable: boolean } {
  let cause: unknown = err instanceof ActivityFailure ? err.cause : err;
  // Walk to the innermost cause: that is what the target said.
  while (cause instanceof Error && cause.cause instanceof Error && !(cause instanceof ApplicationFailure)) {
    cause = cause.cause;
  }
  if (cause instanceof ApplicationFailure) {
    const type = cause.type ?? 'Error';
    return {
      message: `${type}: ${cause.message}`,
      nonRetryable: cause.nonRetryable || (NON_RETRYABLE_ERROR_TYPES as readonly string[]).includes(type),
    };
  }
  return { message: err instanceof Error ? err.message : String(err), nonRetryable: false };
}

/** Runs `fn` over `items` with at most `limit` in flight (deterministic: starts in list order). */
async function boundedAll<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  });
  await Promise.all(lanes);
}

/** Offboards one departure. */
export async function offboardingWorkflow(input: OffboardingInput): Promise<OffboardingStatus> {
  let phase: OffboardingPhase = 'planning';
  const steps = new Map<string, { plan: PlannedStep; view: StepView }>();
  const confirmations = new Map<string, TicketConfirmation>();

  const status = (): OffboardingStatus => {
    const views = [...steps.values()].map((s) => s.view);
    return {
      departureId: input.departureId,
      employeeId: input.employeeId,
      phase,
      steps: views,
      redSteps: views.filter((v) => v.status === 'red').length,
      yellowSteps: views.filter((v) => v.status === 'yellow').length,
    };
  };
  setHandler(statusQuery, status);
  setHandler(confirmTicketSignal, (c) => {
    const s = steps.get(c.systemId);
    if (!s || s.view.ticketId !== c.ticketId || s.view.status !== 'yellow') {
      log.warn('ticket confirmation ignored: no open ticket step matches', {
        systemId: c.systemId,
        ticketId: c.ticketId,
      });
      return;
    }
    confirmations.set(c.systemId, c);
  });

  const plan = await control.planRevocation({ departureId: input.departureId });
  for (const p of plan) {
    steps.set(p.systemId, {
      plan: p,
      view: {
        systemId: p.systemId,
        systemName: p.systemName,
        tier: p.tier,
        action: p.action,
        integration: p.integration,
        executingSystem: p.executingSystem,
        status: 'pending',
        attempts: 0,
        startedAt: null,
        actedAt: null,
        confirmedAt: null,
        finishedAt: null,
        lastError: null,
        detail: null,
        ticketId: null,
      },
    });
  }
  phase = 'revoking';
  const ticketWaits: Promise<void>[] = [];
  const reports: Promise<unknown>[] = [];

  const waitForTicket = async (p: PlannedStep, view: StepView): Promise<void> => {
    const slaMs = (p.slaHours ?? 24) * 3_600_000;
    const confirmed = await condition(() => confirmations.has(p.systemId), slaMs);
    const ref = { departureId: input.departureId, systemId: p.systemId, action: p.action };
    if (confirmed) {
      const c = confirmations.get(p.systemId)!;
      await control.completeTicketStep({
        ...ref,
        ticketId: c.ticketId,
        confirmedBy: c.confirmedBy,
        note: c.note,
      });
      view.status = 'green';
      view.confirmedAt = new Date().toISOString();
      view.finishedAt = view.confirmedAt;
      view.detail = `confirmed by ${c.confirmedBy}: ${c.note}`;
    } else {
      view.status = 'red';
      view.finishedAt = new Date().toISOString();
      view.lastError = `ticket ${view.ticketId} not confirmed within ${p.slaHours ?? 24} h SLA`;
      await control.reportStepFailure({
        ...ref,
        reason: 'sla_breached',
        error: view.lastError,
        attempts: view.attempts,
      });
    }
  };

  const runStep = async (p: PlannedStep): Promise<void> => {
    const view = steps.get(p.systemId)!.view;
    const ref = { departureId: input.departureId, systemId: p.systemId, action: p.action };
    view.status = 'running';
    view.startedAt = new Date().toISOString();
    try {
      const r = await stepActivities(p).revokeAccess(ref);
      view.attempts = r.attempts;
      view.actedAt = r.actedAt;
      view.detail = r.detail;
      view.lastError = null;
      if (r.outcome === 'confirmed') {
        view.status = 'green';
        view.confirmedAt = r.confirmedAt;
        view.finishedAt = r.confirmedAt;
      } else {
        view.status = 'yellow';
        view.ticketId = r.ticketId;
        ticketWaits.push(waitForTicket(p, view));
      }
    } catch (err) {
      const { message, nonRetryable } = describeFailure(err);
      view.status = 'red';
      view.lastError = message;
      view.finishedAt = new Date().toISOString();
      view.attempts = nonRetryable ? Math.max(view.attempts, 1) : p.retry.maximumAttempts;
      log.warn('revocation step failed; notifying its owner', { systemId: p.systemId, error: message });
      // Not awaited here: a slow or failing mail server must not hold up the remaining revocations.
      reports.push(
        control.reportStepFailure({
          ...ref,
          reason: nonRetryable ? 'non_retryable' : 'retries_exhausted',
          error: message,
          attempts: view.attempts,
        }),
      );
    }
  };

  // Identity provider, directory, VPN and MFA strictly in order; then the application sweep.
  const ordered = plan.filter((p) => p.tier !== 'application');
  for (const p of ordered) await runStep(p);
  await boundedAll(
    plan.filter((p) => p.tier === 'application'),
    APPLICATION_CONCURRENCY,
    runStep,
  );

  if (ticketWaits.length > 0) {
    phase = 'awaiting_tickets';
    await Promise.all(ticketWaits);
  }
  // Every red step's owner has been told before the phase is recorded as finished.
  await Promise.all(reports);
  phase = 'revocation_complete';
  const final = status();
  await control.finishRevocation({
    departureId: input.departureId,
    red: final.redSteps,
    yellow: final.yellowSteps,
  });
  return final;
}
