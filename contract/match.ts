/**
 * Matching a leaver to their account in a system, as evidence: the shapes every layer shows (step
 * table, API, CLI, report, certificate) and the one sentence that says what matching found.
 */

/** An account at a target, as matching names it in evidence. */
export interface AccountRef {
  id: string;
  name: string;
}

/**
 * How a step found (or did not find) the leaver's account: evidence on the step, in the step table,
 * the API, the report and the certificate. Keys are searched in the catalog's order; an account the
 * HRIS named (`known account id`) wins over any search.
 */
export interface MatchEvidence {
  /**
   * `found`: exactly one account, acted on. `not_found`: no key found anything. `ambiguous`: a key
   * found two accounts, or two keys found different ones (nothing changed). `protected`: the one
   * account is one automation never touches (nothing changed).
   */
  outcome: 'found' | 'not_found' | 'ambiguous' | 'protected';
  /** The key that found the account (`known account id` when the HRIS named it), else null. */
  by: string | null;
  account: AccountRef | null;
  /** Every key searched, in order: its HRIS value and the accounts it found. */
  keys: { key: string; value: string; found: AccountRef[] }[];
  /** The different accounts found (two or more when ambiguous). */
  candidates: AccountRef[];
  /** Why the account is protected (`protected account list`, `member of <group>`), else null. */
  protectedBy: string | null;
}

/** The known account ids of a departure's `accounts` (system id → account id), or none. */
export function knownAccounts(v: unknown): Record<string, string> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return {};
  return Object.fromEntries(
    Object.entries(v as Record<string, unknown>).filter(
      (e): e is [string, string] => typeof e[1] === 'string',
    ),
  );
}

/** The error types of a step whose account could not be matched (`MatchEvidence.outcome`). */
export const MATCH_ERROR_TYPES = {
  not_found: 'AccountNotFoundError',
  ambiguous: 'AmbiguousAccountError',
  protected: 'ProtectedAccountError',
} as const;

const named = (a: AccountRef) => (a.name && a.name !== a.id ? `${a.name} (${a.id})` : a.id);

/** The keys that found `a`, in order. */
const keysFinding = (e: MatchEvidence, a: AccountRef) =>
  e.keys.filter((k) => k.found.some((f) => f.id === a.id)).map((k) => k.key);

/** One line saying what matching found, for the step table, the report and the certificate. */
export function describeMatch(e: MatchEvidence): string {
  const empty = e.keys.filter((k) => k.found.length === 0).map((k) => k.key);
  const nothing = empty.length ? `; nothing under ${empty.join(', ')}` : '';
  switch (e.outcome) {
    case 'found': {
      const also = keysFinding(e, e.account!).filter((k) => k !== e.by);
      return `matched by ${e.by}${also.length ? ` (also ${also.join(', ')})` : ''}: ${named(e.account!)}${nothing}`;
    }
    case 'not_found':
      return `no account found by ${e.keys.map((k) => k.key).join(', ') || 'any key (the HRIS sent no value for them)'}`;
    case 'ambiguous':
      return `${e.candidates.length} different accounts match: ${e.candidates
        .map((c) => `${named(c)} by ${keysFinding(e, c).join(', ')}`)
        .join('; ')}`;
    case 'protected':
      return `matched by ${e.by}: ${named(e.account!)}, which is protected (${e.protectedBy ?? ''})`;
  }
}
