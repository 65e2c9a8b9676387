/**
 * Matching a leaver to their account in one system, the same way for every connector: the account the
 * HRIS named wins; otherwise every catalog key is searched, in order, and the result is one account,
 * none, or more than one. A protected account is never handed on. What each key found is the evidence.
 * The live audit searches by every key too and reports every account still giving access.
 */
import { describeMatch, type AccountRef, type MatchEvidence } from '../contract';

export { describeMatch };
import {
  keyLabel,
  keyValue,
  type AnyMatchKey,
  type MatchSettings,
  type ProtectedSettings,
} from '../config/matching';
import type { AccessFinding, AccountMatch, LiveAccount, Subject, TargetAccount } from './connector';
import {
  AccountNotFoundError,
  AmbiguousAccountError,
  ProtectedAccountError,
  type AccountMatchError,
} from './errors';

/** The key label of an account id the HRIS (or an operator) named for the system. */
export const KNOWN_ACCOUNT = 'known account id';

/** A key with the HRIS value it compares. */
export interface KeyQuery {
  key: AnyMatchKey;
  value: string;
}

/** What a connector offers the matcher: reads of its target. */
export interface AccountDirectory<A extends TargetAccount> {
  /** One account by its id at the target, or null when there is none. */
  lookup(id: string): Promise<A | null>;
  /**
   * The accounts each key finds, one list per key in the given order. Each list holds only accounts that
   * really carry the key's value (a target that ignores a filter must not make everyone a match).
   */
  search(queries: KeyQuery[], subject: Subject): Promise<A[][]>;
  /** The account's direct groups (ids, names or DNs); asked only when the catalog protects groups. */
  groupsOf?(account: A): Promise<string[]>;
  /** What still gives access through the account ("accountEnabled=true"), or null when nothing does. */
  liveAccess(account: A): Promise<string | null>;
}

/** The catalog settings one system's matching follows. */
export interface MatchContext {
  systemId: string;
  match: MatchSettings;
  protected: ProtectedSettings;
}

const ref = (a: TargetAccount): AccountRef => ({ id: a.id, name: a.name });

/** The queries of a subject: each key with its HRIS value; keys whose field is empty are left out. */
export function queriesOf(match: MatchSettings, subject: Subject): KeyQuery[] {
  return match.keys
    .map((key) => ({ key, value: keyValue(key, subject) }))
    .filter((q) => q.value.trim() !== '');
}

/** Creates `find` and `audit` of a connector over its directory. */
export function createMatcher<A extends TargetAccount>(dir: AccountDirectory<A>, ctx: MatchContext) {
  /** Why `a` is protected, or null. */
  async function protection(a: A): Promise<string | null> {
    const names = new Set([a.id, a.name, ...a.aliases].map((x) => x.toLowerCase()));
    const listed = ctx.protected.accounts.find((p) => names.has(p.toLowerCase()));
    if (listed) return `protected account list (${listed})`;
    if (ctx.protected.groups.length === 0 || !dir.groupsOf) return null;
    const groups = new Set((await dir.groupsOf(a)).map((g) => g.toLowerCase()));
    const group = ctx.protected.groups.find((g) => groups.has(g.toLowerCase()));
    return group ? `member of protected group ${group}` : null;
  }

  /** Every key's (or the known id's) search, with the distinct accounts found in key order. */
  async function searchAll(subject: Subject) {
    const known = subject.accounts?.[ctx.systemId];
    if (known) {
      const a = await dir.lookup(known);
      return {
        keys: [{ key: KNOWN_ACCOUNT, value: known, found: a ? [a] : [] }],
        distinct: a ? [a] : [],
      };
    }
    const queries = queriesOf(ctx.match, subject);
    const hits = queries.length > 0 ? await dir.search(queries, subject) : [];
    const keys = queries.map((q, i) => ({
      key: keyLabel(q.key),
      value: q.value,
      found: dedupe(hits[i] ?? []),
    }));
    return { keys, distinct: dedupe(keys.flatMap((k) => k.found)) };
  }

  async function find(subject: Subject): Promise<AccountMatch<A>> {
    const { keys, distinct } = await searchAll(subject);
    const evidence: MatchEvidence = {
      outcome: 'not_found',
      by: null,
      account: null,
      keys: keys.map((k) => ({ key: k.key, value: k.value, found: k.found.map(ref) })),
      candidates: distinct.map(ref),
      protectedBy: null,
    };
    if (distinct.length === 0) return { evidence, account: null };
    if (distinct.length > 1) return { evidence: { ...evidence, outcome: 'ambiguous' }, account: null };
    const account = distinct[0]!;
    const by = keys.find((k) => k.found.some((f) => f.id === account.id))!.key;
    const protectedBy = await protection(account);
    if (protectedBy)
      return {
        evidence: { ...evidence, outcome: 'protected', by, account: ref(account), protectedBy },
        account: null,
      };
    return { evidence: { ...evidence, outcome: 'found', by, account: ref(account) }, account };
  }

  async function audit(subject: Subject): Promise<AccessFinding> {
    // The known id and every key: an account revocation missed is found by whichever key reaches it.
    const known = subject.accounts?.[ctx.systemId];
    const searched = await Promise.all([
      searchAll({ ...subject, accounts: {} }),
      known ? searchAll(subject) : Promise.resolve({ keys: [], distinct: [] as A[] }),
    ]);
    const keys = [...searched[1].keys, ...searched[0].keys];
    const distinct = dedupe([...searched[1].distinct, ...searched[0].distinct]);
    const active: LiveAccount[] = [];
    for (const a of distinct) {
      const why = await dir.liveAccess(a);
      if (why === null) continue;
      const by = keys.filter((k) => k.found.some((f) => f.id === a.id)).map((k) => k.key);
      active.push({ id: a.id, name: a.name, by, why });
    }
    return { found: distinct.length, active, keys: keys.map((k) => k.key) };
  }

  return { find, audit };
}

function dedupe<A extends TargetAccount>(list: A[]): A[] {
  const seen = new Map<string, A>();
  for (const a of list) if (!seen.has(a.id)) seen.set(a.id, a);
  return [...seen.values()];
}

/** The error of a match automation must not act on (not found where expected, ambiguous, protected). */
export function matchError(e: MatchEvidence, systemName: string): AccountMatchError {
  const what = describeMatch(e);
  switch (e.outcome) {
    case 'ambiguous':
      return new AmbiguousAccountError(
        `${what}. Nothing was changed in ${systemName}: decide which account is the leaver's, record its id ` +
          `on the departure and re-drive the step, or revoke it by hand`,
        e,
      );
    case 'protected':
      return new ProtectedAccountError(
        `${what}. Automation never changes a protected account: a person must decide and act in ${systemName}`,
        e,
      );
    default:
      return new AccountNotFoundError(
        `${what} in ${systemName}, where every employee is expected to have one. Not finding an account is ` +
          `not proof that access is gone: find it and record its id on the departure, then re-drive the ` +
          `step; or resolve the report item as no_account with a note`,
        e,
      );
  }
}
