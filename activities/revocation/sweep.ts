/**
 * The sweep of a revocation pass: one activity tries every step once, in PRODUCT order, and reports
 * each; the workflow retries what failed step by step.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { msToNumber } from '@temporalio/common';
import {
  NON_RETRYABLE_ERROR_TYPES,
  runStepWith,
  type PlannedStep,
  type SweepInput,
  type SweepResult,
  type SweepStepResult,
} from '../../contract';
import { TargetThrottledError, TargetUnavailableError } from '../errors';
import { withTimeout } from '../../lib/timeout';
import { heartbeat, truncate, type Guard } from './context';
import { StepHalted } from './records';
import type { createStepRunners } from './steps';

/** A sweep tries this many application steps at once (as the workflow sweeps them step by step). */
const SWEEP_CONCURRENCY = 4;

/** A step that failed in a sweep, described as a failed step activity would be. */
function sweepFailure(stepId: string, startedAt: string, e: unknown): SweepStepResult {
  // confirmedBy turns a throttled target into an ApplicationFailure of that type with its delay.
  const type = e instanceof ApplicationFailure ? (e.type ?? 'Error') : e instanceof Error ? e.name : 'Error';
  const message = e instanceof Error ? e.message : String(e);
  return {
    stepId,
    startedAt,
    outcome: 'failed',
    error: truncate(`${type}: ${message}`),
    nonRetryable:
      (NON_RETRYABLE_ERROR_TYPES as readonly string[]).includes(type) ||
      (e instanceof ApplicationFailure && e.nonRetryable === true),
    retryAfterMs:
      e instanceof TargetThrottledError
        ? e.retryAfterMs
        : e instanceof ApplicationFailure && e.nextRetryDelay !== undefined && e.nextRetryDelay !== null
          ? msToNumber(e.nextRetryDelay)
          : null,
  };
}

/** The sweep over the step runners (`sweepRevocations`, documented where it is exported). */
export function createSweep(runners: ReturnType<typeof createStepRunners>) {
  const { revokeStep, discoverStep, revokeOwnedStep, scopeStep } = runners;

  /** One revocation pass in one activity (`sweepRevocations`, documented where it is exported). */
  async function sweepPass(input: SweepInput): Promise<SweepResult> {
    const ctx = Context.current();
    const results: SweepStepResult[] = [];
    const discovered: PlannedStep[] = [];
    const beat = setInterval(() => heartbeat(ctx, results.length), 2_000);
    const tryStep = async (p: PlannedStep): Promise<SweepStepResult> => {
      heartbeat(ctx, results.length);
      const ref = { departureId: input.departureId, systemId: p.systemId, action: p.action };
      const startedAt = new Date().toISOString();
      const limitMs = msToNumber(p.startToCloseTimeout as Parameters<typeof msToNumber>[0]);
      // The step's own timeout, from when it may start (after its system's pace, pace.ts).
      const guard: Guard = (work) =>
        withTimeout(
          work,
          limitMs,
          () => new TargetUnavailableError(`no answer within ${p.startToCloseTimeout}`),
        );
      try {
        const r = await runStepWith(p, ref, {
          revoke: (step) => revokeStep(step, { guard }),
          discover_owned: (step) => discoverStep(step, { guard }),
          revoke_owned: (step) => revokeOwnedStep(step, { guard }),
          scope: (step) => scopeStep(step, { guard }),
        });
        const { discovered: found, ...outcome } = r;
        discovered.push(...(found ?? []));
        return { stepId: p.stepId, startedAt, ...outcome };
      } catch (e) {
        if (e instanceof StepHalted) return { stepId: p.stepId, outcome: 'halted' };
        return sweepFailure(p.stepId, startedAt, e);
      }
    };
    try {
      for (const p of input.ordered) {
        const r = await tryStep(p);
        results.push(r);
        if (r.outcome === 'failed' || r.outcome === 'halted') return { results, discovered };
      }
      const sweepSteps = () => [...input.applications, ...discovered];
      let next = 0;
      const lane = async () => {
        for (let p = sweepSteps()[next++]; p; p = sweepSteps()[next++]) results.push(await tryStep(p));
      };
      await Promise.all(Array.from({ length: SWEEP_CONCURRENCY }, lane));
      return { results, discovered };
    } finally {
      clearInterval(beat);
    }
  }

  return sweepPass;
}
