/**
 * The system catalog: every system an employee can hold access in, how its access is revoked and
 * confirmed, and who owns it. Loaded once at start-up; any mistake stops start-up with the file,
 * the entry and the field named.
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { REVOCATION_TIERS } from '../contract';
import { AppError } from '../lib/errors';
import {
  EXPECTED_TIERS,
  SEARCHABLE,
  defaultKeys,
  matchSchema,
  protectedSchema,
  type AnyMatchKey,
  type MatchSettings,
  type ProtectedSettings,
} from './matching';
import { deskSchema, deskSecrets } from './desk';
import { NOTICE_ACTIONS, SCOPING_KINDS, canScope } from './notice';

const duration = z.string().regex(/^\d+(ms|s|m|h|d)$/, 'must be a duration such as 500ms, 30s, 5m or 2h');
const envName = z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'must be the name of an environment variable');
const person = z.object({ name: z.string().min(1), email: z.email() }).strict();

const entraConnector = z
  .object({
    kind: z.literal('entra'),
    /** Graph base URL without version, e.g. https://graph.microsoft.com */
    graphBaseUrl: z.url(),
    /** Token authority, e.g. https://login.microsoftonline.com */
    authorityUrl: z.url(),
    tenantId: z.string().min(1),
    clientId: z.string().min(1),
    clientSecretEnv: envName,
    /** Extra CA certificate (PEM file) to trust for this connector, e.g. a TLS-inspecting proxy. */
    caFile: z.string().optional(),
    /** Kept for older catalogs: the userPrincipalName is one of the matching keys (`match.keys`). */
    userPrincipalNameFrom: z.enum(['workEmail']).default('workEmail'),
    /**
     * What this entry revokes. `account` (identity tier): disable, revoke sign-in sessions, remove group
     * memberships and licences. `authentication-methods` (MFA tier): remove every registered method.
     */
    scope: z.enum(['account', 'authentication-methods']).default('account'),
    /**
     * Notice periods (`notice: scope`): the groups whose membership is removed at once (admin groups,
     * production access), by object id or display name. The account and its other groups stay until the last day ends.
     */
    privilegedGroups: z.array(z.string().min(1)).optional(),
  })
  .strict();

/**
 * Transport security of a directory connection (both LDAP connectors): `ldaps://`, or `ldap://` with
 * StartTLS; the server's certificate verified against the system's CAs or a CA file.
 */
const ldapTls = {
  /**
   * Upgrade an `ldap://` connection with StartTLS before binding. Default: on for Active Directory
   * (`disableMethod: ad-useraccountcontrol`, which refuses simple binds in clear text), off otherwise.
   */
  startTls: z.boolean().optional(),
  /** CA certificate (PEM file) that issued the directory's certificate. */
  caFile: z.string().min(1).optional(),
  /** The environment variable holding the path of that CA file (instead of `caFile`). */
  caFileEnv: envName.optional(),
  /** `false` turns certificate verification off (a test directory only); must be written here. */
  tlsRejectUnauthorized: z.boolean().optional(),
};

