/**
 * The one error type used outside workflows. Its `code` maps to an HTTP status in one place
 * (`httpStatusFor`), so routes never choose status codes themselves.
 */
export type ErrorCode =
  | 'config_invalid'
  | 'catalog_invalid'
  | 'bad_request'
  | 'validation_failed'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'signature_invalid'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  /** The path exists, the method does not (the answer's `Allow` header names those that do). */
  | 'method_not_allowed'
  | 'conflict'
  /** Well-formed, but the current state cannot accept it (e.g. resolving a green item). */
  | 'unprocessable'
  /** A single-use or expiring thing (e.g. a signing link) that was used up or expired. */
  | 'gone'
  /** Too many requests from this client (or for this link) in the window: retry after `Retry-After` seconds. */
  | 'rate_limited'
  | 'unavailable'
  | 'internal';

export interface FieldError {
  field: string;
  message: string;
}

export class AppError extends Error {
  override readonly name = 'AppError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: { fields?: FieldError[]; [k: string]: unknown },
  ) {
    super(message);
  }
}

const STATUS: Record<ErrorCode, number> = {
  config_invalid: 500,
  catalog_invalid: 500,
  bad_request: 400,
  validation_failed: 400,
  payload_too_large: 413,
  unsupported_media_type: 415,
  signature_invalid: 401,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  unprocessable: 422,
  gone: 410,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

/** The HTTP status for an error code. */
export function httpStatusFor(code: ErrorCode): number {
  return STATUS[code];
}
