/**
 * Microsoft Entra ID through Microsoft Graph v1.0. One catalog entry revokes one `scope`:
 *
 * - `account` (identity tier, action `disable_account_revoke_sessions_groups_licences`): disable the
 *   account, revoke its sign-in sessions, remove every assigned group membership (dynamic groups follow
 *   their rule and are reported, never touched) and every directly assigned licence (group-based ones
 *   are reported; they leave with the group), and revoke every third-party app the user consented to or
 *   is assigned to (entra-consents.ts; the evidence's `consents`). Learns the manager when the HRIS did
 *   not send one. Owned app registrations are found and their client secrets and certificates removed
 *   (`ownedCredentials`).
 * - `authentication-methods` (MFA tier, action `remove_authentication_methods`): delete every registered
 *   method by its own endpoint; the password method is not deletable and stays.
 *
 * Every step reads the target back to confirm, and a repeat on an already-revoked user changes nothing.
 * Temporal owns retries: the Graph SDK's own RetryHandler is left out of the middleware chain, and a
 * 429/503 with `Retry-After` on any call (paging included) becomes the activity's next retry delay.
 */
import { readFileSync } from 'node:fs';
import {
  AuthenticationHandler,
  Client,
  GraphError,
  type AuthenticationProvider,
  type Context as GraphContext,
  type Middleware,
} from '@microsoft/microsoft-graph-client';
import { request, type Agent, type Dispatcher } from 'undici';
import type { EntraConnectorConfig } from '../config/catalog';
import { CALL_TIMEOUT_MS, connectorAgent } from '../lib/http';
import type { OwnedCredential, RevocationConnector, RevokeResult, Subject, TargetAccount } from './connector';
import { createEntraConsents } from './entra-consents';
import { createEntraScope } from './entra-scope';
import { createMatcher, type KeyQuery, type MatchContext } from './matching';
import {
  ConfirmationMismatchError,
  TargetAuthError,
  TargetRejectedError,
  TargetUnavailableError,
  errorForStatus,
} from './errors';

interface GraphUser {
  id: string;
  userPrincipalName?: string;
  displayName?: string | null;
  mail?: string | null;
  employeeId?: string | null;
  proxyAddresses?: string[];
  otherMails?: string[];
  accountEnabled?: boolean;
  signInSessionsValidFromDateTime?: string | null;
  assignedLicenses?: { skuId: string }[];
  licenseAssignmentStates?: { skuId: string; assignedByGroup: string | null; state?: string }[];
}

interface GraphGroup {
  id: string;
  displayName?: string | null;
  groupTypes?: string[];
  membershipRule?: string | null;
}

interface GraphAuthMethod {
  '@odata.type': string;
  id: string;
  phoneType?: string;
  displayName?: string | null;
}

interface GraphApplication {
  id: string;
  appId?: string;
  displayName?: string | null;
  passwordCredentials?: { keyId: string; displayName?: string | null }[];
  keyCredentials?: { keyId: string; displayName?: string | null }[];
}

interface Page<T> {
  value: T[];
  '@odata.nextLink'?: string;
}

export const ACCOUNT_ACTION = 'disable_account_revoke_sessions_groups_licences';
export const METHODS_ACTION = 'remove_authentication_methods';

const PASSWORD_TYPE = '#microsoft.graph.passwordAuthenticationMethod';

/**
 * Removable method types: their endpoint under /users/{id}/authentication, in the order they are
 * deleted (phones last, the alternate mobile before the mobile, as Graph requires).
 */
