/**
 * The workflow's own bookkeeping activities (database writes, owner emails), with the options they
 * share, and how a failed activity is described in a step's last error.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  proxyActivities,
  proxyLocalActivities,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { NON_RETRYABLE_ERROR_TYPES } from '../contract';

/** Short, retried until they succeed; domain errors retrying cannot fix are not retried. */
const CONTROL_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
  },
};

export const control = proxyActivities<Activities>(CONTROL_OPTIONS);

/**
 * `control`'s short database-only calls that sit on the path to the first revocation. A local activity
 * retries inside the worker; in the SDK core of TS SDK 1.24 each retried attempt leaves its
 * start-to-close timer running, which can time out a later attempt or panic a core task when it fires
 * (temporalio/sdk-rust#1454). Planning retries only while the database is down; the retry then repeats.
 */
export const localControl = proxyLocalActivities<Activities>(CONTROL_OPTIONS);

/** The completion certificate: a PDF of every action, generated once. */
export const { generateCompletionCertificate } = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: {
    initialInterval: '2s',
    maximumInterval: '1m',
    nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
  },
});

/** An activity failure as `<type>: <message>` of its innermost cause (what the target said). */
export function describeFailure(err: unknown): { message: string; nonRetryable: boolean } {
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
