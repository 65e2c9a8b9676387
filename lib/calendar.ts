/**
 * Calendar arithmetic in the company's time zone (luxon handles zones and daylight-saving shifts) and
 * business days (public holidays from the date-holidays library).
 */
import Holidays from 'date-holidays';
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

/** A business calendar: the company's time zone and whose public holidays are days off. */
export interface BusinessCalendar {
  timeZone: string;
  /** ISO 3166-1 alpha-2 country code, e.g. DE. */
  country: string;
  /** Subdivision (ISO 3166-2 code without the country, e.g. BY for Bavaria; "DE-BY" is accepted too). */
  region?: string;
}

const holidayCache = new Map<string, ReadonlySet<string>>();

/**
 * The calendar dates (YYYY-MM-DD) of the public holidays of a country (and region) in a year, from the
 * date-holidays library. Only type `public` counts (e.g. in Germany Christmas Eve is not one, the 25th and
 * 26th are); substitute days of a public holiday (US: a Friday for a Saturday 4th of July) count too.
 */
export function publicHolidays(year: number, country: string, region?: string): ReadonlySet<string> {
  const state = region?.replace(new RegExp(`^${country}-`, 'i'), '') || undefined;
  const key = `${country}:${state ?? ''}:${year}`;
  const hit = holidayCache.get(key);
  if (hit) return hit;
  const hd = new Holidays();
  if (!hd.getCountries()[country]) throw new RangeError(`no public-holiday data for country "${country}"`);
  if (state && !hd.getStates(country)?.[state.toUpperCase()])
    throw new RangeError(`no public-holiday data for region "${region}" of country "${country}"`);
  if (state) hd.init(country, state.toUpperCase(), { types: ['public'] });
  else hd.init(country, { types: ['public'] });
  const days = new Set(
    hd
      .getHolidays(year)
      .filter((h) => h.type === 'public')
      .map((h) => h.date.slice(0, 10)),
  );
  holidayCache.set(key, days);
  return days;
}

/** Whether a calendar date (YYYY-MM-DD) is a business day: Monday to Friday and not a public holiday. */
export function isBusinessDay(day: string, cal: Pick<BusinessCalendar, 'country' | 'region'>): boolean {
  const d = DateTime.fromISO(day, { zone: 'UTC' });
  if (!d.isValid || !/^\d{4}-\d{2}-\d{2}$/.test(day))
    throw new RangeError(`"${day}" is not a calendar date (YYYY-MM-DD)`);
  if (d.weekday > 5) return false;
  return !publicHolidays(d.year, cal.country, cal.region).has(day);
}

function dayOf(from: Date, timeZone: string): DateTime {
  const d = DateTime.fromJSDate(from, { zone: timeZone });
  if (!d.isValid) throw new RangeError(`"${timeZone}" is not an IANA time zone (or the date is invalid)`);
  return d.startOf('day');
}

/** The start (midnight, `cal.timeZone`) of the Nth business day after `from`'s calendar day. */
function nthBusinessDay(from: Date, days: number, cal: BusinessCalendar): DateTime {
  if (!Number.isInteger(days) || days < 0) throw new RangeError(`${days} is not a whole number of days`);
  let d = dayOf(from, cal.timeZone);
  // A year has at most ~130 days off anywhere; this bound only stops a broken holiday table looping.
  for (let n = 0, guard = 0; n < days; guard++) {
    if (guard > days * 7 + 366)
      throw new RangeError(`no ${days} business days found after ${from.toISOString()}`);
    d = d.plus({ days: 1 });
    if (isBusinessDay(d.toISODate()!, cal)) n++;
  }
  return d;
}

/**
 * The end (the midnight after, in `cal.timeZone`) of the Nth business day after `from`'s calendar day
 * in that zone; Saturdays, Sundays and public holidays of the country/region are skipped. Counting starts
 * the day after `from`, so an event on a Friday afternoon with 1 business day is due at the end of Monday.
 * With 0 days it is the end of `from`'s own day.
 */
export function addBusinessDays(from: Date, days: number, cal: BusinessCalendar): Date {
  return nthBusinessDay(from, days, cal).plus({ days: 1 }).startOf('day').toJSDate();
}

/** The next business day after `from`'s calendar day, at `hour`:`minute` in `cal.timeZone`. */
export function nextBusinessDayAt(from: Date, hour: number, minute: number, cal: BusinessCalendar): Date {
  return nthBusinessDay(from, 1, cal).set({ hour, minute, second: 0, millisecond: 0 }).toJSDate();
}