const METHOD_ENDPOINTS: [odataType: string, segment: string, label: string][] = [
  [
    '#microsoft.graph.temporaryAccessPassAuthenticationMethod',
    'temporaryAccessPassMethods',
    'temporary access pass',
  ],
  ['#microsoft.graph.emailAuthenticationMethod', 'emailMethods', 'email'],
  ['#microsoft.graph.softwareOathAuthenticationMethod', 'softwareOathMethods', 'software OATH token'],
  ['#microsoft.graph.fido2AuthenticationMethod', 'fido2Methods', 'FIDO2 security key'],
  [
    '#microsoft.graph.windowsHelloForBusinessAuthenticationMethod',
    'windowsHelloForBusinessMethods',
    'Windows Hello for Business',
  ],
  [
    '#microsoft.graph.microsoftAuthenticatorAuthenticationMethod',
    'microsoftAuthenticatorMethods',
    'Microsoft Authenticator',
  ],
  ['#microsoft.graph.phoneAuthenticationMethod', 'phoneMethods', 'phone'],
];
const ENDPOINT = new Map(
  METHOD_ENDPOINTS.map(([t, segment, label], order) => [t, { segment, label, order }]),
);
const PHONE_ORDER: Record<string, number> = { alternateMobile: 0, office: 1, mobile: 2 };

/** Most pages followed for one collection (a guard against a target that never stops paging). */
const MAX_PAGES = 1000;

/**
 * OAuth 2.0 client-credentials token provider with caching (the secret never leaves this closure).
 * The Graph SDK wraps whatever the provider throws into a status-less GraphError; `lastError` keeps the
 * original so the connector can surface it (a refused secret is a TargetAuthError, not an outage).
 */
function clientCredentials(
  cfg: EntraConnectorConfig,
  secret: string,
  dispatcher?: Agent,
): AuthenticationProvider & { lastError: Error | null } {
  let cached: { token: string; expiresAt: number } | null = null;
  const tokenUrl = `${cfg.authorityUrl.replace(/\/$/, '')}/${encodeURIComponent(cfg.tenantId)}/oauth2/v2.0/token`;
  const scope = `${new URL(cfg.graphBaseUrl).origin}/.default`;
  const provider = {
    lastError: null as Error | null,
    async getAccessToken() {
      if (cached && cached.expiresAt > Date.now() + 60_000) return cached.token;
      try {
        return await fetchToken();
      } catch (e) {
        provider.lastError = e as Error;
        throw e;
      }
    },
  };
  async function fetchToken(): Promise<string> {
    let res: Response;
    try {
      res = await fetch(tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: cfg.clientId,
          client_secret: secret,
          scope,
        }),
        signal: AbortSignal.timeout(10_000),
        ...(dispatcher ? { dispatcher } : {}),
      } as RequestInit);
    } catch (e) {
      throw new TargetUnavailableError(`token endpoint unreachable: ${(e as Error).message}`);
    }
    const body = (await res.json().catch(() => ({}))) as {
      access_token?: string;
      expires_in?: number;
      error?: string;
      error_description?: string;
    };
    if (!res.ok || !body.access_token) {
      const msg = `token request refused (${res.status}): ${body.error ?? 'unknown'}`;
      if (res.status === 400 || res.status === 401) throw new TargetAuthError(msg);
      throw errorForStatus(res.status, msg, res.headers.get('retry-after'));
    }
    cached = { token: body.access_token, expiresAt: Date.now() + (body.expires_in ?? 3600) * 1000 };
    return cached.token;
  }
  return provider;
}

function sessionsValidFrom(u: GraphUser): number {
  return u.signInSessionsValidFromDateTime ? Date.parse(u.signInSessionsValidFromDateTime) : 0;
}

function isNotFound(e: unknown): boolean {
  return e instanceof GraphError && e.statusCode === 404;
}

const isDynamic = (g: GraphGroup) => (g.groupTypes ?? []).includes('DynamicMembership');
const groupName = (g: GraphGroup) => g.displayName ?? g.id;

function methodLabel(m: GraphAuthMethod): string {
  const e = ENDPOINT.get(m['@odata.type']);
  const what = e?.label ?? m['@odata.type'];
  return m.phoneType ? `${what} (${m.phoneType})` : what;
}

/**
 * The last link of the SDK's middleware chain, in place of its `HTTPMessageHandler` (a `fetch`):
 * sends the request with undici's `request` on the connector's keep-alive pool (`connectorAgent`)
 * and hands the SDK the answer as a `Response`, which it parses as before. Same wire traffic.
 */
class UndiciHttpHandler implements Middleware {
  constructor(private readonly dispatcher: Dispatcher) {}

