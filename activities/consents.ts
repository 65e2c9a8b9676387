/**
 * Shadow IT from the leaver's own consents (the guide: "shadow IT is the primary source of orphaned
 * credentials"): every identity-provider connector lists the third-party applications the leaver
 * authorised, revokes them and reads them back gone, and puts them in its evidence as `consents`. Here
 * the step runner compares them with the catalog: an app no catalog system covers (by id or name,
 * compared like `offboard shadow-it` compares an export) and the catalog's `shadowIt.knownApps` does not
 * list is an uncovered system. It is named in the step's detail, so in the verification report, and
 * listed by `offboard shadow-it --departure`.
 */
import { KNOWN_APPS, consentsOf, type Consent, type ConsentEvidence } from '../contract/consents';
import type { Catalog } from '../config/catalog';
import type { RevokeResult } from './connector';

/**
 * Lower case, letters and digits only: "Team-Wiki", "team wiki" and "TEAM_WIKI" are one name, and so are
 * "Café" and "Cafe" (accents of Latin letters dropped). Letters of every script count: "Яндекс Диск"
 * and "日本アプリ" are names too.
 */
export const normaliseAppName = (s: string) =>
  s
    .normalize('NFKD')
    .replace(/(\p{Script=Latin})\p{M}+/gu, '$1')
    .normalize('NFC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}]/gu, '');

/** What covers an app: a catalog system (id), the catalog's allow list (`knownApps`), or nothing (null). */
export function coverageOf(catalog: Pick<Catalog, 'systems' | 'shadowIt'>): (c: Consent) => string | null {
  const known = new Map<string, string>();
  for (const app of catalog.shadowIt?.knownApps ?? []) known.set(normaliseAppName(app), KNOWN_APPS);
  // Systems win over the allow list (they say which system covers the app).
  for (const s of catalog.systems) {
    known.set(normaliseAppName(s.id), s.id);
    known.set(normaliseAppName(s.name), s.id);
  }
  known.delete('');
  return (c) => known.get(normaliseAppName(c.name)) ?? known.get(normaliseAppName(c.appId)) ?? null;
}

const label = (c: Consent) => (c.name === c.appId ? c.name : `${c.name} (${c.appId})`);

/**
 * A revocation's result with its consents compared with the catalog: each one in the evidence says what
 * covers it (`coveredBy`), and the detail names the uncovered ones. A result without consents is
 * returned as it is.
 */
export function withShadowIt<R extends RevokeResult>(
  r: R,
  catalog: Pick<Catalog, 'systems' | 'shadowIt'>,
): R {
  const consents = consentsOf(r);
  if (consents.length === 0) return r;
  const cover = coverageOf(catalog);
  const annotated: ConsentEvidence[] = consents.map((c) => ({ ...c, coveredBy: cover(c) }));
  const uncovered = annotated.filter((c) => c.coveredBy === null);
  const note =
    uncovered.length === 0
      ? `third-party apps authorised: ${consents.length}, every one covered by the catalog`
      : `shadow IT: ${uncovered.length} of ${consents.length} third-party app(s) the leaver authorised ` +
        `are in no catalog system (uncovered; consent revoked): ${uncovered.map(label).join(', ')}`;
  return {
    ...r,
    confirmation: { ...r.confirmation, consents: annotated },
    detail: `${r.detail}; ${note}`,
  };
}
