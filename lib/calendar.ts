/** Calendar arithmetic in the company's time zone (luxon handles zones and daylight-saving shifts). */
import { DateTime } from 'luxon';

/** The instant a last working day (YYYY-MM-DD) ends: midnight after it, in `timeZone`. */
export function endOfLastDay(lastDay: string, timeZone: string): Date {
  const d = DateTime.fromISO(lastDay, { zone: timeZone });
  if (!d.isValid || !/^\d{4}-\d{2}-\d{2}$/.test(lastDay))
    throw new RangeError(`"${lastDay}" is not a calendar date (YYYY-MM-DD)`);
  return d.plus({ days: 1 }).startOf('day').toJSDate();
}

/**
 * When the non-privileged systems of a departure are revoked: for a voluntary departure whose last day
 * has not yet ended, the end of that day; otherwise null (everything at once).
 */
export function noticePeriodEnd(
  d: { terminationType: string; lastDay: string | null },
  timeZone: string,
  now: Date = new Date(),
): Date | null {
  if (d.terminationType !== 'voluntary' || !d.lastDay) return null;
  const end = endOfLastDay(d.lastDay, timeZone);
  return end.getTime() > now.getTime() ? end : null;
}