  async execute(context: GraphContext): Promise<void> {
    const url = typeof context.request === 'string' ? context.request : context.request.url;
    const o = context.options ?? {};
    const res = await request(url, {
      method: (o.method ?? 'GET') as Dispatcher.HttpMethod,
      headers: plainHeaders(o.headers),
      body: o.body as string | Buffer | undefined,
      dispatcher: this.dispatcher,
      headersTimeout: CALL_TIMEOUT_MS,
      bodyTimeout: CALL_TIMEOUT_MS,
    });
    const body = await res.body.text();
    const headers = new Headers();
    for (const [k, v] of Object.entries(res.headers))
      for (const x of Array.isArray(v) ? v : v === undefined ? [] : [v]) headers.append(k, x);
    const empty = res.statusCode === 204 || res.statusCode === 304;
    context.response = new Response(empty ? null : body, { status: res.statusCode, headers });
  }
}

/** The SDK's request headers (a plain object, a `Headers` or pairs) as a plain object. */
function plainHeaders(h: ConstructorParameters<typeof Headers>[0]): Record<string, string> {
  if (!h) return {};
  if (h instanceof Headers) return Object.fromEntries(h.entries());
  if (Array.isArray(h)) return Object.fromEntries(h as [string, string][]);
  return h as Record<string, string>;
}

const credentialLabel = (c: { keyId: string; displayName?: string | null }) =>
  c.displayName ? `"${c.displayName}" (${c.keyId})` : c.keyId;

/** An Entra user as matching found it (with the fields the revocation reads first). */
export interface EntraAccount extends TargetAccount {
  user: GraphUser;
}

export type EntraConnector = RevocationConnector<EntraAccount>;

const lower = (v: string | null | undefined) => (v ?? '').toLowerCase();

/** Does `u` carry the key's value? (Graph compares these properties without regard to case.) */
function carries(u: GraphUser, q: KeyQuery): boolean {
  if ('filter' in q.key) return false;
  const v = q.value.toLowerCase();
  switch (q.key.attribute) {
    case 'employeeId':
      return lower(u.employeeId) === v;
    case 'userPrincipalName':
      return lower(u.userPrincipalName) === v;
    case 'mail':
      return lower(u.mail) === v;
    case 'proxyAddresses':
      return (u.proxyAddresses ?? []).some((p) => p.toLowerCase() === `smtp:${v}`);
    case 'otherMails':
      return (u.otherMails ?? []).some((m) => m.toLowerCase() === v);
    default:
      return false;
  }
}

/** One key as an OData clause (string literals quote `'` by doubling it). */
function clause(q: KeyQuery): string {
  const lit = `'${q.value.replaceAll("'", "''")}'`;
  if ('filter' in q.key) throw new TargetRejectedError('an Entra key cannot be an LDAP filter');
  switch (q.key.attribute) {
    case 'proxyAddresses':
      return `proxyAddresses/any(p:p eq 'smtp:${q.value.replaceAll("'", "''")}')`;
    case 'otherMails':
      return `otherMails/any(o:o eq ${lit})`;
    default:
      return `${q.key.attribute} eq ${lit}`;
  }
}

const accountOf = (u: GraphUser): EntraAccount => ({
  id: u.id,
  name: u.displayName
    ? `${u.displayName} <${u.userPrincipalName ?? u.mail ?? ''}>`
    : (u.userPrincipalName ?? u.id),
  aliases: [u.userPrincipalName, u.mail].filter((x): x is string => !!x),
  user: u,
});

