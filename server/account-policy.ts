/**
 * What the intake needs of the catalog about accounts: which systems an HRIS or operator may name an
 * account id for (API systems), and whether an operator's involuntary departure names a protected
 * account, so it waits for a second operator's approval before anything is revoked.
 */
import type { Catalog } from '../config/catalog';
import type { FieldError } from '../lib/errors';
import type { HrisEvent } from './hris';

export interface AccountPolicy {
  /** Field errors for named accounts of systems the catalog does not have or cannot act on. */
  check(accounts: Record<string, string> | undefined): FieldError[];
  /** Why this departure names a protected account (to hold an operator's involuntary one), or null. */
  protectedHit(event: HrisEvent): string | null;
}

/** The account policy of a catalog. */
export function accountPolicy(catalog: Catalog): AccountPolicy {
  const systems = new Map(catalog.systems.map((s) => [s.id, s]));
  return {
    check(accounts) {
      const out: FieldError[] = [];
      for (const id of Object.keys(accounts ?? {})) {
        const s = systems.get(id);
        const field = `employee.accounts.${id}`;
        if (!s)
          out.push({
            field,
            message: `no system "${id}" in the catalog (systems: ${[...systems.keys()].join(', ')})`,
          });
        else if (s.integration !== 'api')
          out.push({
            field,
            message: `${s.name} is revoked by ${s.integration === 'ticket' ? 'ticket' : 'manual task'}: Offboard acts on no account there`,
          });
      }
      return out;
    },
    protectedHit(event) {
      const e = event.employee;
      for (const s of catalog.systems) {
        const listed = new Set(s.protected.accounts.map((a) => a.toLowerCase()));
        if (listed.size === 0) continue;
        const named = [e.workEmail, e.id, e.accounts?.[s.id]].filter((x): x is string => !!x);
        const hit = named.find((x) => listed.has(x.toLowerCase()));
        if (hit) return `${hit} is a protected account in ${s.name}`;
      }
      return null;
    },
  };
}

/** No catalog (a bare intake in a test): every account id is taken, nothing is protected. */
export const OPEN_ACCOUNT_POLICY: AccountPolicy = { check: () => [], protectedHit: () => null };
