/**
 * From an HR system's record to the canonical event (server/hris.ts), and into the one intake: the
 * vendor's webhook (vendor.ts) and the reconciliation (activities/hris-reconcile.ts) both end here, so
 * deduplication, rescission and last-day moves behave as for the canonical webhook.
 *
 * The vendors have no "confirmed at" instant that stays the same across reads, and the intake tells one
 * termination from the next by it: while the employee has an open offboarding its `confirmedAt` is
 * reused (a moved last day or a new personal email updates that offboarding); otherwise the instant
 * Offboard learned of the termination is taken.
 */
import type { HrisVendor } from '../../contract';
import type { Db } from '../../lib/db';
import type { HrisAdapter, VendorEmployee } from '../../hris/types';
import { fieldErrors, hrisEventSchema, type HrisEvent } from '../hris';
import { RESCINDED_DEPARTURE } from '../starter';
import type { createIntake } from './index';
import { CLOSED_DEPARTURE_STATUSES, type EventBase, type IntakeAnswer, type Origin } from './types';

/** The employee's open offboarding, and whether this vendor (webhook or reconciliation) brought it. */
export interface PriorDeparture {
  id: string;
  confirmedAt: Date;
  fromVendor: boolean;
}

/** Idempotency keys of what a vendor brought start with one of these. */
export const vendorKeyPrefixes = (vendor: HrisVendor) => [`${vendor}:`, `reconcile:${vendor}:`];

export async function priorDeparture(
  db: Db,
  vendor: HrisVendor,
  employeeId: string,
): Promise<PriorDeparture | null> {
  const dep = await db.departure.findFirst({
    where: { employeeId, status: { notIn: CLOSED_DEPARTURE_STATUSES }, NOT: RESCINDED_DEPARTURE },
    orderBy: { createdAt: 'desc' },
    select: { id: true, confirmedAt: true },
  });
  if (!dep) return null;
  const brought = await db.triggerEvent.findFirst({
    where: {
      departureId: dep.id,
      OR: vendorKeyPrefixes(vendor).map((p) => ({ idempotencyKey: { startsWith: p } })),
    },
    select: { id: true },
  });
  return { id: dep.id, confirmedAt: dep.confirmedAt, fromVendor: !!brought };
}

/**
 * The employee's latest completed offboarding for the last day `lastDay`: a record that
 * still shows that termination (HR edited something else, the reconciliation lists it as changed) is
 * the same departure, already offboarded, and starts nothing. A different last day is a new
 * termination (a rehire who left again).
 */
export async function offboardedFor(
  db: Db,
  employeeId: string,
  lastDay: string | null,
): Promise<{ id: string; status: string } | null> {
  return db.departure.findFirst({
    where: {
      employeeId,
      lastDay,
      status: 'completed',
      NOT: RESCINDED_DEPARTURE,
    },
    orderBy: { createdAt: 'desc' },
    select: { id: true, status: true },
  });
}

/** What a record means for the intake. */
export type Mapped = { event: HrisEvent } | { ignored: string } | { invalid: string };

export interface MapOptions {
  vendorTitle: string;
  now: Date;
  remoteLocations: readonly string[];
}

/** The canonical event of a vendor record, given the employee's open offboarding (if any). */
export function toCanonical(emp: VendorEmployee, prior: PriorDeparture | null, o: MapOptions): Mapped {
  if (emp.employment === 'unclear')
    return {
      ignored: `${o.vendorTitle} shows the employee ${emp.status || 'inactive'} without a termination date: reported to HR, nothing done`,
    };
  if (emp.employment === 'active' && !prior?.fromVendor)
    return {
      ignored: `${o.vendorTitle} shows no termination and Offboard has no offboarding of it to rescind`,
    };
  const remote = o.remoteLocations.some((l) => l.toLowerCase() === (emp.location ?? '').toLowerCase());
  const type = emp.terminationType ?? 'involuntary';
  const raw = {
    type: 'employee.status_changed',
    occurredAt: o.now.toISOString(),
    employee: {
      id: emp.id,
      name: emp.name,
      workEmail: emp.workEmail,
      personalEmail: emp.personalEmail,
      department: emp.department ?? `(no department in ${o.vendorTitle})`,
      managerEmail: emp.managerEmail,
      departmentHeadEmail: null,
      workLocation: remote ? 'remote' : 'in_office',
    },
    status:
      emp.employment === 'active'
        ? 'termination_rescinded'
        : type === 'voluntary'
          ? 'resigned_confirmed'
          : 'terminated',
    termination:
      emp.employment === 'terminated'
        ? { type, confirmedAt: (prior?.confirmedAt ?? o.now).toISOString(), lastDay: emp.lastDay }
        : null,
  };
  const r = hrisEventSchema.safeParse(raw);
  if (!r.success)
    return {
      invalid: `${o.vendorTitle} record ${emp.vendorId}: ${fieldErrors(r.error)
        .map((f) => `${f.field}: ${f.message}`)
        .join('; ')}`.slice(0, 1000),
    };
  return { event: r.data };
}

export interface FeedDeps {
  db: Db;
  intake: Pick<ReturnType<typeof createIntake>, 'accept'>;
  adapter: HrisAdapter;
  remoteLocations: readonly string[];
}

/** What became of one employee: the intake's answer, or why nothing was done (logged either way). */
export type Fed =
  | { vendorId: string; answer: IntakeAnswer }
  | { vendorId: string; outcome: 'ignored' | 'invalid'; reason: string };

/**
 * Reads one employee from the vendor's API and feeds the intake under `key`. `quiet`: a record that
 * means nothing (active, nothing to rescind) is not logged (the reconciliation reads many of those).
 */
export async function feedEmployee(
  d: FeedDeps,
  vendorId: string,
  k: { key: string; base: EventBase; origin: Origin; now: Date; quiet?: boolean },
): Promise<Fed> {
  const emp = await d.adapter.fetchEmployee(vendorId);
  const log = async (outcome: 'ignored' | 'invalid', reason: string, employeeId: string): Promise<Fed> => {
    if (!(k.quiet && outcome === 'ignored'))
      await d.db.triggerEvent.create({
        data: {
          ...k.base,
          idempotencyKey: k.key,
          signatureResult: k.origin.signatureResult,
          employeeId,
          outcome,
          reason,
        },
      });
    return { vendorId, outcome, reason };
  };
  if (!emp)
    return log('ignored', `${d.adapter.title} has no employee ${vendorId} (deleted?)`, vendorId.slice(0, 64));
  const prior = await priorDeparture(d.db, d.adapter.vendor, emp.id);
  if (!prior && emp.employment === 'terminated') {
    const done = await offboardedFor(d.db, emp.id, emp.lastDay);
    if (done)
      return log(
        'ignored',
        `${d.adapter.title} still shows the termination offboarded as ${done.id} (${done.status}): nothing started again`,
        emp.id,
      );
  }
  const mapped = toCanonical(emp, prior, {
    vendorTitle: d.adapter.title,
    now: k.now,
    remoteLocations: d.remoteLocations,
  });
  if ('ignored' in mapped) return log('ignored', mapped.ignored, emp.id);
  if ('invalid' in mapped) return log('invalid', mapped.invalid, emp.id);
  return { vendorId, answer: await d.intake.accept(mapped.event, k.key, k.base, k.origin) };
}