const ldapConnector = z
  .object({
    kind: z.literal('ldap'),
    url: z.string().regex(/^ldaps?:\/\//, 'must be an ldap:// or ldaps:// URL'),
    bindDn: z.string().min(1),
    bindPasswordEnv: envName,
    ...ldapTls,
    userBaseDn: z.string().min(1),
    /**
     * Kept for older catalogs: a filter with placeholders {employeeId} and {workEmail} (values escaped),
     * searched as the first matching key, before `match.keys`.
     */
    userFilter: z
      .string()
      .regex(/^\(.*\)$/, 'must be an LDAP filter in parentheses')
      .optional(),
    groupBaseDn: z.string().min(1),
    /** How an account is disabled: OpenLDAP ppolicy lock, or Active Directory's ACCOUNTDISABLE bit. */
    disableMethod: z.enum(['openldap-ppolicy', 'ad-useraccountcontrol']),
    /** groupOfNames needs one member: when the leaver is the last one, this DN takes their place. */
    emptyGroupMember: z.string().min(1).optional(),
    /**
     * Finds service accounts the leaver owns (for `ownedCredentials`): a filter under `userBaseDn` with
     * placeholders {dn}, {employeeId} and {workEmail}, e.g. (&(objectClass=account)(owner={dn})).
     * Active Directory default: (&(objectClass=user)(managedBy={dn})).
     */
    ownedAccountFilter: z
      .string()
      .regex(/^\(.*\)$/, 'must be an LDAP filter in parentheses')
      .optional(),
    /**
     * Active Directory only: the OU a revoked account is moved to (e.g. OU=Disabled Users,DC=…). Outside
     * `userBaseDn` it is searched too, so a moved account is still found.
     */
    disabledOu: z.string().min(1).optional(),
    /**
     * Notice periods (`notice: scope`): the groups whose membership is removed at once (admin groups,
     * production access), by DN. The account and its other groups stay until the last day ends.
     */
    privilegedGroups: z.array(z.string().min(1)).optional(),
    /**
     * Notice periods: privileged groups found by a filter under `groupBaseDn` as well, with the
     * placeholder {dn} (the leaver's DN), e.g. (&(objectClass=groupOfNames)(member={dn})(cn=*-admins)).
     */
    privilegedGroupFilter: z
      .string()
      .regex(/^\(.*\)$/, 'must be an LDAP filter in parentheses')
      .optional(),
    timeout: duration.default('10s'),
  })
  .strict();

/** Remote access held as membership of directory groups (e.g. the VPN access group). */
const ldapGroupConnector = z
  .object({
    kind: z.literal('ldap-group'),
    url: z.string().regex(/^ldaps?:\/\//, 'must be an ldap:// or ldaps:// URL'),
    bindDn: z.string().min(1),
    bindPasswordEnv: envName,
    ...ldapTls,
    userBaseDn: z.string().min(1),
    /** Kept for older catalogs: searched as the first matching key (see the `ldap` connector). */
    userFilter: z
      .string()
      .regex(/^\(.*\)$/, 'must be an LDAP filter in parentheses')
      .optional(),
    /** DNs of the groups that grant the access; the leaver is removed from each. */
    groups: z.array(z.string().min(1)).min(1),
    emptyGroupMember: z.string().min(1).optional(),
    timeout: duration.default('10s'),
  })
  .strict();

const scimConnector = z
  .object({
    kind: z.literal('scim'),
    /** SCIM 2.0 base URL, e.g. https://app.example.com/scim/v2 */
    baseUrl: z.url(),
    tokenEnv: envName,
    /** Which departure field the `userName` key takes (when `match.keys` does not say). */
    userNameFrom: z.enum(['workEmail', 'employeeId']).default('workEmail'),
  })
  .strict();

/**
 * Keycloak through its Admin REST API. `scope` says what one entry revokes: `account` (identity tier)
 * disables the user and removes everything that still gives access; `credentials` (MFA tier) removes
 * every credential (password, OTP, WebAuthn) only.
 */
const keycloakConnector = z
  .object({
    kind: z.literal('keycloak'),
    /** Keycloak's base URL, e.g. https://sso.example.com (the Admin REST API is under /admin/realms). */
    baseUrl: z.url(),
    /** The realm whose users are revoked. */
    realm: z.string().regex(/^[^/?#]+$/, 'must be a realm name (no "/", "?" or "#")'),
    /**
     * How the admin token is obtained: `client_credentials` (a confidential client's service account,
     * recommended) or `password` (a user's password, e.g. through `admin-cli`).
     */
    grant: z.enum(['client_credentials', 'password']).default('client_credentials'),
    /** The realm the token comes from: `master` for Keycloak's administrators, or `realm` itself. */
    tokenRealm: z
      .string()
      .regex(/^[^/?#]+$/, 'must be a realm name (no "/", "?" or "#")')
      .default('master'),
    /** The token's client: required for `client_credentials`; `admin-cli` when a password grant omits it. */
    clientId: z.string().min(1).optional(),
    /** The user of a `password` grant. */
    username: z.string().min(1).optional(),
    /** The client secret (`client_credentials`) or the user's password (`password`). */
    secretEnv: envName,
    /** Extra CA certificate (PEM file) to trust for this connector. */
    caFile: z.string().optional(),
    scope: z.enum(['account', 'credentials']).default('account'),
    /**
     * Notice periods (`notice: scope`): the groups whose membership is removed at once (admin groups,
     * production access), by group path (e.g. /admins). The account and its other groups stay until the last day ends.
     */
    privilegedGroups: z.array(z.string().min(1)).optional(),
    /**
     * Notice periods: realm roles removed at once besides every role of the `realm-management` client
     * (Keycloak's administration roles), e.g. [admin, ops].
     */
    privilegedRoles: z.array(z.string().min(1)).optional(),
  })
  .strict();

/**
 * AWS IAM users through the IAM Query API (AWS SDK v3): access keys, console password, MFA devices, SSH
 * public keys, signing certificates and service-specific credentials deactivated, groups removed.
 */
const awsIamConnector = z
  .object({
    kind: z.literal('aws-iam'),
    /** The region the SDK signs for; IAM is global (us-east-1 for the commercial partition). */
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region such as us-east-1')
      .default('us-east-1'),
    /** Another IAM endpoint (a VPC endpoint, an emulator in tests); default: the region's own. */
    endpoint: z.url().optional(),
    /** The environment variables holding the connector's access key id and secret access key. */
    accessKeyIdEnv: envName,
    secretAccessKeyEnv: envName,
    /** The environment variable holding a session token, for temporary credentials. */
    sessionTokenEnv: envName.optional(),
    /** Access keys: `deactivate` (Status=Inactive, kept as evidence; default) or `delete`. */
    accessKeys: z.enum(['deactivate', 'delete']).default('deactivate'),
    /** Tag-key searches list only users under this IAM path, e.g. /employees/. */
    pathPrefix: z
      .string()
      .regex(/^\/([\x21-\x7e]*\/)?$/, 'must be an IAM path such as /employees/')
      .optional(),
    /**
     * Check and deactivate service-specific credentials (CodeCommit, Keyspaces, Bedrock). `false` only
     * for an IAM emulator without these calls: the step's evidence then says they were not checked.
     */
    serviceSpecificCredentials: z.boolean().default(true),
  })
  .strict();

/**
 * Okta through its Management API with an API token (`Authorization: SSWS <token>`). `scope` says what
 * one entry revokes: `account` (identity tier) deactivates the user and removes everything that still
 * gives access; `factors` (MFA tier) deletes every factor only.
 */
const oktaConnector = z
  .object({
    kind: z.literal('okta'),
    /** The org's URL, e.g. https://example.okta.com (the API is under /api/v1). */
    orgUrl: z.url(),
    /** The environment variable holding the API token. */
    tokenEnv: envName,
    /** Extra CA certificate (PEM file) to trust for this connector. */
    caFile: z.string().optional(),
    scope: z.enum(['account', 'factors']).default('account'),
    /**
     * Notice periods (`notice: scope`): the groups whose membership is removed at once (admin groups,
     * production access), by group id or profile name. The account and its other groups stay until the last day ends.
     */
    privilegedGroups: z.array(z.string().min(1)).optional(),
  })
  .strict();

/**
 * One GitHub organization through the REST API (and GraphQL for SAML identities) with a token
 * (`Authorization: Bearer <token>`): the leaver's organization membership, outside-collaborator access
 * and (`samlSso`) SAML SSO credential authorizations revoked.
 */
const githubConnector = z
  .object({
    kind: z.literal('github'),
    /** The REST API's base URL: https://api.github.com, or https://<host>/api/v3 for GitHub Enterprise Server. */
    apiUrl: z.url().default('https://api.github.com'),
    /** The organization's login, e.g. example-corp. */
    org: z
      .string()
      .regex(
        /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/,
        'must be an organization login (letters, digits, dashes)',
      ),
    /** The environment variable holding the token (an organization owner's, scope admin:org). */
    tokenEnv: envName,
    /**
     * The organization uses SAML single sign-on (GitHub Enterprise Cloud): the leaver is found by their SAML
     * identity and their credential authorizations are revoked. Without it, only a known login finds them.
     */
    samlSso: z.boolean().default(false),
    /** Extra CA certificate (PEM file) to trust for this connector. */
    caFile: z.string().optional(),
  })
  .strict();

/**
 * Slack through the SCIM API and the Web API with a user token of an Org Owner or Admin. `deactivate`:
 * `organization` deactivates the user through SCIM (on Enterprise Grid: across the organization and every
 * workspace) after resetting every session; `workspace` (Enterprise Grid) removes them from `teamId` only.
 */
const slackConnector = z
  .object({
    kind: z.literal('slack'),
    /** The Web API's base URL. */
    apiUrl: z.url().default('https://slack.com/api'),
    /** The SCIM API's base URL (version 2). */
    scimUrl: z.url().default('https://api.slack.com/scim/v2'),
    /** The environment variable holding the token (scopes admin, admin.users:write, users:read, users:read.email). */
    tokenEnv: envName,
    deactivate: z.enum(['organization', 'workspace']).default('organization'),
    /** The workspace (T…) a `workspace` entry removes the user from. */
    teamId: z
      .string()
      .regex(/^[TE][A-Z0-9]{2,}$/, 'must be a Slack workspace id such as T0123ABCD')
      .optional(),
    /** Extra CA certificate (PEM file) to trust for this connector. */
    caFile: z.string().optional(),
  })
  .strict();

/**
 * Google Workspace through the Admin SDK (Directory and Data Transfer APIs) and the Gmail API, as a
 * service account with domain-wide delegation: a JWT bearer grant signed (RS256) with its private key,
 * acting as `adminEmail` for the Admin SDK and as the leaver for their Gmail settings. `scope` says what
 * one entry revokes: `account` (identity tier) first hands the leaver's data to their manager (Drive and
 * Calendar through the Data Transfer API, mail by `mailHandover`), then suspends the user and removes
 * what still gives access; `mfa` (MFA tier) invalidates backup codes, deletes app passwords and turns
 * 2-step verification off only.
 */
const googleConnector = z
  .object({
    kind: z.literal('google'),
    /** The service account's email (the JWT's `iss`), e.g. offboard@project.iam.gserviceaccount.com. */
    serviceAccountEmail: z.email(),
    /** The environment variable holding the service account's private key: PEM, or the whole JSON key file. */
    privateKeyEnv: envName,
    /** The admin the service account acts as for the Admin SDK (the JWT's `sub`). */
    adminEmail: z.email(),
    /** The Workspace account's customer id; `my_customer` is the admin's own account. */
    customerId: z
      .string()
      .regex(/^[A-Za-z0-9_]+$/, 'must be a customer id such as C01abc2de or my_customer')
      .default('my_customer'),
    /** The Admin SDK's base URL (Directory under /admin/directory/v1, Data Transfer under /admin/datatransfer/v1). */
    adminUrl: z.url().default('https://admin.googleapis.com'),
    /** The Gmail API's base URL (under /gmail/v1). */
    gmailUrl: z.url().default('https://gmail.googleapis.com'),
    /** Google's OAuth 2.0 token endpoint, the JWT's audience. */
    tokenUrl: z.url().default('https://oauth2.googleapis.com/token'),
    /** Extra CA certificate (PEM file) to trust for this connector. */
    caFile: z.string().optional(),
    scope: z.enum(['account', 'mfa']).default('account'),
    /**
     * `account`: what the Data Transfer API hands to the manager before suspension: Drive files (private
     * and shared) and Calendar events. `[]` transfers nothing.
     */
    transfer: z.array(z.enum(['drive', 'calendar'])).default(['drive', 'calendar']),
    /**
     * `account`: the leaver's mail before suspension: `delegate` (the manager becomes a Gmail delegate),
     * `forward` (new mail is forwarded to the manager) or `none`.
     */
    mailHandover: z.enum(['delegate', 'forward', 'none']).default('delegate'),
    /** `forward`: what Gmail does with a forwarded message in the leaver's mailbox. */
    forwardDisposition: z.enum(['leaveInInbox', 'archive', 'trash', 'markRead']).default('leaveInInbox'),
    /** How long one attempt waits for a data transfer to complete; still in progress, the step is retried. */
    transferWait: duration.default('10s'),
  })
  .strict();

/**
 * A ticket to the system's owner: the built-in queue (an Offboard ticket and an email), or with `desk`
 * a ticket in the company's service desk (config/desk.ts), closed there to confirm the step.
 */
const ticketConnector = z.object({ kind: z.literal('ticket'), desk: deskSchema.optional() }).strict();

/** A `kind` no connector has: name the kinds there are (zod's own message is "Invalid input"). */
const unknownKind = (kinds: string[]) => (issue: { code: string }) =>
  issue.code === 'invalid_union' ? `must be one of ${kinds.map((k) => `"${k}"`).join(', ')}` : undefined;

const connector = z.discriminatedUnion(
  'kind',
  [
    entraConnector,
    ldapConnector,
    ldapGroupConnector,
    scimConnector,
    keycloakConnector,
    awsIamConnector,
    oktaConnector,
    githubConnector,
    slackConnector,
    googleConnector,
    ticketConnector,
  ],
  {
    error: unknownKind([
      'entra',
      'ldap',
      'ldap-group',
      'scim',
      'keycloak',
      'aws-iam',
      'okta',
      'github',
      'slack',
      'google',
      'ticket',
    ]),
  },
);

export const systemSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes'),
    name: z.string().min(1),
    category: z.enum(['identity', 'productivity', 'business', 'infrastructure', 'hardware']),
    tier: z.enum(REVOCATION_TIERS),
    integration: z.enum(['api', 'ticket', 'manual']),
    /** True when access is federated through the identity provider (SSO). */
    sso: z.boolean(),
    /** Revoked at once during a notice period (the default `notice` of VPN and application tiers). */
    privileged: z.boolean().default(false),
    /**
     * During a notice period: `scope` (reduce to what the person needs to work), `revoke` (at once) or
     * `keep` (until the last day ends). Default per tier: see config/notice.ts.
     */
    notice: z.enum(NOTICE_ACTIONS).optional(),
    owner: person,
    escalationOwner: person,
    /** Hours the owner has to confirm a ticket or manual task. */
    ticketSlaHours: z
      .number()
      .positive()
      .max(24 * 30)
      .optional(),
    timeout: duration.default('30s'),
    retry: z
      .object({
        maximumAttempts: z.number().int().min(1).max(100).default(5),
        initialInterval: duration.default('1s'),
        backoffCoefficient: z.number().min(1).max(10).default(2),
        maximumInterval: duration.default('1m'),
      })
      .strict()
      .default({ maximumAttempts: 5, initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' }),
    /**
     * Most revocations per second this system may receive, however many departures run at once (a mass
     * layoff); enforced by Temporal on the system's own task queue. `maxConcurrent` bounds calls in flight.
     */
    rateLimit: z
      .object({
        revocationsPerSecond: z.number().positive().max(10_000),
        maxConcurrent: z.number().int().min(1).max(1000).default(10),
      })
      .strict()
      .optional(),
    /**
     * Credentials the leaver owns here (app registrations, service accounts): each one found becomes its
     * own step, revoked through the API (`api`) or ticketed to this system's owner (`ticket`).
     */
    ownedCredentials: z
      .object({
        integration: z.enum(['api', 'ticket']),
        ticketSlaHours: z
          .number()
          .positive()
          .max(24 * 30)
          .default(24),
      })
      .strict()
      .optional(),
    /**
     * How the leaver's account is found here: an ordered list of keys (target attribute ← HRIS field)
     * and whether everyone is expected to have an account (then not finding one is red). Defaults per
     * connector kind and tier (config/matching.ts).
     */
    match: matchSchema.optional(),
    /** Accounts and groups automation never touches (break-glass, tenant admins). */
    protected: protectedSchema.optional(),
    connector,
  })
  .strict()
  .superRefine((s, ctx) => {
    const kind = s.connector.kind;
    const searchable = SEARCHABLE[kind];
    if (kind === 'ticket' && (s.match || s.protected))
      ctx.addIssue({
        code: 'custom',
        path: [s.match ? 'match' : 'protected'],
        message: 'a ticket or manual system is matched by its owner, not by keys: remove it',
      });
    s.match?.keys?.forEach((k, i) => {
      if (searchable && searchable !== 'any' && !searchable.includes(k.attribute))
        ctx.addIssue({
          code: 'custom',
          path: ['match', 'keys', i, 'attribute'],
          message: `connector kind "${kind}" cannot search "${k.attribute}" (it can search ${searchable.join(', ')})`,
        });
    });
    if (s.connector.kind === 'keycloak') {
      const c = s.connector;
      if (c.grant === 'password' && !c.username)
        ctx.addIssue({
          code: 'custom',
          path: ['connector', 'username'],
          message: 'is required when grant is "password"',
        });
      if (c.grant === 'client_credentials' && c.username)
        ctx.addIssue({
          code: 'custom',
          path: ['connector', 'username'],
          message: 'is only for grant "password" (a client_credentials token belongs to the client)',
        });
      if (c.grant === 'client_credentials' && !c.clientId)
        ctx.addIssue({
          code: 'custom',
          path: ['connector', 'clientId'],
          message:
            'is required when grant is "client_credentials" (the confidential client with a service account)',
        });
    }
    if (s.connector.kind === 'slack') {
      const c = s.connector;
      if (c.deactivate === 'workspace' && !c.teamId)
        ctx.addIssue({
          code: 'custom',
          path: ['connector', 'teamId'],
          message: 'is required when deactivate is "workspace" (the workspace the user is removed from)',
        });
    }
    if (s.connector.kind === 'ldap' || s.connector.kind === 'ldap-group') {
      const c = s.connector;
      const issue = (field: string, message: string) =>
        ctx.addIssue({ code: 'custom', path: ['connector', field], message });
      if (c.caFile && c.caFileEnv) issue('caFileEnv', 'give the CA file once: caFile or caFileEnv, not both');
      if (c.startTls === true && c.url.startsWith('ldaps://'))
        issue('startTls', 'is for ldap:// URLs (an ldaps:// connection is TLS from the start)');
      if (c.kind === 'ldap' && c.disabledOu && c.disableMethod !== 'ad-useraccountcontrol')
        issue('disabledOu', 'is supported with disableMethod "ad-useraccountcontrol" only');
    }
    if (s.notice === 'scope' && (s.integration !== 'api' || !canScope(s.connector)))
      ctx.addIssue({
        code: 'custom',
        path: ['notice'],
        message: `connector kind "${s.connector.kind}"${'scope' in s.connector ? ` with scope "${String(s.connector.scope)}"` : ''} cannot scope an account during a notice period (${SCOPING_KINDS.join(', ')} with scope "account" can): use "revoke" or "keep"`,
      });
    if (s.ownedCredentials) {
      const c = s.connector;
      const supported =
        (c.kind === 'entra' && c.scope === 'account') ||
        (c.kind === 'ldap' && (!!c.ownedAccountFilter || c.disableMethod === 'ad-useraccountcontrol'));
      if (!supported)
        ctx.addIssue({
          code: 'custom',
          path: ['ownedCredentials'],
          message:
            c.kind === 'ldap'
              ? 'needs connector.ownedAccountFilter to find the accounts the leaver owns'
              : c.kind === 'entra'
                ? 'is supported only with connector.scope "account"'
                : `connector kind "${c.kind}" cannot find owned credentials (use entra or ldap)`,
        });
    }
    if (s.connector.kind === 'ticket' && s.connector.desk && s.integration !== 'ticket')
      ctx.addIssue({
        code: 'custom',
        path: ['connector', 'desk'],
        message: `is for integration "ticket" (a ${s.integration} task stays in the built-in queue)`,
      });
    const wantsTicket = s.integration !== 'api';
    if (wantsTicket && s.connector.kind !== 'ticket')
      ctx.addIssue({
        code: 'custom',
        path: ['connector', 'kind'],
        message: `integration "${s.integration}" needs connector kind "ticket"`,
      });
    if (!wantsTicket && s.connector.kind === 'ticket')
      ctx.addIssue({
        code: 'custom',
        path: ['integration'],
        message: 'connector kind "ticket" needs integration "ticket" or "manual"',
      });
    if (wantsTicket && s.ticketSlaHours === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['ticketSlaHours'],
        message: `is required for integration "${s.integration}"`,
      });
  })
  .transform((s) => ({
    ...s,
    match: resolveMatch(s),
    protected: {
      accounts: s.protected?.accounts ?? [],
      groups: s.protected?.groups ?? [],
    } satisfies ProtectedSettings,
  }));

/** The system's matching settings with the defaults of its connector kind and tier filled in. */
function resolveMatch(s: {
  tier: string;
  match?: { keys?: AnyMatchKey[]; expectAccount?: boolean } | undefined;
  connector: {
    kind: string;
    userFilter?: string;
    userNameFrom?: 'workEmail' | 'employeeId';
    disableMethod?: string;
  };
}): MatchSettings {
  const c = s.connector;
  const keys: AnyMatchKey[] = [
    // An older catalog's LDAP `userFilter` is searched first.
    ...(c.userFilter ? [{ filter: c.userFilter }] : []),
    ...(s.match?.keys ??
      defaultKeys(c.kind, {
        userNameFrom: c.userNameFrom,
        activeDirectory: c.disableMethod === 'ad-useraccountcontrol',
      })),
  ];
  return { keys, expectAccount: s.match?.expectAccount ?? EXPECTED_TIERS.includes(s.tier) };
}

const timeZone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone such as Europe/Berlin or UTC');

/** The company: its time zone (a last day ends at midnight there) and who reviews exceptions. */
const organization = z
  .object({
    timeZone: timeZone.default('UTC'),
    /** HR contact: rescission reviews and verification reports go here. */
    hr: person,
    /** IT contact: rescission reviews and verification reports go here. */
    it: person,
    /** Finance (payroll: final pay inputs) and Benefits (benefits continuation) contacts. */
    finance: person.default({ name: 'Finance', email: 'finance@example.com' }),
    benefits: person.default({ name: 'Benefits', email: 'benefits@example.com' }),
  })
  .strict();

const businessDays = (min: number, max: number, dflt: number) =>
  z.number().int().min(min).max(max).default(dflt);

/** Where assigned assets come from and how their recovery is routed and escalated. */
const assets = z
  .object({
    /** The asset system: the built-in register (Prisma) or Snipe-IT's REST API. */
    system: z.enum(['builtin', 'snipeit']).default('builtin'),
    snipeit: z
      .object({
        /** Snipe-IT base URL, e.g. https://assets.example.com (the API is under /api/v1). */
        baseUrl: z.url(),
        tokenEnv: envName,
        /** Status label id Snipe-IT uses for "return in progress" and for checked-in stock. */
        returnInProgressStatusId: z.number().int().positive(),
        checkedInStatusId: z.number().int().positive(),
      })
      .strict()
      .optional(),
    /** Route of a hybrid worker: in-office appointment (default) or remote return. */
    hybridRoute: z.enum(['in_office', 'remote']).default('in_office'),
    /** Business days an asset has to come back before the IT owner is told (5-10, default 7). */
    returnWindowBusinessDays: businessDays(5, 10, 7),
    /** Further business days before the department head is told and a recovery plan recorded. */
    escalationWindowBusinessDays: businessDays(1, 10, 5),
    /** Public holidays of this country (and optional region) are not business days (ISO codes). */
    holidays: z
      .object({
        country: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code such as DE'),
        region: z.string().optional(),
      })
      .strict()
      .default({ country: 'US' }),
    /** Who is told first when an asset is late. */
    itOwner: person.default({ name: 'IT asset owner', email: 'it-assets@example.com' }),
    /** The IT desk: receives returns, books appointments, handles label requests. */
    itDesk: z
      .object({ name: z.string().min(1), email: z.email(), location: z.string().min(1).default('IT desk') })
      .strict()
      .default({ name: 'IT Desk', email: 'it-desk@example.com', location: 'IT desk' }),
    /** Prepaid shipping labels for remote returns: `builtin` = a label request task for the IT desk. */
    shipping: z
      .object({ provider: z.enum(['builtin']).default('builtin') })
      .strict()
      .default({ provider: 'builtin' }),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.system === 'snipeit' && !a.snipeit)
      ctx.addIssue({ code: 'custom', path: ['snipeit'], message: 'is required when system is "snipeit"' });
  });

/** Compliance documents. */
const documents = z
  .object({
    nda: z
      .object({
        /** E-signature provider: `builtin` serves a signing page from the API. */
        provider: z.enum(['builtin']).default('builtin'),
        /** Hours a signing link stays valid. */
        linkValidHours: z
          .number()
          .int()
          .min(1)
          .max(24 * 30)
          .default(72),
        /** Reminder interval while unsigned. */
        reminderEveryHours: z
          .number()
          .int()
          .min(1)
          .max(24 * 7)
          .default(24),
        /** Unsigned after this many days: the step turns red. */
        deadlineDays: z.number().int().min(1).max(60).default(7),
      })
      .strict()
      .default({ provider: 'builtin', linkValidHours: 72, reminderEveryHours: 24, deadlineDays: 7 }),
    exitSurvey: z
      .object({ linkValidDays: z.number().int().min(1).max(90).default(14) })
      .strict()
      .default({ linkValidDays: 14 }),
  })
  .strict();

/** A data source whose content is archived for a leaver (one archiving step each). */
const dataSource = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes'),
    name: z.string().min(1),
    /** Retention policy the archive is kept under, e.g. "email-7y". */
    retentionPolicy: z.string().min(1),
    /** Where the archive goes (a URI or path prefix; the departure id is appended). */
    archiveLocation: z.string().min(1),
    /** Whether the step also deletes the source data after archiving (never under legal hold). */
    deleteAfterArchive: z.boolean().default(false),
    owner: person,
    connector: z.discriminatedUnion(
      'kind',
      [
        /** Built-in: a manifest of what is archived, confirmed by the owner (no API). */
        z.object({ kind: z.literal('manual') }).strict(),
      ],
      { error: unknownKind(['manual']) },
    ),
  })
  .strict();

/** The verification checkpoint: when the report is compiled and when things escalate. */
const verification = z
  .object({
    /** Hours after the trigger (or the end of a notice period) when the report is compiled. */
    reportAfterHours: z
      .number()
      .min(0)
      .max(24 * 14)
      .default(24),
    /** Hours after the same instant when a red item still unresolved goes to the department head. */
    redEscalationAfterHours: z
      .number()
      .min(0)
      .max(24 * 30)
      .default(48),
    /** Business days HR and IT have to acknowledge the report before reminders and escalation. */
    acknowledgmentBusinessDays: z.number().int().min(1).max(5).default(1),
    /** Hour of the day (company time zone) reminders go out on later business days. */
    reminderHour: z.number().int().min(0).max(23).default(9),
    /** A waiting offboarding continues as new once its history has this many events. */
    continueAsNewAfterEvents: z.number().int().min(100).max(40_000).default(5_000),
  })
  .strict()
  .refine((v) => v.redEscalationAfterHours >= v.reportAfterHours, {
    path: ['redEscalationAfterHours'],
    message: 'must not be earlier than reportAfterHours (the red escalation follows the report)',
  });

export const catalogSchema = z
  .object({
    version: z.literal(1),
    organization,
    assets: assets.default({
      system: 'builtin',
      hybridRoute: 'in_office',
      returnWindowBusinessDays: 7,
      escalationWindowBusinessDays: 5,
      holidays: { country: 'US' },
      itOwner: { name: 'IT asset owner', email: 'it-assets@example.com' },
      itDesk: { name: 'IT Desk', email: 'it-desk@example.com', location: 'IT desk' },
      shipping: { provider: 'builtin' },
    }),
    documents: documents.default({
      nda: { provider: 'builtin', linkValidHours: 72, reminderEveryHours: 24, deadlineDays: 7 },
      exitSurvey: { linkValidDays: 14 },
    }),
    dataSources: z.array(dataSource).default([]),
    verification: verification.default({
      reportAfterHours: 24,
      redEscalationAfterHours: 48,
      acknowledgmentBusinessDays: 1,
      reminderHour: 9,
      continueAsNewAfterEvents: 5_000,
    }),
    /**
     * Shadow IT from the leaver's consents (activities/consents.ts): apps no catalog system covers but
     * that are known and approved (the identity provider's own apps, e.g. "Google Chrome"), by name or
     * app/client id, compared ignoring case, spaces and punctuation. Not listed as uncovered.
     */
    shadowIt: z
      .object({ knownApps: z.array(z.string().min(1)).default([]) })
      .strict()
      .optional(),
    systems: z.array(systemSchema).min(1),
  })
  .strict();

export type CatalogSystem = z.infer<typeof systemSchema>;
export type Catalog = z.infer<typeof catalogSchema>;
export type EntraConnectorConfig = z.infer<typeof entraConnector>;
export type LdapConnectorConfig = z.infer<typeof ldapConnector>;
export type LdapGroupConnectorConfig = z.infer<typeof ldapGroupConnector>;
export type AssetsConfig = z.infer<typeof assets>;
export type DocumentsConfig = z.infer<typeof documents>;
export type DataSource = z.infer<typeof dataSource>;
export type VerificationConfig = z.infer<typeof verification>;
export type ScimConnectorConfig = z.infer<typeof scimConnector>;
export type KeycloakConnectorConfig = z.infer<typeof keycloakConnector>;
export type AwsIamConnectorConfig = z.infer<typeof awsIamConnector>;
export type OktaConnectorConfig = z.infer<typeof oktaConnector>;
export type GithubConnectorConfig = z.infer<typeof githubConnector>;
export type SlackConnectorConfig = z.infer<typeof slackConnector>;
export type GoogleConnectorConfig = z.infer<typeof googleConnector>;
export type TicketConnectorConfig = z.infer<typeof ticketConnector>;

function describeEntry(raw: unknown, index: number, list = 'systems'): string {
  const id =
    raw && typeof raw === 'object' && 'id' in raw && typeof (raw as { id: unknown }).id === 'string'
      ? ` (id "${(raw as { id: string }).id}")`
      : '';
  return `${list}[${index}]${id}`;
}

/** A zod issue's message, where zod's own would mislead ("expected number, received number"). */
function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && issue.expected === 'number' && 'received' in issue) {
    const received = (issue as { received?: unknown }).received;
    if (received === 'Infinity' || received === '-Infinity') return 'must be a finite number';
  }
  return issue.message;
}

