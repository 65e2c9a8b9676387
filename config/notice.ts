/**
 * What a system does during a notice period (a voluntary departure whose last day has not ended):
 * `scope` reduces the account to what the person needs to work (admin roles, privileged groups and
 * sessions go at once; the account stays enabled), `revoke` revokes it at once, `keep` leaves it until
 * the end of the last day. The full revocation always runs at the end of the last day.
 */
export const NOTICE_ACTIONS = ['scope', 'revoke', 'keep'] as const;
export type NoticeAction = (typeof NOTICE_ACTIONS)[number];

/** The connector kinds (and settings) that can scope an account: what `notice: scope` needs. */
export const SCOPING_KINDS = ['entra', 'ldap', 'keycloak', 'okta'] as const;

/** Can this connector scope an account during a notice period? (Not an MFA-only entry.) */
export function canScope(c: { kind: string; scope?: string }): boolean {
  if (!(SCOPING_KINDS as readonly string[]).includes(c.kind)) return false;
  return c.scope === undefined || c.scope === 'account';
}

/**
 * The system's notice-period action: the catalog's `notice`, or the default of its tier. Identity and
 * directory: `scope` where the connector can (else as an application). MFA: `keep` (the person still
 * signs in). VPN and applications: `revoke` when marked `privileged`, else `keep`.
 */
export function noticeActionOf(s: {
  tier: string;
  privileged: boolean;
  notice?: NoticeAction | undefined;
  integration: string;
  connector: { kind: string; scope?: string };
}): NoticeAction {
  if (s.notice) return s.notice;
  if ((s.tier === 'identity' || s.tier === 'directory') && s.integration === 'api' && canScope(s.connector))
    return 'scope';
  if (s.tier === 'mfa') return 'keep';
  return s.privileged ? 'revoke' : 'keep';
}