/** Creates the Entra connector for one catalog entry; `match` says how the leaver's account is found. */
export function createEntraConnector(
  cfg: EntraConnectorConfig,
  secret: string,
  match: MatchContext,
): EntraConnector {
  const dispatcher = connectorAgent(cfg.caFile ? readFileSync(cfg.caFile, 'utf8') : undefined);
  const tokens = clientCredentials(cfg, secret, dispatcher);
  const auth = new AuthenticationHandler(tokens);
  auth.setNext(new UndiciHttpHandler(dispatcher));
  const client = Client.initWithMiddleware({
    middleware: auth,
    baseUrl: cfg.graphBaseUrl.replace(/\/$/, '') + '/',
    defaultVersion: 'v1.0',
    customHosts: new Set([new URL(cfg.graphBaseUrl).hostname]),
  });

  function mapGraphError(e: unknown, what: string): Error {
    if (e instanceof GraphError) {
      // The token provider's own error, wrapped by the SDK: surface the original.
      if (e.statusCode === -1 && tokens.lastError && e.message === tokens.lastError.message)
        return tokens.lastError;
      const retryAfter =
        e.headers && typeof (e.headers as Headers).get === 'function'
          ? (e.headers as Headers).get('retry-after')
          : null;
      if (e.statusCode === -1 || e.statusCode === 0 || e.statusCode === undefined)
        return new TargetUnavailableError(`${what}: ${e.message}`);
      return errorForStatus(
        e.statusCode,
        `${what}: Graph ${e.statusCode} ${e.code ?? ''} ${e.message}`,
        retryAfter,
      );
    }
    if (
      e instanceof Error &&
      /fetch failed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|aborted|timeout/i.test(e.message)
    )
      return new TargetUnavailableError(`${what}: ${e.message}`);
    return e instanceof Error ? e : new Error(String(e));
  }

  /** Runs one Graph call; every failure leaves as a domain error (throttling keeps its Retry-After). */
  async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    tokens.lastError = null;
    try {
      return await fn();
    } catch (e) {
      throw mapGraphError(e, what);
    }
  }

  /** Like `call`, but a 404 answers null (the object is not, or no longer, there). */
  async function callOr404<T>(what: string, fn: () => Promise<T>): Promise<T | null> {
    tokens.lastError = null;
    try {
      return await fn();
    } catch (e) {
      if (isNotFound(e)) return null;
      throw mapGraphError(e, what);
    }
  }

  /** Every item of a collection, following `@odata.nextLink`; each page is one mapped call. */
  async function listAll<T>(what: string, path: string, select?: string): Promise<T[]> {
    const out: T[] = [];
    let page = await call(what, () => {
      const req = client.api(path);
      return (select ? req.select(select) : req).get() as Promise<Page<T>>;
    });
    out.push(...page.value);
    for (let n = 1; page['@odata.nextLink']; n++) {
      if (n >= MAX_PAGES) throw new TargetRejectedError(`${what}: more than ${MAX_PAGES} pages`);
      const next = page['@odata.nextLink'];
      page = await call(`${what} (page ${n + 1})`, () => client.api(next).get() as Promise<Page<T>>);
      out.push(...page.value);
    }
    return out;
  }

  const userSelect =
    'id,userPrincipalName,displayName,mail,employeeId,proxyAddresses,otherMails,accountEnabled,' +
    'signInSessionsValidFromDateTime,assignedLicenses,licenseAssignmentStates';

  /**
   * Every key in one advanced query (`$filter` of the keys joined by `or`, with `ConsistencyLevel:
   * eventual` and `$count`), then sorted per key here: Graph says which users match the filter, not
   * which clause each matched, and a user that carries none of the values is no match at all.
   */
  async function searchUsers(queries: KeyQuery[]): Promise<EntraAccount[][]> {
    const page = (await call('GET users by matching keys', () =>
      client
        .api('/users')
        .header('ConsistencyLevel', 'eventual')
        .count(true)
        .filter(encodeURIComponent(queries.map(clause).join(' or ')))
        .select(userSelect)
        .top(25)
        .get(),
    )) as Page<GraphUser>;
    return queries.map((q) => page.value.filter((u) => carries(u, q)).map(accountOf));
  }

  function getUser(idOrUpn: string): Promise<GraphUser | null> {
    return callOr404('GET user', () =>
      client
        .api(`/users/${encodeURIComponent(idOrUpn)}`)
        .select(userSelect)
        .get(),
    ) as Promise<GraphUser | null>;
  }

  const listGroups = (userId: string) =>
    listAll<GraphGroup>(
      'GET memberOf',
      `/users/${userId}/memberOf/microsoft.graph.group`,
      'id,displayName,groupTypes,membershipRule',
    );

  const listMethods = (userId: string) =>
    listAll<GraphAuthMethod>('GET authentication methods', `/users/${userId}/authentication/methods`);

  /** SKUs assigned to the user directly (not through a group). */
  function directLicences(u: GraphUser): string[] {
    const states = u.licenseAssignmentStates;
    if (!states) return (u.assignedLicenses ?? []).map((l) => l.skuId);
    return [...new Set(states.filter((s) => s.assignedByGroup === null).map((s) => s.skuId))];
  }

  /** Group-based licences, with the group that gives each. */
  function groupLicences(u: GraphUser): { skuId: string; groupId: string }[] {
    return (u.licenseAssignmentStates ?? [])
      .filter((s) => s.assignedByGroup !== null)
      .map((s) => ({ skuId: s.skuId, groupId: s.assignedByGroup! }));
  }

  async function findManager(userId: string): Promise<string | null> {
    const m = (await callOr404('GET manager', () =>
      client.api(`/users/${userId}/manager`).select('id,mail,userPrincipalName').get(),
    )) as { mail?: string | null; userPrincipalName?: string | null } | null;
    return m?.mail || m?.userPrincipalName || null;
  }

  async function revokeAccount(subject: Subject, account: EntraAccount): Promise<RevokeResult> {
    const before = account.user;
    const changes: string[] = [];
    if (before.accountEnabled !== false) {
      await call('PATCH accountEnabled=false', () =>
        client.api(`/users/${before.id}`).patch({ accountEnabled: false }),
      );
      changes.push('accountEnabled=false');
    }
    // Sessions must be valid only from after the termination was confirmed. A repeat of this step
    // (after a crash) finds that already true and does not revoke again.
    // (Bounded by now minus a minute, in case the HRIS clock runs ahead of Entra's.)
    const terminatedAt = Math.min(Date.parse(subject.confirmedAt), Date.now() - 60_000);
    if (sessionsValidFrom(before) < terminatedAt || changes.length > 0) {
      await call('POST revokeSignInSessions', () =>
        client.api(`/users/${before.id}/revokeSignInSessions`).post({}),
      );
      changes.push('revokeSignInSessions');
    }

    // Group memberships: assigned ones are removed; dynamic ones follow their rule and are reported.
    const groups = await listGroups(before.id);
    for (const g of groups.filter((x) => !isDynamic(x))) {
      const removed = await callOr404(`DELETE member of group ${groupName(g)}`, () =>
        client.api(`/groups/${g.id}/members/${before.id}/$ref`).delete(),
      );
      // A 404 means the membership is already gone (a repeat after a crash): nothing changed.
      if (removed !== null) changes.push(`removed from group ${groupName(g)}`);
    }

    // Licences: direct ones are removed; group-based ones cannot be, and leave with the group.
    const direct = directLicences(before);
    if (direct.length > 0) {
      try {
        await call('POST assignLicense', () =>
          client.api(`/users/${before.id}/assignLicense`).post({ addLicenses: [], removeLicenses: direct }),
        );
        changes.push(...direct.map((sku) => `removed licence ${sku}`));
      } catch (e) {
        // Refused because (part of) it is already gone, e.g. a repeat after a crash? Reading back decides.
        if (!(e instanceof TargetRejectedError)) throw e;
        const now = await getUser(before.id);
        if (now && directLicences(now).length > 0) throw e;
      }
    }

    // Third-party apps the leaver authorised: revoked now, read back with the rest below.
    const { consents } = await consentApi.revoke(before.id, changes);

    const facts: RevokeResult['facts'] = {};
    if (subject.managerEmail === null) {
      const managerEmail = await findManager(before.id);
      if (managerEmail) facts.managerEmail = managerEmail;
    }

    // ---- Confirmation: read everything back.
    const after = await getUser(before.id);
    if (!after) {
      return {
        changes,
        confirmation: { id: before.id, exists: false, consents },
        detail: 'account removed during revocation',
        ...(facts.managerEmail ? { facts } : {}),
      };
    }
    if (after.accountEnabled !== false)
      throw new ConfirmationMismatchError(
        `Entra still reports accountEnabled=${String(after.accountEnabled)}`,
      );
    if (sessionsValidFrom(after) < terminatedAt)
      throw new ConfirmationMismatchError(
        `Entra sign-in sessions are still valid from ${after.signInSessionsValidFromDateTime ?? 'ever'}, before the termination`,
      );
    const remaining = await listGroups(after.id);
    const assigned = remaining.filter((g) => !isDynamic(g));
    if (assigned.length > 0)
      throw new ConfirmationMismatchError(
        `Entra still lists membership of ${assigned.map(groupName).join(', ')}`,
      );
    const stillDirect = directLicences(after);
    if (stillDirect.length > 0)
      throw new ConfirmationMismatchError(
        `Entra still lists directly assigned licences ${stillDirect.join(', ')}`,
      );
    const { viaGroups } = await consentApi.confirmGone(after.id);
    const dynamic = remaining.filter(isDynamic);
    const dynamicIds = new Set(dynamic.map((g) => g.id));
    const inherited = groupLicences(after);
    // Group-based licences of groups the user has left disappear with the membership (Graph processes
    // group licensing in the background): until they have, the step is not confirmed.
    const lingering = inherited.filter((l) => !dynamicIds.has(l.groupId));
    if (lingering.length > 0)
      throw new ConfirmationMismatchError(
        `Entra still lists group-based licences ${lingering.map((l) => `${l.skuId} (group ${l.groupId})`).join(', ')} of groups the user has left`,
      );
    // Reported for the evidence: group-based licences that left together with a removed membership.
    const leftWithGroups = groupLicences(before).filter((l) => !dynamicIds.has(l.groupId));
    const viaDynamic = inherited.map((l) => ({
      skuId: l.skuId,
      group: groupName(dynamic.find((g) => g.id === l.groupId)!),
    }));

    const removedGroups = changes.filter((c) => c.startsWith('removed from group ')).length;
    const removedLicences = changes.filter((c) => c.startsWith('removed licence ')).length;
    const parts = [
      `account disabled, sessions valid only from ${after.signInSessionsValidFromDateTime ?? 'n/a'}`,
      `member of no assigned group${removedGroups ? ` (removed from ${removedGroups})` : ''}`,
      `no direct licence${removedLicences ? ` (removed ${removedLicences})` : ''}`,
      `no third-party consent${consents.length ? ` (revoked ${consents.length})` : ''}`,
    ];
    if (leftWithGroups.length > 0)
      parts.push(
        `group-based licences gone with their groups: ${leftWithGroups.map((l) => l.skuId).join(', ')}`,
      );
    if (dynamic.length > 0)
      parts.push(
        `still in dynamic group${dynamic.length > 1 ? 's' : ''} ${dynamic.map(groupName).join(', ')} (membership follows the rule, not changed)`,
      );
    if (viaDynamic.length > 0)
      parts.push(
        `group-based licences left with dynamic groups: ${viaDynamic.map((l) => `${l.skuId} via ${l.group}`).join(', ')}`,
      );
    return {
      changes,
      confirmation: {
        id: after.id,
        accountEnabled: after.accountEnabled,
        signInSessionsValidFromDateTime: after.signInSessionsValidFromDateTime ?? null,
        assignedGroups: 0,
        dynamicGroups: dynamic.map((g) => ({
          id: g.id,
          displayName: g.displayName ?? null,
          membershipRule: g.membershipRule ?? null,
        })),
        directLicences: 0,
        groupBasedLicences: viaDynamic,
        groupBasedLicencesRemovedWithGroups: leftWithGroups,
        consents,
        appRoleAssignmentsViaGroups: viaGroups,
      },
      detail: parts.join('; '),
      ...(facts.managerEmail ? { facts } : {}),
    };
  }

  async function revokeMethods(_subject: Subject, account: EntraAccount): Promise<RevokeResult> {
    const user = account.user;
    const methods = await listMethods(user.id);
    const unknown = methods.filter(
      (m) => m['@odata.type'] !== PASSWORD_TYPE && !ENDPOINT.has(m['@odata.type']),
    );
    const removable = methods
      .filter((m) => ENDPOINT.has(m['@odata.type']))
      .sort(
        (a, b) =>
          ENDPOINT.get(a['@odata.type'])!.order - ENDPOINT.get(b['@odata.type'])!.order ||
          (PHONE_ORDER[a.phoneType ?? ''] ?? 9) - (PHONE_ORDER[b.phoneType ?? ''] ?? 9),
      );
    const changes: string[] = [];
    const del = async (m: GraphAuthMethod): Promise<void> => {
      const segment = ENDPOINT.get(m['@odata.type'])!.segment;
      const done = await callOr404(`DELETE ${methodLabel(m)} method`, () =>
        client.api(`/users/${user.id}/authentication/${segment}/${encodeURIComponent(m.id)}`).delete(),
      );
      // 404: already deleted (a repeat after a crash).
      if (done !== null) changes.push(`removed ${methodLabel(m)} method ${m.id}`);
    };
    // Graph refuses to delete the user's default MFA method while other methods remain: a refused
    // method waits until the others are gone, then is tried once more. Anything else fails at once.
    const refused: GraphAuthMethod[] = [];
    for (const m of removable) {
      try {
        await del(m);
      } catch (e) {
        if (!(e instanceof TargetRejectedError)) throw e;
        refused.push(m);
      }
    }
    const stillRefused: { m: GraphAuthMethod; e: TargetRejectedError }[] = [];
    for (const m of refused) {
      try {
        await del(m);
      } catch (e) {
        if (!(e instanceof TargetRejectedError)) throw e;
        stillRefused.push({ m, e });
      }
    }
    if (unknown.length > 0)
      throw new TargetRejectedError(
        `Entra lists authentication method type(s) Offboard cannot remove: ${unknown.map((m) => `${m['@odata.type']} (id ${m.id})`).join(', ')}; ` +
          `remove them in the Entra admin center (Users > Authentication methods)` +
          (changes.length ? `; the other ${changes.length} method(s) were removed` : ''),
      );
    if (stillRefused.length > 0)
      throw new TargetRejectedError(
        `Entra refuses to delete ${stillRefused.map(({ m, e }) => `the ${methodLabel(m)} method (${e.message})`).join('; ')}. ` +
          `Graph documents that a user's default MFA method cannot be deleted: change the user's default ` +
          `sign-in method (or require re-registration of MFA) in the Entra admin center, then retry this step`,
      );

    // ---- Confirmation: only the password method may remain.
    const after = await listMethods(user.id);
    const left = after.filter((m) => m['@odata.type'] !== PASSWORD_TYPE);
    if (left.length > 0)
      throw new ConfirmationMismatchError(
        `Entra still lists authentication methods: ${left.map(methodLabel).join(', ')}`,
      );
    const password = after.some((m) => m['@odata.type'] === PASSWORD_TYPE);
    return {
      changes,
      confirmation: { id: user.id, remainingMethods: password ? ['password'] : [], removed: changes.length },
      detail:
        `${changes.length ? `${changes.length} authentication method(s) removed` : 'no authentication method to remove'}; ` +
        (password
          ? 'only the password method remains (Graph cannot delete it; the account is disabled at the identity step)'
          : 'no method remains'),
    };
  }

  async function discoverOwned(_subject: Subject, account: EntraAccount | null): Promise<OwnedCredential[]> {
    if (!account) return [];
    const user = account.user;
    const apps = await listAll<GraphApplication>(
      'GET ownedObjects',
      `/users/${user.id}/ownedObjects/microsoft.graph.application`,
      'id,appId,displayName,passwordCredentials,keyCredentials',
    );
    return apps.map((a) => ({
      id: a.id,
      kind: 'Entra app registration',
      name: `${a.displayName ?? '(no name)'} (appId ${a.appId ?? 'unknown'})`,
    }));
  }

  const appSelect = 'id,appId,displayName,passwordCredentials,keyCredentials';
  const getApp = (id: string) =>
    callOr404('GET application', () =>
      client
        .api(`/applications/${encodeURIComponent(id)}`)
        .select(appSelect)
        .get(),
    ) as Promise<GraphApplication | null>;

  async function revokeOwned(_subject: Subject, item: OwnedCredential): Promise<RevokeResult> {
    const app = await getApp(item.id);
    if (!app) {
      return {
        changes: [],
        confirmation: { id: item.id, exists: false },
        detail: 'the app registration no longer exists (confirmed by lookup)',
      };
    }
    const changes: string[] = [];
    for (const p of app.passwordCredentials ?? []) {
      const done = await callOr404(`POST removePassword ${p.keyId}`, () =>
        client.api(`/applications/${app.id}/removePassword`).post({ keyId: p.keyId }),
      );
      // 404: that secret is already gone.
      if (done !== null) changes.push(`removed client secret ${credentialLabel(p)}`);
    }
    const certs = app.keyCredentials ?? [];
    if (certs.length > 0) {
      await call('PATCH application keyCredentials', () =>
        client.api(`/applications/${app.id}`).patch({ keyCredentials: [] }),
      );
      changes.push(...certs.map((k) => `removed certificate ${credentialLabel(k)}`));
    }
    const after = await getApp(app.id);
    if (!after)
      return {
        changes,
        confirmation: { id: app.id, exists: false },
        detail: 'the app registration was deleted meanwhile',
      };
    const secretsLeft = after.passwordCredentials ?? [];
    const certsLeft = after.keyCredentials ?? [];
    if (secretsLeft.length > 0 || certsLeft.length > 0)
      throw new ConfirmationMismatchError(
        `app registration ${after.displayName ?? after.id} still has ${secretsLeft.length} client secret(s) and ${certsLeft.length} certificate(s)`,
      );
    return {
      changes,
      confirmation: { id: after.id, appId: after.appId ?? null, passwordCredentials: 0, keyCredentials: 0 },
      detail: `no client secret or certificate left on ${after.displayName ?? after.id}${changes.length ? ` (removed ${changes.length})` : ''}`,
    };
  }

  /** What still gives access through the user: an enabled account, or (MFA scope) removable methods. */
  async function liveAccess(a: EntraAccount): Promise<string | null> {
    if (cfg.scope === 'account') return a.user.accountEnabled !== false ? 'accountEnabled=true' : null;
    const left = (await listMethods(a.id)).filter((m) => m['@odata.type'] !== PASSWORD_TYPE);
    return left.length > 0
      ? `${left.length} authentication method(s) registered: ${left.map(methodLabel).join(', ')}`
      : null;
  }

  /** An owned app registration that still has a client secret or a certificate. */
  async function auditOwned(item: OwnedCredential): Promise<string | null> {
    const app = await getApp(item.id);
    const secrets = app?.passwordCredentials?.length ?? 0;
    const certs = app?.keyCredentials?.length ?? 0;
    return secrets + certs > 0
      ? `app registration ${item.name} has ${secrets} client secret(s) and ${certs} certificate(s)`
      : null;
  }

  const matcher = createMatcher<EntraAccount>(
    {
      async lookup(id) {
        const u = await getUser(id);
        return u ? accountOf(u) : null;
      },
      search: searchUsers,
      async groupsOf(a) {
        return (await listGroups(a.id)).flatMap((g) => [g.id, g.displayName ?? '']).filter(Boolean);
      },
      liveAccess,
    },
    match,
  );

  const accountScope = cfg.scope === 'account';
  const scope = createEntraScope(cfg, { client, call, callOr404, listAll, listGroups, getUser });
  const consentApi = createEntraConsents({ client, callOr404, listAll });
  return {
    executingSystem: `Microsoft Graph @ ${new URL(cfg.graphBaseUrl).host}`,
    action: accountScope ? ACCOUNT_ACTION : METHODS_ACTION,
    find: matcher.find,
    audit: matcher.audit,
    revoke: accountScope ? revokeAccount : revokeMethods,
    ...(accountScope ? { discoverOwned, revokeOwned, auditOwned, scope } : {}),
    async close() {
      await dispatcher.close();
    },
  };
}
