/**
 * Domain errors raised by connectors. Temporal records an activity failure's type as the error's
 * `name`; the non-retryable ones are listed in `NON_RETRYABLE_ERROR_TYPES` (contract).
 */

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
