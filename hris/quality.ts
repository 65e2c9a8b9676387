/**
 * The data-quality checks the reconciliation reports to HR without acting on them (docs/hris.md):
 * duplicate records, terminated employees with no termination date, work emails shared by two people,
 * and status flips (a status that changed back to what it was before the last change).
 */
import type { DataQualityFindings } from '../contract';
import type { VendorEmployee } from './types';

/** Per employee: the status last seen and the one before it changed (to tell a flip). */
export type Snapshot = Record<string, { status: string; before?: string }>;

const norm = (s: string | null) => (s ?? '').trim().toLowerCase();

/** Groups of ids sharing a key (only groups of two or more). */
function groups(roster: VendorEmployee[], key: (e: VendorEmployee) => string | null): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const e of roster) {
    const k = key(e);
    if (!k) continue;
    out.set(k, [...(out.get(k) ?? []), e.id]);
  }
  return new Map([...out].filter(([, ids]) => ids.length > 1));
}

/** The findings for `roster` given the last snapshot, and the snapshot to keep for the next run. */
export function checkQuality(
  roster: VendorEmployee[],
  last: Snapshot | null,
): { findings: DataQualityFindings; snapshot: Snapshot } {
  const snapshot: Snapshot = {};
  const statusFlips: DataQualityFindings['statusFlips'] = [];
  for (const e of roster) {
    const prior = last?.[e.id];
    const changed = !!prior && prior.status !== e.status;
    if (changed && prior.before !== undefined && prior.before === e.status)
      statusFlips.push({ employeeId: e.id, from: prior.status, to: e.status });
    snapshot[e.id] = {
      status: e.status,
      ...(changed ? { before: prior.status } : prior?.before ? { before: prior.before } : {}),
    };
  }
  return {
    snapshot,
    findings: {
      // The same person twice: same name and the same personal email (or both without one).
      duplicates: [...groups(roster, (e) => `${norm(e.name)}|${norm(e.personalEmail)}`).values()],
      terminatedWithoutDate: roster.filter((e) => e.employment === 'unclear').map((e) => e.id),
      sharedWorkEmails: [...groups(roster, (e) => norm(e.workEmail) || null)].map(([email, employeeIds]) => ({
        email,
        employeeIds,
      })),
      statusFlips,
    },
  };
}

/** Whether there is anything to tell HR. */
export function anyFinding(f: DataQualityFindings): boolean {
  return (
    f.duplicates.length + f.terminatedWithoutDate.length + f.sharedWorkEmails.length + f.statusFlips.length >
    0
  );
}
