/**
 * The review opened when a termination is rescinded after its offboarding has already finished: every
 * step ran, so nothing is halted; HR and IT are told what was revoked. Nothing is re-enabled.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { NON_RETRYABLE_ERROR_TYPES, type Rescission } from '../contract';

const { openRescissionReview } = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: {
    initialInterval: '1s',
    maximumInterval: '1m',
    nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
  },
});

/** Opens the rescission review of a departure whose offboarding workflow has closed. */
export async function rescissionReviewWorkflow(input: {
  departureId: string;
  rescission: Rescission;
}): Promise<{ reviewId: string }> {
  const r = await openRescissionReview({ ...input, halted: [] });
  return { reviewId: r.reviewId };
}
