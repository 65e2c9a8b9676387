/**
 * Domain errors raised by connectors. Temporal records an activity failure's type as the error's
 * `name`; the non-retryable ones are listed in `NON_RETRYABLE_ERROR_TYPES` (contract).
 */
import { MATCH_ERROR_TYPES, type MatchEvidence } from '../contract';

/** The target refused our credentials (401/403, LDAP invalid credentials): fix the configuration. */
export class TargetAuthError extends Error {
  override readonly name = 'TargetAuthError';
}

/** The target rejected the request as invalid (4xx other than throttling): retrying cannot help. */
export class TargetRejectedError extends Error {
  override readonly name = 'TargetRejectedError';
}

/** The target asked us to slow down; retry no sooner than `retryAfterMs`. */
export class TargetThrottledError extends Error {
  override readonly name = 'TargetThrottledError';
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

/** The target is down, timing out or answered 5xx: retry by policy. */
export class TargetUnavailableError extends Error {
  override readonly name = 'TargetUnavailableError';
}

/** The action was made but reading the target back still shows access: retry by policy. */
export class ConfirmationMismatchError extends Error {
  override readonly name = 'ConfirmationMismatchError';
}

/** The workflow named a system that is not in the worker's catalog. */
export class UnknownSystemError extends Error {
  override readonly name = 'UnknownSystemError';
}

/**
 * The leaver's account could not be matched to one account (`MatchEvidence`): none where one is
 * expected, two candidates, or a protected one. Nothing was changed; the evidence says what each key
 * found. Never retried: the owner is told and a human decides.
 */
export class AccountMatchError extends Error {
  constructor(
    message: string,
    readonly evidence: MatchEvidence,
  ) {
    super(message);
  }
}

/** No key found the person where everyone is expected to have an account. */
export class AccountNotFoundError extends AccountMatchError {
  override readonly name = MATCH_ERROR_TYPES.not_found;
}

/** A key found two accounts, or two keys found different ones: acting on either could be wrong. */
export class AmbiguousAccountError extends AccountMatchError {
  override readonly name = MATCH_ERROR_TYPES.ambiguous;
}

/** The one account found is protected (break-glass, tenant admin): automation never touches it. */
export class ProtectedAccountError extends AccountMatchError {
  override readonly name = MATCH_ERROR_TYPES.protected;
}

/** No departure record with that id. */
export class DepartureNotFoundError extends Error {
  override readonly name = 'DepartureNotFoundError';
}

/** Parses an HTTP `Retry-After` header (seconds or HTTP date) into milliseconds. */
export function retryAfterMs(value: string | null | undefined, fallbackMs = 1_000): number {
  if (!value) return fallbackMs;
  const secs = Number(value);
  if (Number.isFinite(secs) && secs >= 0) return Math.ceil(secs * 1000);
  const at = Date.parse(value);
  if (Number.isFinite(at)) return Math.max(0, at - Date.now());
  return fallbackMs;
}

/** Maps an HTTP status from a target to the matching domain error. */
export function errorForStatus(status: number, message: string, retryAfter?: string | null): Error {
  if (status === 401 || status === 403) return new TargetAuthError(message);
  if (status === 429 || status === 503) return new TargetThrottledError(message, retryAfterMs(retryAfter));
  if (status >= 500) return new TargetUnavailableError(message);
  return new TargetRejectedError(message);
}
