/** Vendor words read the same way by every adapter. */
import type { TerminationType } from '../contract';

/**
 * The termination type from a vendor's label ("Resignation (Voluntary)", "Termination (Involuntary)",
 * "Voluntary", "QUIT", …). Anything else counts as involuntary: everything is revoked at once, never later.
 */
export function terminationTypeOf(value: string | null | undefined): TerminationType {
  const v = (value ?? '').toLowerCase();
  return /involuntary/.test(v) || !/voluntary|resign|quit/.test(v) ? 'involuntary' : 'voluntary';
}

/** A YYYY-MM-DD date, or null (vendors write empty dates as "", null or 0000-00-00). */
export function isoDate(d: string | null | undefined): string | null {
  return d && /^\d{4}-\d{2}-\d{2}/.test(d) && !d.startsWith('0000') ? d.slice(0, 10) : null;
}
