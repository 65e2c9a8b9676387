/**
 * A revocation step's target work, with matching first: find the leaver's one account by the catalog's
 * keys, then act on that account only. Not finding one where everyone has an account, two candidates,
 * or a protected account is a `AccountMatchError` (red for a human, nothing changed); not finding one
 * elsewhere is confirmed with the keys that were searched.
 */
import type { MatchEvidence } from '../contract';
import type { CatalogSystem } from '../config/catalog';
import type { OwnedCredential, RevocationConnector, RevokeResult, Subject } from './connector';
import { UnknownSystemError } from './errors';
import { KNOWN_ACCOUNT, describeMatch, matchError } from './matching';

/** A connector's result with the evidence of how the account was matched. */
export type MatchedResult = RevokeResult & { match: MatchEvidence };

/**
 * Whether not finding the person here is red: the catalog expects an account (identity and directory
 * tiers by default), or the HRIS named one that is not there.
 */
export function expectsAccount(sys: CatalogSystem, e: MatchEvidence): boolean {
  return sys.match.expectAccount || e.keys.some((k) => k.key === KNOWN_ACCOUNT);
}

/** Finds the leaver's account and revokes it (read back by the connector). */
export async function revokeMatched(
  sys: CatalogSystem,
  connector: RevocationConnector,
  who: Subject,
): Promise<MatchedResult> {
  const m = await connector.find(who);
  const e = m.evidence;
  if (e.outcome === 'found') {
    const r = await connector.revoke(who, m.account!);
    return { ...r, detail: `${describeMatch(e)}; ${r.detail}`, match: e };
  }
  if (e.outcome === 'not_found' && !expectsAccount(sys, e))
    return {
      changes: [],
      confirmation: { exists: false },
      detail: `no account in ${sys.name} (${describeMatch(e)})`,
      match: e,
    };
  throw matchError(e, sys.name);
}

/**
 * Finds the leaver's account and scopes it for a notice period (read back by the connector). Not
 * finding one is red wherever an account is expected, as for revocation; elsewhere there is nothing
 * to scope, confirmed with the keys searched.
 */
export async function scopeMatched(
  sys: CatalogSystem,
  connector: RevocationConnector,
  who: Subject,
): Promise<MatchedResult> {
  if (!connector.scope)
    throw new UnknownSystemError(`the connector of "${sys.id}" cannot scope an account (notice: scope)`);
  const m = await connector.find(who);
  const e = m.evidence;
  if (e.outcome === 'found') {
    const r = await connector.scope(who, m.account!);
    return { ...r, detail: `${describeMatch(e)}; ${r.detail}`, match: e };
  }
  if (e.outcome === 'not_found' && !expectsAccount(sys, e))
    return {
      changes: [],
      confirmation: { exists: false },
      detail: `no account in ${sys.name} to scope (${describeMatch(e)})`,
      match: e,
    };
  throw matchError(e, sys.name);
}

/**
 * Finds the credentials the leaver owns: through their matched account, or (none found) through their
 * HR fields alone. An ambiguous or protected match is red, as for the account itself.
 */
export async function discoverMatched(
  sys: CatalogSystem,
  connector: RevocationConnector,
  who: Subject,
): Promise<{ found: OwnedCredential[]; match: MatchEvidence }> {
  const m = await connector.find(who);
  const e = m.evidence;
  if (e.outcome === 'ambiguous' || e.outcome === 'protected') throw matchError(e, sys.name);
  return { found: await connector.discoverOwned!(who, m.account), match: e };
}
