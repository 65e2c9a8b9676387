/**
 * How the catalog says to find a leaver's account in a system (`match`) and which accounts automation
 * never touches (`protected`): the schema, the defaults per connector kind, and the checks that tie a
 * key's attribute to what its connector can search.
 */
import { z } from 'zod';

/** HRIS fields a matching key can take its value from. */
export const KEY_SOURCES = ['employeeId', 'workEmail', 'workEmailLocalPart'] as const;
export type KeySource = (typeof KEY_SOURCES)[number];

/** One matching key: a target attribute compared with an HRIS field. */
export interface MatchKey {
  attribute: string;
  from: KeySource;
}

/** LDAP only: a whole filter with {employeeId} / {workEmail} placeholders (the older `userFilter`). */
export interface FilterKey {
  filter: string;
}

export type AnyMatchKey = MatchKey | FilterKey;

/** The resolved matching settings of one system (defaults filled in). */
export interface MatchSettings {
  /** Searched in this order; the first that finds the account is named as the match. */
  keys: AnyMatchKey[];
  /** Not finding the person here is red (identity and directory tiers by default). */
  expectAccount: boolean;
}

/** Accounts and groups automation never disables; a match there is red for a human. */
export interface ProtectedSettings {
  /** Account ids or names (UPN, mail, DN, userName), compared without regard to case. */
  accounts: string[];
  /** Group ids, names or DNs: a member of any is protected. */
  groups: string[];
}

const key = z
  .object({
    attribute: z.string().regex(/^[A-Za-z][A-Za-z0-9.-]{0,63}$/, 'must be an attribute name'),
    from: z.enum(KEY_SOURCES),
  })
  .strict();

export const matchSchema = z
  .object({
    keys: z.array(key).min(1).max(10).optional(),
    expectAccount: z.boolean().optional(),
  })
  .strict();

export const protectedSchema = z
  .object({
    accounts: z.array(z.string().trim().min(1)).default([]),
    groups: z.array(z.string().trim().min(1)).default([]),
  })
  .strict();

/** The attributes each connector kind can search (LDAP: any attribute of the directory's schema). */
export const SEARCHABLE: Record<string, readonly string[] | 'any'> = {
  entra: ['employeeId', 'userPrincipalName', 'mail', 'proxyAddresses', 'otherMails'],
  scim: ['externalId', 'userName', 'emails'],
  ldap: 'any',
  'ldap-group': 'any',
  // `username` and `email` are the user's own fields; any other name is a user attribute (`q=name:value`).
  keycloak: 'any',
  // `userName` is the IAM user name (GetUser); any other name is a tag key (ListUsers + ListUserTags).
  'aws-iam': 'any',
  // Any profile attribute, searched exactly with `search=profile.<name> eq "<value>"`.
  okta: 'any',
  // The SAML identity's nameId (or SCIM userName) in the organization's identity provider (GraphQL).
  github: ['samlNameId'],
  // The user's email, found with users.lookupByEmail.
  slack: ['email'],
  // externalIds (users.list `query=externalId='…'`); the primary email and aliases (users.get, which
  // resolves either and does not lag behind like search).
  google: ['externalId', 'primaryEmail', 'aliases'],
};

const k = (attribute: string, from: KeySource): MatchKey => ({ attribute, from });

/**
 * Default keys per connector kind: the immutable HR id first, then the work addresses. An `ldap` entry
 * for Active Directory (`activeDirectory`) searches AD's attributes: employeeID and employeeNumber,
 * userPrincipalName, mail, and sAMAccountName (the work email's local part).
 */
export function defaultKeys(
  kind: string,
  opts: { userNameFrom?: KeySource; activeDirectory?: boolean } = {},
): MatchKey[] {
  if (kind === 'ldap' && opts.activeDirectory)
    return [
      k('employeeID', 'employeeId'),
      k('employeeNumber', 'employeeId'),
      k('userPrincipalName', 'workEmail'),
      k('mail', 'workEmail'),
      k('sAMAccountName', 'workEmailLocalPart'),
    ];
  switch (kind) {
    case 'entra':
      return [
        k('employeeId', 'employeeId'),
        k('userPrincipalName', 'workEmail'),
        k('mail', 'workEmail'),
        k('proxyAddresses', 'workEmail'),
        k('otherMails', 'workEmail'),
      ];
    case 'scim':
      return [
        k('externalId', 'employeeId'),
        k('userName', opts.userNameFrom ?? 'workEmail'),
        k('emails', 'workEmail'),
      ];
    case 'keycloak':
      return [k('employeeId', 'employeeId'), k('username', 'workEmail'), k('email', 'workEmail')];
    case 'okta':
      return [k('employeeNumber', 'employeeId'), k('login', 'workEmail')];
    case 'github':
      // A GitHub login is the person's own: only the organization's SAML identity links it to the HR record.
      return [k('samlNameId', 'workEmail')];
    case 'slack':
      return [k('email', 'workEmail')];
    case 'google':
      return [k('externalId', 'employeeId'), k('primaryEmail', 'workEmail'), k('aliases', 'workEmail')];
    case 'aws-iam':
      // User names only: a tag key (e.g. employeeId) costs one ListUserTags per IAM user.
      return [k('userName', 'workEmail'), k('userName', 'workEmailLocalPart')];
    case 'ldap':
    case 'ldap-group':
      return [
        k('employeeNumber', 'employeeId'),
        k('employeeID', 'employeeId'),
        k('mail', 'workEmail'),
        k('userPrincipalName', 'workEmail'),
        k('uid', 'workEmailLocalPart'),
      ];
    default:
      return [];
  }
}

/** Tiers where every employee is expected to hold an account. */
export const EXPECTED_TIERS: readonly string[] = ['identity', 'directory'];

/** A short label of a key for evidence and messages: the attribute, or `userFilter`. */
export function keyLabel(key: AnyMatchKey): string {
  return 'filter' in key ? 'userFilter' : key.attribute;
}

/** The HRIS value a key compares with ('' when the field is empty). */
export function keyValue(key: AnyMatchKey, subject: { employeeId: string; workEmail: string }): string {
  if ('filter' in key) return key.filter;
  if (key.from === 'employeeId') return subject.employeeId;
  if (key.from === 'workEmail') return subject.workEmail;
  const at = subject.workEmail.lastIndexOf('@');
  return at > 0 ? subject.workEmail.slice(0, at) : '';
}
