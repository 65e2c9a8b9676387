/**
 * Shadow IT from the leaver's own consents: the third-party applications an identity provider says the
 * leaver authorised (delegated permissions, OAuth grants and tokens, client consents), as evidence on
 * the identity step. Each one is revoked and read back gone by the connector; the step runner then says
 * which ones no catalog system covers (activities/consents.ts). The shapes the API and CLI show.
 */

/**
 * How the leaver authorised the app: an Entra delegated permission grant (`oauth2PermissionGrant`) or
 * app role assignment; an Okta scope consent grant, or tokens alone; a Google OAuth token; a Keycloak
 * consent, or an offline token alone.
 */
export const CONSENT_KINDS = [
  'delegated-permission',
  'app-role-assignment',
  'scope-grant',
  'oauth-token',
  'user-consent',
  'offline-token',
] as const;
export type ConsentKind = (typeof CONSENT_KINDS)[number];

/** One third-party application the leaver authorised, as the identity provider lists it. */
export interface Consent {
  /** The app's id at the identity provider: Entra appId, Okta or Google OAuth client id, Keycloak clientId. */
  appId: string;
  /** Its display name there (the id when it has none). */
  name: string;
  /** What it was allowed: scopes, delegated permissions, app role values. */
  scopes: string[];
  kind: ConsentKind;
}

/**
 * A consent as the step's evidence keeps it: `coveredBy` is the catalog system whose id or name is the
 * app's, `knownApps` when the catalog's `shadowIt.knownApps` lists it, null when nothing covers it (an
 * uncovered system: shadow IT). Absent on evidence written before the catalog was consulted.
 */
export interface ConsentEvidence extends Consent {
  coveredBy?: string | null;
}

/** The catalog's allow list, as `coveredBy` names it. */
export const KNOWN_APPS = 'knownApps';

/** A consent of a departure, as `GET /departures/{id}` lists it (from its confirmed steps' evidence). */
export interface ConsentRow extends Consent {
  /** The step and system whose identity provider held the consent. */
  stepId: string;
  systemId: string;
  systemName: string;
  /** Catalog system id, `knownApps`, or null: not covered (shadow IT). */
  coveredBy: string | null;
  /** True: the step revoked it and read it back gone (only confirmed steps keep evidence). */
  revoked: boolean;
}

const isConsent = (c: unknown): c is ConsentEvidence => {
  const x = c as Partial<ConsentEvidence> | null;
  return (
    !!x &&
    typeof x.appId === 'string' &&
    typeof x.name === 'string' &&
    Array.isArray(x.scopes) &&
    (CONSENT_KINDS as readonly string[]).includes(x.kind as string)
  );
};

/** The consents a step's evidence (`{ confirmation: { consents } }`) records, or none. */
export function consentsOf(evidence: unknown): ConsentEvidence[] {
  const list = (evidence as { confirmation?: { consents?: unknown } } | null)?.confirmation?.consents;
  return Array.isArray(list) ? list.filter(isConsent) : [];
}