/**
 * Parses and validates catalog text. Errors name the file, the entry and the field, and a secret an
 * entry refers to must be present in `env`.
 */
export function parseCatalog(
  text: string,
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  opts: CatalogOptions = {},
): Catalog {
  const requireSecrets = opts.requireSecrets ?? true;
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, merge: true });
  if (doc.errors.length > 0) {
    throw new AppError('catalog_invalid', `${file}: not valid YAML: ${doc.errors[0]!.message}`);
  }
  let raw: unknown;
  try {
    // Aliases are resolved here: an unknown anchor, a merge of a non-map, or an alias bomb throw.
    raw = doc.toJS();
  } catch (e) {
    throw new AppError('catalog_invalid', `${file}: not valid YAML: ${(e as Error).message}`);
  }
  const r = catalogSchema.safeParse(raw);
  const problems: string[] = [];
  if (!r.success) {
    const listOf = (key: string) =>
      raw && typeof raw === 'object' && Array.isArray((raw as Record<string, unknown>)[key])
        ? ((raw as Record<string, unknown>)[key] as unknown[])
        : [];
    for (const issue of r.error.issues) {
      const [head, idx, ...rest] = issue.path;
      const message = issueMessage(issue);
      if ((head === 'systems' || head === 'dataSources') && typeof idx === 'number') {
        const field = rest.join('.') || '(entry)';
        problems.push(`${describeEntry(listOf(head)[idx], idx, head)}, field "${field}": ${message}`);
      } else {
        problems.push(`field "${issue.path.join('.') || '(root)'}": ${message}`);
      }
    }
  } else {
    const sn = r.data.assets.snipeit;
    if (requireSecrets && r.data.assets.system === 'snipeit' && sn && !env[sn.tokenEnv])
      problems.push(`field "assets.snipeit.tokenEnv": environment variable ${sn.tokenEnv} is not set`);
    const seen = new Map<string, number>();
    r.data.systems.forEach((s, i) => {
      const prev = seen.get(s.id);
      if (prev !== undefined)
        problems.push(`${describeEntry(s, i)}, field "id": duplicates systems[${prev}]; ids must be unique`);
      seen.set(s.id, i);
      const c = s.connector;
      const secretField =
        c.kind === 'entra'
          ? ['clientSecretEnv', c.clientSecretEnv]
          : c.kind === 'ldap' || c.kind === 'ldap-group'
            ? ['bindPasswordEnv', c.bindPasswordEnv]
            : c.kind === 'scim'
              ? ['tokenEnv', c.tokenEnv]
              : c.kind === 'keycloak'
                ? ['secretEnv', c.secretEnv]
                : c.kind === 'okta' || c.kind === 'github' || c.kind === 'slack'
                  ? ['tokenEnv', c.tokenEnv]
                  : c.kind === 'google'
                    ? ['privateKeyEnv', c.privateKeyEnv]
                    : null;
      if (requireSecrets && secretField && !env[secretField[1]!])
        problems.push(
          `${describeEntry(s, i)}, field "connector.${secretField[0]}": environment variable ${secretField[1]} is not set`,
        );
      if (requireSecrets && c.kind === 'ticket' && c.desk)
        for (const [field, name] of deskSecrets(c.desk))
          if (!env[name])
            problems.push(
              `${describeEntry(s, i)}, field "connector.desk.${field}": environment variable ${name} is not set`,
            );
      if (requireSecrets && c.kind === 'aws-iam')
        for (const [field, name] of [
          ['accessKeyIdEnv', c.accessKeyIdEnv],
          ['secretAccessKeyEnv', c.secretAccessKeyEnv],
          ['sessionTokenEnv', c.sessionTokenEnv],
        ] as const)
          if (name && !env[name])
            problems.push(
              `${describeEntry(s, i)}, field "connector.${field}": environment variable ${name} is not set`,
            );
      if (
        requireSecrets &&
        (c.kind === 'ldap' || c.kind === 'ldap-group') &&
        c.caFileEnv &&
        !env[c.caFileEnv]
      )
        problems.push(
          `${describeEntry(s, i)}, field "connector.caFileEnv": environment variable ${c.caFileEnv} is not set`,
        );
    });
  }
  if (problems.length > 0) {
    throw new AppError('catalog_invalid', `${file}: invalid catalog:\n  ${problems.join('\n  ')}`, {
      problems,
    });
  }
  return r.data!;
}

/**
 * `requireSecrets` (default true): each secret an entry names must be set in the environment. The API
 * reads the catalog for its systems and protected accounts only and holds no connector secret.
 */
export interface CatalogOptions {
  requireSecrets?: boolean;
}

/** Reads and validates the catalog file. */
export function loadCatalog(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  opts: CatalogOptions = {},
): Catalog {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new AppError('catalog_invalid', `${file}: cannot read catalog: ${(e as Error).message}`);
  }
  return parseCatalog(text, file, env, opts);
}
