/**
 * STAND-IN for Microsoft Entra ID / Microsoft Graph (v1.0), served over HTTPS because the Graph SDK
 * only attaches bearer tokens to https URLs. Speaks the real wire format for what Offboard uses:
 * - the v2.0 client-credentials token endpoint;
 * - `GET /users?$filter=…` for the clauses matching uses (`employeeId`, `userPrincipalName`, `mail` with
 *   `eq`; `proxyAddresses/any(p:p eq 'smtp:…')`, `otherMails/any(o:o eq '…')`; joined by `or`), with
 *   `$select`, `$top` and `$count` (`@odata.count`); other clauses get Graph's 400
 *   `Request_UnsupportedQuery`;
 * - `GET/PATCH /users/{id|upn}` (with `assignedLicenses` and `licenseAssignmentStates`),
 *   `POST /users/{id}/revokeSignInSessions`, `POST /users/{id}/assignLicense`, `GET /users/{id}/manager`;
 * - `GET /users/{id}/memberOf[/microsoft.graph.group]` (paged with `@odata.nextLink`),
 *   `DELETE /groups/{g}/members/{id}/$ref` (dynamic groups refuse it), `GET /groups/{g}[/members]`;
 * - `GET /users/{id}/authentication/methods` and, per type, `GET/DELETE
 *   /users/{id}/authentication/{phoneMethods|microsoftAuthenticatorMethods|fido2Methods|...}/{id}`;
 * - `GET /users/{id}/ownedObjects[/microsoft.graph.application]` (paged), `GET/PATCH /applications/{id}`,
 *   `POST /applications/{id}/removePassword`;
 * - directory role assignments and PIM eligibilities (graph-roles.ts);
 * - delegated permission grants, app role assignments and service principals (graph-consents.ts);
 * and Graph's error body `{ "error": { "code", "message", "innerError": { "date", "request-id",
 * "client-request-id" } } }`.
 *
 * Refusals modelled on Graph's documented rules (messages quoted where they are public):
 * - a user's default MFA method cannot be deleted while other methods remain: 400 "Cannot delete default
 *   method with other methods configured. Please change default method before deletion."; a user can be
 *   seeded with `lockDefaultMethod` so it is refused even when it is the last one (the "have the user
 *   change their default method" case of the phoneAuthenticationMethod delete page);
 * - a mobile phone cannot be deleted while an alternateMobile remains (documented rule, message ours);
 * - the password method is not deletable;
 * - members of dynamic groups cannot be removed (403 Authorization_RequestDenied, as Graph answers);
 * - assignLicense: "License {sku} does not correspond to a valid company License.", "User does not have a
 *   corresponding license.", "User license is inherited from a group membership and it cannot be removed
 *   directly from the user." (all 400 Request_BadRequest).
 *
 * All state lives in `users` (one self-contained record per user, so `embedded/start.ts` can save it
 * as JSON after every change, through `onChange`, and restore it); `groups` is a registry of group definitions rebuilt from the users when needed.
 * Counters on each user and application let tests prove nothing was done twice.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import https from 'node:https';
import express, { type Request, type Response } from 'express';
import { closeServer, listen } from '../lib/http';
import { StandInControl } from './faults';
import { consentRoutes, type GraphAppRoleGrant, type GraphDelegatedGrant } from './graph-consents';
import { roleHolding, roleRoutes, type GraphRoleHolding } from './graph-roles';
import { saveBeforeAnswering } from './persist';
import { generateTlsMaterial, type TlsMaterial } from './tls';

/** An authentication method as Graph returns it (`@odata.type`, `id` and the type's own properties). */
export interface GraphAuthMethod {
  '@odata.type': string;
  id: string;
  [property: string]: unknown;
}

export interface GraphGroupState {
  id: string;
  displayName: string;
  /** e.g. [] for a security group, ["Unified"], ["DynamicMembership"]. */
  groupTypes: string[];
  membershipRule: string | null;
  /** SKUs this group assigns to its members (group-based licensing). */
  assignsLicenses: string[];
}

export interface GraphLicenseAssignmentState {
  skuId: string;
  /** null when assigned directly; the group's id when inherited. */
  assignedByGroup: string | null;
  disabledPlans: string[];
  error: string;
  lastUpdatedDateTime: string;
  state: 'Active' | 'ActiveWithError' | 'Disabled' | 'Error';
}

export interface GraphPasswordCredential {
  customKeyIdentifier: null;
  displayName: string;
  endDateTime: string;
  hint: string;
  keyId: string;
  secretText: null;
  startDateTime: string;
}

export interface GraphKeyCredential {
  customKeyIdentifier: string;
  displayName: string;
  endDateTime: string;
  key: null;
  keyId: string;
  startDateTime: string;
  type: 'AsymmetricX509Cert';
  usage: 'Verify';
}

export interface GraphApplicationState {
  id: string;
  appId: string;
  displayName: string;
  passwordCredentials: GraphPasswordCredential[];
  keyCredentials: GraphKeyCredential[];
  /** Client secrets removed (removePassword calls that removed one). */
  secretRemoveCount: number;
  /** Certificates removed through PATCH keyCredentials. */
  certificateRemoveCount: number;
}

export interface GraphUserState {
  id: string;
  userPrincipalName: string;
  displayName: string;
  mail: string;
  /** The HR system's employee id (Graph `employeeId`), or null. */
  employeeId: string | null;
  /** `SMTP:primary@…` and `smtp:alias@…` addresses. */
  proxyAddresses: string[];
  /** Alternate addresses (Graph `otherMails`). */
  otherMails: string[];
  accountEnabled: boolean;
  signInSessionsValidFromDateTime: string;
  /** Times the account went from enabled to disabled. */
  disableCount: number;
  /** Times sessions were revoked. */
  revokeCount: number;
  authenticationMethods: GraphAuthMethod[];
  /** The user's default MFA method (Graph v1.0 does not expose it; the stand-in enforces its rule). */
  defaultMethodId: string | null;
  /** The default method is refused even when it is the last one. */
  lockDefaultMethod: boolean;
  /** Direct group memberships (copies of the group definitions). */
  memberOf: GraphGroupState[];
  licenseAssignmentStates: GraphLicenseAssignmentState[];
  /** Object id of the manager (another user), or null. */
  managerId: string | null;
  ownedApplications: GraphApplicationState[];
  /** Authentication methods deleted. */
  methodDeleteCount: number;
  /** Group memberships removed. */
  groupRemoveCount: number;
  /** Direct licence assignments removed through assignLicense. */
  licenceRemoveCount: number;
  /** Active directory role assignments (graph-roles.ts); absent in state saved before them. */
  roleAssignments?: GraphRoleHolding[];
  /** PIM eligible role assignments (graph-roles.ts). */
  roleEligibilities?: GraphRoleHolding[];
  /** Third-party apps the user consented to, and app role assignments (graph-consents.ts). */
  oauth2PermissionGrants?: GraphDelegatedGrant[];
  appRoleAssignments?: GraphAppRoleGrant[];
  /** Grants and assignments deleted. */
  consentDeleteCount?: number;
}

export interface GraphStandInOptions {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  port?: number;
  tls?: TlsMaterial;
}

/** Well-known ids Graph uses for the password method and the three phone types. */
export const PASSWORD_METHOD_ID = '28c10230-6103-485e-b985-444c60001490';
export const PHONE_METHOD_IDS = {
  mobile: '3179e48a-750b-4051-897c-87b9720928f7',
  alternateMobile: 'b6332ec1-7057-4abe-9331-3d72feddfe41',
  office: 'e37fc753-ff3b-4958-9484-eaa9425c82bc',
} as const;

/** Some real SKU ids (skuPartNumber in the value) the stand-in tenant is subscribed to. */
export const DEMO_SKUS: Record<string, string> = {
  '05e9a617-0261-4cee-bb44-138d3ef5d965': 'SPE_E3',
  '06ebc4ee-1bb5-47dd-8120-11324bc54e06': 'SPE_E5',
  '6fd2c87f-b296-42f0-b197-1e91e994b900': 'ENTERPRISEPACK',
  'efccb6f7-5641-4e0e-bd10-b4976e1bf68e': 'EMS',
  'f8a1db68-be16-40ed-86d5-cb42ce701560': 'POWER_BI_PRO',
  'c5928f49-12ba-48f7-ada3-0d743a3601d5': 'VISIOCLIENT',
};

/** Per-type endpoint segment under /authentication, by `@odata.type`. */
const SEGMENT_BY_TYPE: Record<string, string> = {
  '#microsoft.graph.passwordAuthenticationMethod': 'passwordMethods',
  '#microsoft.graph.phoneAuthenticationMethod': 'phoneMethods',
  '#microsoft.graph.microsoftAuthenticatorAuthenticationMethod': 'microsoftAuthenticatorMethods',
  '#microsoft.graph.fido2AuthenticationMethod': 'fido2Methods',
  '#microsoft.graph.softwareOathAuthenticationMethod': 'softwareOathMethods',
  '#microsoft.graph.emailAuthenticationMethod': 'emailMethods',
  '#microsoft.graph.temporaryAccessPassAuthenticationMethod': 'temporaryAccessPassMethods',
  '#microsoft.graph.windowsHelloForBusinessAuthenticationMethod': 'windowsHelloForBusinessMethods',
};
const SEGMENTS = new Set(Object.values(SEGMENT_BY_TYPE));

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const created = '2025-03-04T09:15:00Z';

/** Builders for seeding authentication methods in Graph's shape. */
export const authMethods = {
  password: (): GraphAuthMethod => ({
    '@odata.type': '#microsoft.graph.passwordAuthenticationMethod',
    id: PASSWORD_METHOD_ID,
    password: null,
    createdDateTime: created,
  }),
  phone: (phoneType: keyof typeof PHONE_METHOD_IDS, phoneNumber: string): GraphAuthMethod => ({
    '@odata.type': '#microsoft.graph.phoneAuthenticationMethod',
    id: PHONE_METHOD_IDS[phoneType],
    phoneNumber,
    phoneType,
    smsSignInState: 'notAllowedByPolicy',
  }),
  microsoftAuthenticator: (displayName = 'Pixel 8'): GraphAuthMethod => ({
    '@odata.type': '#microsoft.graph.microsoftAuthenticatorAuthenticationMethod',
    id: randomUUID(),
    displayName,
    deviceTag: 'SoftwareTokenActivated',
    phoneAppVersion: '6.2401.0119',
    createdDateTime: created,
  }),
  fido2: (displayName = 'YubiKey 5 NFC'): GraphAuthMethod => ({
    '@odata.type': '#microsoft.graph.fido2AuthenticationMethod',
    id: randomBytes(16).toString('base64url'),
    displayName,
    aaGuid: 'cb69481e-8ff7-4039-93ec-0a2729a154a8',
    model: 'YubiKey 5 Series',
    attestationCertificates: [randomBytes(20).toString('hex')],
    attestationLevel: 'attested',
    createdDateTime: created,
  }),
  softwareOath: (): GraphAuthMethod => ({
    '@odata.type': '#microsoft.graph.softwareOathAuthenticationMethod',
    id: randomUUID(),
    secretKey: null,
  }),
  email: (emailAddress: string): GraphAuthMethod => ({
    '@odata.type': '#microsoft.graph.emailAuthenticationMethod',
    id: '3ddfcfc8-9383-446f-83cc-3ab9be4be18f',
    emailAddress,
  }),
  temporaryAccessPass: (): GraphAuthMethod => ({
    '@odata.type': '#microsoft.graph.temporaryAccessPassAuthenticationMethod',
    id: randomUUID(),
    temporaryAccessPass: null,
    createdDateTime: created,
    startDateTime: created,
    lifetimeInMinutes: 60,
    isUsableOnce: false,
    isUsable: true,
    methodUsabilityReason: 'EnabledByPolicy',
  }),
  windowsHelloForBusiness: (displayName = 'LAPTOP-4711'): GraphAuthMethod => ({
    '@odata.type': '#microsoft.graph.windowsHelloForBusinessAuthenticationMethod',
    id: randomBytes(16).toString('base64url'),
    displayName,
    createdDateTime: created,
    keyStrength: 'normal',
  }),
  /** A method type this stand-in (and Offboard) has no endpoint for, e.g. a future Graph type. */
  other: (odataType: string): GraphAuthMethod => ({ '@odata.type': odataType, id: randomUUID() }),
};

/** An application registration to seed as a user's owned object (`seedUser({ ownedApplications })`). */
export function graphApplication(a: {
  displayName: string;
  id?: string;
  appId?: string;
  /** Display names of client secrets. */
  secrets?: string[];
  /** Display names of certificates. */
  certificates?: string[];
}): GraphApplicationState {
  const end = '2027-01-01T00:00:00Z';
  return {
    id: a.id ?? randomUUID(),
    appId: a.appId ?? randomUUID(),
    displayName: a.displayName,
    passwordCredentials: (a.secrets ?? []).map((displayName) => ({
      customKeyIdentifier: null,
      displayName,
      endDateTime: end,
      hint: randomBytes(2).toString('hex').slice(0, 3),
      keyId: randomUUID(),
      secretText: null,
      startDateTime: created,
    })),
    keyCredentials: (a.certificates ?? []).map((displayName) => ({
      customKeyIdentifier: randomBytes(20).toString('hex').toUpperCase(),
      displayName,
      endDateTime: end,
      key: null,
      keyId: randomUUID(),
      startDateTime: created,
      type: 'AsymmetricX509Cert' as const,
      usage: 'Verify' as const,
    })),
    secretRemoveCount: 0,
    certificateRemoveCount: 0,
  };
}

export function graphError(status: number, code: string, message: string, req?: Request) {
  return {
    error: {
      code,
      message,
      innerError: {
        date: new Date().toISOString().replace(/\.\d{3}Z$/, ''),
        'request-id': randomUUID(),
        'client-request-id': (req?.headers['client-request-id'] as string | undefined) ?? randomUUID(),
      },
    },
  };
}

const CODE_BY_STATUS: Record<number, string> = {
  400: 'BadRequest',
  401: 'InvalidAuthenticationToken',
  403: 'Authorization_RequestDenied',
  404: 'Request_ResourceNotFound',
  429: 'TooManyRequests',
  500: 'InternalServerError',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

const notFoundMessage = (id: string) =>
  `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`;

/** Keeps `id` and the `$select`ed fields (all fields without `$select`). */
function pick(full: Record<string, unknown>, select: string | undefined): Record<string, unknown> {
  if (!select) return { ...full };
  const out: Record<string, unknown> = {};
  if ('@odata.type' in full) out['@odata.type'] = full['@odata.type'];
  if ('id' in full) out.id = full.id;
  for (const f of select.split(',').map((s) => s.trim()))
    if (f in full) out[f] = full[f as keyof typeof full];
  return out;
}

const queryString = (req: Request, name: string): string | undefined => {
  const v = (req.query as Record<string, unknown>)[name];
  return typeof v === 'string' ? v : undefined;
};

export class GraphStandIn {
  /** The seeding helpers, reachable through the class for callers that import only it. */
  static readonly authMethods = authMethods;
  static readonly application = graphApplication;
  static readonly PHONE_METHOD_IDS = PHONE_METHOD_IDS;
  static readonly SKUS = DEMO_SKUS;
  readonly control = new StandInControl();
  /**
   * Called after each request that may have changed the state (any method but GET, HEAD and OPTIONS),
   * before its answer is sent; the answer waits for the promise (standins/persist.ts). `npm start`
   * saves the state here, so a crash loses no change a caller was told about.
   */
  onChange?: () => Promise<void>;
  readonly users = new Map<string, GraphUserState>();
  /**
   * User ids by lower-cased userPrincipalName, as Graph resolves `/users/{upn}` (a cache: users put
   * straight into `users` are found by a scan once, then cached).
   */
  private readonly byUpn = new Map<string, string>();
  /** Group definitions seen (seeded, or found in a user's memberships). */
  readonly groups = new Map<string, GraphGroupState>();
  /** SKUs the tenant is subscribed to (skuId → skuPartNumber). */
  readonly skus = new Map<string, string>(Object.entries(DEMO_SKUS));
  /** Most items per page of a collection when the client does not ask for fewer (Graph: 100). */
  pageSize = 100;
  private tokens = new Set<string>();
  private server?: https.Server;
  readonly tls: TlsMaterial;
  url = '';

  constructor(private readonly opts: GraphStandInOptions) {
    this.tls = opts.tls ?? generateTlsMaterial();
  }

  /** Registers a group definition (assigned, or dynamic with a membership rule). */
  seedGroup(g: {
    displayName: string;
    id?: string;
    dynamic?: boolean;
    membershipRule?: string;
    groupTypes?: string[];
    /** SKUs the group assigns to its members (group-based licensing). */
    assignsLicenses?: string[];
  }): GraphGroupState {
    const dynamic = g.dynamic ?? !!g.membershipRule;
    const state: GraphGroupState = {
      id: g.id ?? randomUUID(),
      displayName: g.displayName,
      groupTypes: g.groupTypes ?? (dynamic ? ['DynamicMembership'] : []),
      membershipRule: dynamic ? (g.membershipRule ?? '(user.accountEnabled -eq true)') : null,
      assignsLicenses: g.assignsLicenses ?? [],
    };
    for (const sku of state.assignsLicenses) if (!this.skus.has(sku)) this.skus.set(sku, 'SEEDED_SKU');
    this.groups.set(state.id, state);
    return state;
  }

  /** Adds (or replaces) a user; returns its state object. */
  seedUser(u: {
    userPrincipalName: string;
    displayName?: string;
    accountEnabled?: boolean;
    id?: string;
    mail?: string;
    employeeId?: string;
    proxyAddresses?: string[];
    otherMails?: string[];
    /** Methods besides the password method (which every seeded user has). */
    authenticationMethods?: GraphAuthMethod[];
    /** Id of the default MFA method (e.g. PHONE_METHOD_IDS.mobile). */
    defaultMethodId?: string;
    lockDefaultMethod?: boolean;
    groups?: GraphGroupState[];
    /** Directly assigned SKUs. */
    licenses?: string[];
    managerId?: string;
    ownedApplications?: GraphApplicationState[];
    /** Role template ids (DIRECTORY_ROLES) held actively, and through PIM eligibility. */
    roles?: string[];
    eligibleRoles?: string[];
    /** Delegated permission grants and app role assignments (graph-consents.ts builders). */
    delegatedGrants?: GraphDelegatedGrant[];
    appRoleAssignments?: GraphAppRoleGrant[];
  }): GraphUserState {
    const state: GraphUserState = {
      id: u.id ?? randomUUID(),
      userPrincipalName: u.userPrincipalName,
      displayName: u.displayName ?? u.userPrincipalName.split('@')[0]!,
      mail: u.mail ?? u.userPrincipalName,
      employeeId: u.employeeId ?? null,
      proxyAddresses: u.proxyAddresses ?? [`SMTP:${u.mail ?? u.userPrincipalName}`],
      otherMails: u.otherMails ?? [],
      accountEnabled: u.accountEnabled ?? true,
      signInSessionsValidFromDateTime: '2024-01-01T00:00:00Z',
      disableCount: 0,
      revokeCount: 0,
      authenticationMethods: [authMethods.password(), ...(u.authenticationMethods ?? [])],
      defaultMethodId: u.defaultMethodId ?? null,
      lockDefaultMethod: u.lockDefaultMethod ?? false,
      memberOf: [],
      licenseAssignmentStates: [],
      managerId: u.managerId ?? null,
      ownedApplications: u.ownedApplications ?? [],
      methodDeleteCount: 0,
      groupRemoveCount: 0,
      licenceRemoveCount: 0,
      roleAssignments: (u.roles ?? []).map(roleHolding),
      roleEligibilities: (u.eligibleRoles ?? []).map(roleHolding),
      oauth2PermissionGrants: u.delegatedGrants ?? [],
      appRoleAssignments: u.appRoleAssignments ?? [],
      consentDeleteCount: 0,
    };
    for (const sku of u.licenses ?? []) {
      if (!this.skus.has(sku)) this.skus.set(sku, 'SEEDED_SKU');
      state.licenseAssignmentStates.push(licenseState(sku, null));
    }
    for (const g of u.groups ?? []) this.addMember(state, g);
    this.users.set(state.id, state);
    this.byUpn.set(state.userPrincipalName.toLowerCase(), state.id);
    this.indexUser(state);
    return state;
  }

  /**
   * User ids by `<property>:<lower-cased value>` of every property a `$filter` clause can name, so a
   * matching query is a lookup (a layoff's 10,000 users). `seedUser` indexes the user it adds; users put
   * straight into `users` (state restored from JSON) are indexed at the next query; `reindex()` starts
   * over after a test changed a user's identifiers.
   */
  private readonly byValue = new Map<string, Set<string>>();
  private readonly indexedIds = new Set<string>();

  reindex(): void {
    this.byValue.clear();
    this.indexedIds.clear();
  }

  private indexUser(u: GraphUserState): void {
    normalise(u);
    for (const [prop, values] of Object.entries(filterValues(u)))
      for (const v of values) {
        const k = `${prop}:${v.toLowerCase()}`;
        const ids = this.byValue.get(k) ?? new Set<string>();
        ids.add(u.id);
        this.byValue.set(k, ids);
      }
    this.indexedIds.add(u.id);
  }

  private index(): Map<string, Set<string>> {
    if (this.indexedIds.size !== this.users.size)
      for (const u of this.users.values()) if (!this.indexedIds.has(u.id)) this.indexUser(u);
    return this.byValue;
  }

  /** The users a parsed `$filter` selects (Graph compares these values without regard to case). */
  private select(clauses: FilterClause[]): GraphUserState[] {
    const index = this.index();
    const ids = new Set<string>();
    for (const c of clauses)
      for (const id of index.get(`${c.prop}:${c.value.toLowerCase()}`) ?? []) ids.add(id);
    return [...ids]
      .map((id) => this.users.get(id))
      .filter((u): u is GraphUserState => !!u)
      .filter((u) =>
        clauses.some((c) =>
          (filterValues(u)[c.prop] ?? []).some((v) => v.toLowerCase() === c.value.toLowerCase()),
        ),
      );
  }

  /** Makes `u` a member of `g` (and gives it the group's licences). */
  addMember(u: GraphUserState, g: GraphGroupState): void {
    normalise(u);
    this.groups.set(g.id, g);
    if (u.memberOf.some((x) => x.id === g.id)) return;
    u.memberOf.push({ ...g, groupTypes: [...g.groupTypes], assignsLicenses: [...g.assignsLicenses] });
    for (const sku of g.assignsLicenses) u.licenseAssignmentStates.push(licenseState(sku, g.id));
  }

  find(idOrUpn: string): GraphUserState | undefined {
    const byId = this.users.get(idOrUpn);
    if (byId) return normalise(byId);
    const key = idOrUpn.toLowerCase();
    const cached = this.users.get(this.byUpn.get(key) ?? '');
    const u =
      cached && cached.userPrincipalName.toLowerCase() === key
        ? cached
        : [...this.users.values()].find((x) => x.userPrincipalName.toLowerCase() === key);
    if (u) this.byUpn.set(key, u.id);
    return u ? normalise(u) : undefined;
  }

  /** A group by id: the registry, else any user's membership copy (state restored from JSON). */
  findGroup(id: string): GraphGroupState | undefined {
    const known = this.groups.get(id);
    if (known) return known;
    for (const u of this.users.values()) {
      const g = normalise(u).memberOf.find((x) => x.id === id);
      if (g) {
        this.groups.set(id, g);
        return g;
      }
    }
    return undefined;
  }

  /** An application by object id, with the user who owns it. */
  findApplication(id: string): { app: GraphApplicationState; owner: GraphUserState } | undefined {
    for (const u of this.users.values()) {
      const app = normalise(u).ownedApplications.find((a) => a.id === id);
      if (app) return { app, owner: u };
    }
    return undefined;
  }

  /** The user named by `:id` (object id or UPN), or a Graph 404 answered and undefined. */
  private userOr404(req: Request, res: Response): GraphUserState | undefined {
    const u = this.find(String(req.params.id));
    if (!u)
      res
        .status(404)
        .json(graphError(404, 'Request_ResourceNotFound', notFoundMessage(String(req.params.id)), req));
    return u;
  }

  private userView(u: GraphUserState, select?: string) {
    const states = u.licenseAssignmentStates;
    const full: Record<string, unknown> = {
      id: u.id,
      userPrincipalName: u.userPrincipalName,
      displayName: u.displayName,
      mail: u.mail,
      employeeId: u.employeeId,
      proxyAddresses: [...u.proxyAddresses],
      otherMails: [...u.otherMails],
      accountEnabled: u.accountEnabled,
      signInSessionsValidFromDateTime: u.signInSessionsValidFromDateTime,
      // Graph lists each SKU once, however many ways it is assigned.
      assignedLicenses: [...new Set(states.map((s) => s.skuId))].map((skuId) => ({
        disabledPlans: [],
        skuId,
      })),
      licenseAssignmentStates: states.map((s) => ({ ...s })),
    };
    return {
      '@odata.context': `${this.url}/v1.0/$metadata#users(${select ?? ''})/$entity`,
      ...pick(full, select),
    };
  }

  private groupView(g: GraphGroupState) {
    return {
      id: g.id,
      displayName: g.displayName,
      groupTypes: [...g.groupTypes],
      membershipRule: g.membershipRule,
      membershipRuleProcessingState: g.membershipRule ? 'On' : null,
      mailEnabled: false,
      securityEnabled: true,
    };
  }

  private applicationView(a: GraphApplicationState) {
    return {
      id: a.id,
      appId: a.appId,
      displayName: a.displayName,
      passwordCredentials: a.passwordCredentials.map((p) => ({ ...p })),
      keyCredentials: a.keyCredentials.map((k) => ({ ...k })),
    };
  }

  /** One page of a collection, with `@odata.nextLink` (opaque `$skiptoken`) while more remain. */
  private page(req: Request, res: Response, context: string, items: Record<string, unknown>[]) {
    const top = Number(queryString(req, '$top') ?? this.pageSize);
    if (!Number.isInteger(top) || top < 1 || top > 999)
      return res
        .status(400)
        .json(graphError(400, 'Request_BadRequest', `Invalid page size specified: '${String(top)}'.`, req));
    const token = queryString(req, '$skiptoken');
    let offset = 0;
    if (token !== undefined) {
      offset = Number(
        Buffer.from(token, 'base64url')
          .toString('utf8')
          .replace(/^offset:/, ''),
      );
      if (!Number.isInteger(offset) || offset < 0)
        return res
          .status(400)
          .json(
            graphError(400, 'Directory_InvalidSkipToken', 'The specified page token value is invalid.', req),
          );
    }
    const size = Math.min(top, this.pageSize);
    const body: Record<string, unknown> = {
      '@odata.context': `${this.url}/v1.0/$metadata#${context}`,
      value: items.slice(offset, offset + size),
    };
    if (offset + size < items.length) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(req.query as Record<string, unknown>))
        if (k !== '$skiptoken' && typeof v === 'string') params.set(k, v);
      params.set('$skiptoken', Buffer.from(`offset:${offset + size}`).toString('base64url'));
      body['@odata.nextLink'] = `${this.url}/v1.0${req.path}?${params.toString()}`;
    }
    res.json(body);
  }

  app(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.use(
      this.control.middleware((status, message) =>
        graphError(status, CODE_BY_STATUS[status] ?? 'UnknownError', message),
      ),
    );
    app.use(saveBeforeAnswering(() => this.onChange));

    app.post(
      '/:tenant/oauth2/v2.0/token',
      express.urlencoded({ extended: false }),
      (req: Request, res: Response) => {
        const b = req.body as Record<string, string | undefined>;
        if (req.params.tenant !== this.opts.tenantId)
          return res.status(400).json({
            error: 'invalid_request',
            error_description: `AADSTS90002: Tenant '${String(req.params.tenant)}' not found.`,
          });
        if (b.grant_type !== 'client_credentials')
          return res.status(400).json({ error: 'unsupported_grant_type', error_description: 'AADSTS70003' });
        if (b.client_id !== this.opts.clientId || b.client_secret !== this.opts.clientSecret)
          return res.status(401).json({
            error: 'invalid_client',
            error_description: 'AADSTS7000215: Invalid client secret provided.',
          });
        const token = randomBytes(24).toString('base64url');
        this.tokens.add(token);
        return res.json({
          token_type: 'Bearer',
          expires_in: 3599,
          ext_expires_in: 3599,
          access_token: token,
        });
      },
    );

    const v1 = express.Router();
    v1.use((req, res, next) => {
      const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
      if (!m || !this.tokens.has(m[1]!))
        return res
          .status(401)
          .json(graphError(401, 'InvalidAuthenticationToken', 'Access token is empty or invalid.', req));
      next();
    });
    const bad = (req: Request, res: Response, message: string, code = 'Request_BadRequest') =>
      res.status(400).json(graphError(400, code, message, req));

    // ---- users
    v1.get('/users', (req, res) => {
      const filter = queryString(req, '$filter');
      if (filter === undefined)
        return bad(req, res, 'This stand-in lists users only with a $filter.', 'Request_UnsupportedQuery');
      const clauses = parseUserFilter(filter);
      if ('error' in clauses) return bad(req, res, clauses.error, 'Request_UnsupportedQuery');
      const top = Number(queryString(req, '$top') ?? 100);
      if (!Number.isInteger(top) || top < 1 || top > 999)
        return bad(req, res, `Invalid page size specified: '${String(top)}'.`);
      const found = this.select(clauses);
      const select = queryString(req, '$select');
      const body: Record<string, unknown> = {
        '@odata.context': `${this.url}/v1.0/$metadata#users(${select ?? ''})`,
        ...(queryString(req, '$count') === 'true' ? { '@odata.count': found.length } : {}),
        value: found.slice(0, top).map((u) => {
          const { '@odata.context': _ctx, ...view } = this.userView(u, select);
          return view;
        }),
      };
      res.json(body);
    });
    v1.get('/users/:id', (req, res) => {
      const u = this.userOr404(req, res);
      if (u) res.json(this.userView(u, queryString(req, '$select')));
    });
    v1.patch('/users/:id', express.json(), (req, res) => {
      const u = this.userOr404(req, res);
      if (!u) return;
      const body = req.body as { accountEnabled?: unknown };
      if ('accountEnabled' in body) {
        if (typeof body.accountEnabled !== 'boolean')
          return bad(req, res, "Invalid value specified for property 'accountEnabled' of resource 'User'.");
        if (u.accountEnabled && !body.accountEnabled) u.disableCount += 1;
        u.accountEnabled = body.accountEnabled;
      }
      res.status(204).end();
    });
    v1.post('/users/:id/revokeSignInSessions', (req, res) => {
      const u = this.userOr404(req, res);
      if (!u) return;
      u.signInSessionsValidFromDateTime = now();
      u.revokeCount += 1;
      res.json({ '@odata.context': `${this.url}/v1.0/$metadata#Edm.Boolean`, value: true });
    });
    v1.post('/users/:id/assignLicense', express.json(), (req, res) => {
      const u = this.userOr404(req, res);
      if (!u) return;
      const b = req.body as { addLicenses?: unknown; removeLicenses?: unknown };
      if (!Array.isArray(b.addLicenses) || !Array.isArray(b.removeLicenses))
        return bad(req, res, "Invalid value specified for property 'addLicenses' or 'removeLicenses'.");
      const add = b.addLicenses as { skuId?: unknown; disabledPlans?: unknown }[];
      const remove = b.removeLicenses as unknown[];
      const known = (sku: unknown) =>
        typeof sku === 'string' &&
        (this.skus.has(sku) ||
          [...this.users.values()].some((x) =>
            normalise(x).licenseAssignmentStates.some((s) => s.skuId === sku),
          ));
      // Validated as a whole before anything changes: one bad SKU fails the request.
      for (const sku of [...add.map((a) => a?.skuId), ...remove])
        if (!known(sku))
          return bad(req, res, `License ${String(sku)} does not correspond to a valid company License.`);
      for (const sku of remove) {
        const states = u.licenseAssignmentStates.filter((s) => s.skuId === sku);
        if (states.length === 0) return bad(req, res, 'User does not have a corresponding license.');
        if (!states.some((s) => s.assignedByGroup === null))
          return bad(
            req,
            res,
            'User license is inherited from a group membership and it cannot be removed directly from the user.',
          );
      }
      for (const sku of remove) {
        u.licenseAssignmentStates = u.licenseAssignmentStates.filter(
          (s) => !(s.skuId === sku && s.assignedByGroup === null),
        );
        u.licenceRemoveCount += 1;
      }
      for (const a of add)
        if (!u.licenseAssignmentStates.some((s) => s.skuId === a.skuId && s.assignedByGroup === null))
          u.licenseAssignmentStates.push(licenseState(String(a.skuId), null));
      res.json(this.userView(u));
    });
    v1.get('/users/:id/manager', (req, res) => {
      const u = this.userOr404(req, res);
      if (!u) return;
      const m = u.managerId ? this.find(u.managerId) : undefined;
      if (!m)
        return res
          .status(404)
          .json(graphError(404, 'Request_ResourceNotFound', notFoundMessage('manager'), req));
      res.json({
        '@odata.context': `${this.url}/v1.0/$metadata#directoryObjects/$entity`,
        ...pick(
          {
            '@odata.type': '#microsoft.graph.user',
            id: m.id,
            displayName: m.displayName,
            mail: m.mail,
            userPrincipalName: m.userPrincipalName,
          },
          queryString(req, '$select'),
        ),
      });
    });

    // ---- group memberships
    const memberOf = (cast: boolean) => (req: Request, res: Response) => {
      const u = this.userOr404(req, res);
      if (!u) return;
      const select = queryString(req, '$select');
      const items = u.memberOf.map((g) => {
        const full = { '@odata.type': '#microsoft.graph.group', ...this.groupView(g) };
        const out = pick(full, select);
        if (cast) delete out['@odata.type'];
        return out;
      });
      this.page(req, res, cast ? `groups(${select ?? ''})` : 'directoryObjects', items);
    };
    v1.get('/users/:id/memberOf', memberOf(false));
    v1.get('/users/:id/memberOf/microsoft.graph.group', memberOf(true));
    v1.get('/groups/:gid', (req, res) => {
      const g = this.findGroup(String(req.params.gid));
      if (!g)
        return res
          .status(404)
          .json(graphError(404, 'Request_ResourceNotFound', notFoundMessage(String(req.params.gid)), req));
      res.json({
        '@odata.context': `${this.url}/v1.0/$metadata#groups/$entity`,
        ...pick(this.groupView(g), queryString(req, '$select')),
      });
    });
    v1.get('/groups/:gid/members', (req, res) => {
      const g = this.findGroup(String(req.params.gid));
      if (!g)
        return res
          .status(404)
          .json(graphError(404, 'Request_ResourceNotFound', notFoundMessage(String(req.params.gid)), req));
      const members = [...this.users.values()]
        .filter((u) => normalise(u).memberOf.some((x) => x.id === g.id))
        .map((u) => ({
          '@odata.type': '#microsoft.graph.user',
          id: u.id,
          displayName: u.displayName,
          userPrincipalName: u.userPrincipalName,
        }));
      this.page(req, res, 'directoryObjects', members);
    });
    v1.delete('/groups/:gid/members/:uid/:ref', (req, res) => {
      if (req.params.ref !== '$ref')
        return bad(req, res, `Resource not found for the segment '${String(req.params.ref)}'.`, 'BadRequest');
      const g = this.findGroup(String(req.params.gid));
      if (!g)
        return res
          .status(404)
          .json(graphError(404, 'Request_ResourceNotFound', notFoundMessage(String(req.params.gid)), req));
      if (g.groupTypes.includes('DynamicMembership'))
        return res
          .status(403)
          .json(
            graphError(
              403,
              'Authorization_RequestDenied',
              'Insufficient privileges to complete the operation.',
              req,
            ),
          );
      // Members are addressed by object id only.
      const u = this.users.get(String(req.params.uid));
      const idx = u ? normalise(u).memberOf.findIndex((x) => x.id === g.id) : -1;
      if (!u || idx < 0)
        return res
          .status(404)
          .json(graphError(404, 'Request_ResourceNotFound', notFoundMessage(String(req.params.uid)), req));
      u.memberOf.splice(idx, 1);
      // Group-based licences go with the membership.
      u.licenseAssignmentStates = u.licenseAssignmentStates.filter((s) => s.assignedByGroup !== g.id);
      u.groupRemoveCount += 1;
      res.status(204).end();
    });

    // ---- authentication methods
    v1.get('/users/:id/authentication/methods', (req, res) => {
      const u = this.userOr404(req, res);
      if (u)
        this.page(
          req,
          res,
          'authenticationMethods',
          u.authenticationMethods.map((m) => ({ ...m })),
        );
    });
    v1.get('/users/:id/authentication/:segment', (req, res) => {
      const u = this.userOr404(req, res);
      if (!u) return;
      const segment = String(req.params.segment);
      if (!SEGMENTS.has(segment))
        return bad(req, res, `Resource not found for the segment '${segment}'.`, 'BadRequest');
      this.page(
        req,
        res,
        segment,
        u.authenticationMethods
          .filter((m) => SEGMENT_BY_TYPE[m['@odata.type']] === segment)
          .map((m) => ({ ...m })),
      );
    });
    const methodOr404 = (req: Request, res: Response) => {
      const u = this.userOr404(req, res);
      if (!u) return undefined;
      const segment = String(req.params.segment);
      if (!SEGMENTS.has(segment)) {
        bad(req, res, `Resource not found for the segment '${segment}'.`, 'BadRequest');
        return undefined;
      }
      const m = u.authenticationMethods.find(
        (x) => x.id === req.params.methodId && SEGMENT_BY_TYPE[x['@odata.type']] === segment,
      );
      if (!m) {
        res
          .status(404)
          .json(graphError(404, 'itemNotFound', notFoundMessage(String(req.params.methodId)), req));
        return undefined;
      }
      return { u, m };
    };
    v1.get('/users/:id/authentication/:segment/:methodId', (req, res) => {
      const found = methodOr404(req, res);
      if (found)
        res.json({
          '@odata.context': `${this.url}/v1.0/$metadata#${String(req.params.segment)}/$entity`,
          ...found.m,
        });
    });
    v1.delete('/users/:id/authentication/:segment/:methodId', (req, res) => {
      const found = methodOr404(req, res);
      if (!found) return;
      const { u, m } = found;
      if (m['@odata.type'] === '#microsoft.graph.passwordAuthenticationMethod')
        return res
          .status(405)
          .json(
            graphError(405, 'methodNotAllowed', 'The password authentication method cannot be deleted.', req),
          );
      const others = u.authenticationMethods.filter(
        (x) => x.id !== m.id && x['@odata.type'] !== '#microsoft.graph.passwordAuthenticationMethod',
      );
      if (m.id === u.defaultMethodId && (others.length > 0 || u.lockDefaultMethod))
        return bad(
          req,
          res,
          'Cannot delete default method with other methods configured. Please change default method before deletion.',
          'badRequest',
        );
      if (m.id === PHONE_METHOD_IDS.mobile && others.some((x) => x.id === PHONE_METHOD_IDS.alternateMobile))
        return bad(
          req,
          res,
          'A user cannot have an alternateMobile phone without a mobile phone: delete the alternateMobile phone first.',
          'badRequest',
        );
      u.authenticationMethods = u.authenticationMethods.filter((x) => x !== m);
      if (u.defaultMethodId === m.id) u.defaultMethodId = null;
      u.methodDeleteCount += 1;
      res.status(204).end();
    });

    // ---- owned applications
    const ownedObjects = (cast: boolean) => (req: Request, res: Response) => {
      const u = this.userOr404(req, res);
      if (!u) return;
      const select = queryString(req, '$select');
      const items = u.ownedApplications.map((a) => {
        const out = pick(
          { '@odata.type': '#microsoft.graph.application', ...this.applicationView(a) },
          select,
        );
        if (cast) delete out['@odata.type'];
        return out;
      });
      this.page(req, res, cast ? `applications(${select ?? ''})` : 'directoryObjects', items);
    };
    v1.get('/users/:id/ownedObjects', ownedObjects(false));
    v1.get('/users/:id/ownedObjects/microsoft.graph.application', ownedObjects(true));
    const appOr404 = (req: Request, res: Response) => {
      const found = this.findApplication(String(req.params.aid));
      if (!found)
        res
          .status(404)
          .json(graphError(404, 'Request_ResourceNotFound', notFoundMessage(String(req.params.aid)), req));
      return found?.app;
    };
    v1.get('/applications/:aid', (req, res) => {
      const a = appOr404(req, res);
      if (a)
        res.json({
          '@odata.context': `${this.url}/v1.0/$metadata#applications/$entity`,
          ...pick(this.applicationView(a), queryString(req, '$select')),
        });
    });
    v1.patch('/applications/:aid', express.json(), (req, res) => {
      const a = appOr404(req, res);
      if (!a) return;
      const b = req.body as Record<string, unknown>;
      if ('passwordCredentials' in b)
        return bad(
          req,
          res,
          "Property 'passwordCredentials' is read-only: use addPassword and removePassword.",
        );
      if ('displayName' in b) {
        if (typeof b.displayName !== 'string')
          return bad(req, res, "Invalid value specified for property 'displayName'.");
        a.displayName = b.displayName;
      }
      if ('keyCredentials' in b) {
        if (!Array.isArray(b.keyCredentials))
          return bad(
            req,
            res,
            "Invalid value specified for property 'keyCredentials' of resource 'Application'.",
          );
        const next: GraphKeyCredential[] = [];
        for (const k of b.keyCredentials as (Omit<Partial<GraphKeyCredential>, 'key'> & {
          key?: string | null;
        })[]) {
          const existing = a.keyCredentials.find((x) => x.keyId === k.keyId);
          if (existing) next.push(existing);
          else if (typeof k.key === 'string' && k.key.length > 0)
            next.push({
              customKeyIdentifier: randomBytes(20).toString('hex').toUpperCase(),
              displayName: k.displayName ?? 'certificate',
              endDateTime: k.endDateTime ?? '2027-01-01T00:00:00Z',
              key: null,
              keyId: randomUUID(),
              startDateTime: now(),
              type: 'AsymmetricX509Cert',
              usage: 'Verify',
            });
          else
            return bad(
              req,
              res,
              'Key credential not found or its key value is missing.',
              'Request_BadRequest',
            );
        }
        a.certificateRemoveCount += a.keyCredentials.filter((x) => !next.includes(x)).length;
        a.keyCredentials = next;
      }
      res.status(204).end();
    });
    v1.post('/applications/:aid/removePassword', express.json(), (req, res) => {
      const a = appOr404(req, res);
      if (!a) return;
      const keyId = (req.body as { keyId?: unknown }).keyId;
      if (typeof keyId !== 'string') return bad(req, res, "Invalid value specified for property 'keyId'.");
      const idx = a.passwordCredentials.findIndex((p) => p.keyId === keyId);
      if (idx < 0)
        return res
          .status(404)
          .json(
            graphError(
              404,
              'Request_ResourceNotFound',
              `No password credential found with keyId '${keyId}'.`,
              req,
            ),
          );
      a.passwordCredentials.splice(idx, 1);
      a.secretRemoveCount += 1;
      res.status(204).end();
    });

    v1.use(
      roleRoutes({
        users: this.users,
        groups: this.groups,
        url: () => this.url,
        error: graphError,
        groupView: (g) => this.groupView(g as GraphGroupState),
      }),
    );
    v1.use(
      consentRoutes({
        users: this.users,
        find: (idOrUpn) => this.find(idOrUpn),
        url: () => this.url,
        error: graphError,
      }),
    );
    v1.use((req, res) =>
      res
        .status(400)
        .json(
          graphError(
            400,
            'BadRequest',
            `Resource not found for the segment '${req.path.split('/')[1] ?? ''}'.`,
            req,
          ),
        ),
    );
    app.use('/v1.0', v1);

    // Admin routes for the demo and for people poking at the stand-in.
    app.get('/_standin/users', (_req, res) => res.json([...this.users.values()].map(normalise)));
    app.post('/_standin/users', express.json(), (req, res) => {
      const b = req.body as { userPrincipalName?: unknown; displayName?: unknown; employeeId?: unknown };
      if (typeof b.userPrincipalName !== 'string')
        return res.status(400).json({ error: 'userPrincipalName required' });
      res.status(201).json(
        this.seedUser({
          userPrincipalName: b.userPrincipalName,
          displayName: typeof b.displayName === 'string' ? b.displayName : undefined,
          employeeId: typeof b.employeeId === 'string' ? b.employeeId : undefined,
        }),
      );
    });
    return app;
  }

  async start(): Promise<string> {
    this.server = https.createServer({ key: this.tls.key, cert: this.tls.cert }, this.app());
    this.url = `https://localhost:${await listen(this.server, this.opts.port ?? 0)}`;
    return this.url;
  }

  async stop(): Promise<void> {
    if (this.server) await closeServer(this.server);
  }
}

function licenseState(skuId: string, assignedByGroup: string | null): GraphLicenseAssignmentState {
  return {
    skuId,
    assignedByGroup,
    disabledPlans: [],
    error: 'None',
    lastUpdatedDateTime: now(),
    state: 'Active',
  };
}

/** One clause of a users `$filter`: a property (or a collection under `any`) equal to a value. */
interface FilterClause {
  prop: 'employeeId' | 'userPrincipalName' | 'mail' | 'proxyAddresses' | 'otherMails';
  value: string;
}

const SCALAR_PROPS = new Set(['employeeId', 'userPrincipalName', 'mail']);
const COLLECTION_PROPS = new Set(['proxyAddresses', 'otherMails']);
const CLAUSE =
  /^\s*(?:(\w+)\s+eq\s+'((?:[^']|'')*)'|(\w+)\/any\((\w+):\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\))\s*/i;

/**
 * Parses the `$filter` forms matching sends: `prop eq 'v'` for employeeId, userPrincipalName and mail;
 * `proxyAddresses/any(p:p eq 'v')` and `otherMails/any(o:o eq 'v')`; joined by `or`. Anything else is
 * refused as Graph refuses a clause it does not support.
 */
function parseUserFilter(filter: string): FilterClause[] | { error: string } {
  const out: FilterClause[] = [];
  let rest = filter;
  for (;;) {
    const m = CLAUSE.exec(rest);
    const prop = m?.[1] ?? m?.[3];
    const unsupported = (p: string) => ({
      error: `Unsupported or invalid query filter clause specified for property '${p}' of resource 'User'.`,
    });
    if (!m || !prop) return unsupported(rest.trim().split(/[\s/(]/)[0] ?? rest);
    if (m[1] !== undefined) {
      if (!SCALAR_PROPS.has(prop)) return unsupported(prop);
      out.push({ prop: prop as FilterClause['prop'], value: m[2]!.replaceAll("''", "'") });
    } else {
      if (!COLLECTION_PROPS.has(prop) || m[4] !== m[5]) return unsupported(prop);
      out.push({ prop: prop as FilterClause['prop'], value: m[6]!.replaceAll("''", "'") });
    }
    rest = rest.slice(m[0].length);
    if (rest === '') return out;
    const or = /^or\s+/i.exec(rest);
    if (!or)
      return {
        error: `Syntax error: character '${rest[0] ?? ''}' is not valid at position ${filter.length - rest.length} in '${filter}'.`,
      };
    rest = rest.slice(or[0].length);
  }
}

/** A user's values of every property a filter clause can name. */
function filterValues(u: GraphUserState): Record<FilterClause['prop'], string[]> {
  return {
    employeeId: u.employeeId ? [u.employeeId] : [],
    userPrincipalName: [u.userPrincipalName],
    mail: u.mail ? [u.mail] : [],
    proxyAddresses: u.proxyAddresses,
    otherMails: u.otherMails,
  };
}

/** Fills fields a user record saved by an older stand-in lacks (state restored from JSON). */
function normalise(u: GraphUserState): GraphUserState {
  u.employeeId ??= null;
  u.proxyAddresses ??= u.mail ? [`SMTP:${u.mail}`] : [];
  u.otherMails ??= [];
  u.authenticationMethods ??= [authMethods.password()];
  u.defaultMethodId ??= null;
  u.lockDefaultMethod ??= false;
  u.memberOf ??= [];
  u.licenseAssignmentStates ??= [];
  u.managerId ??= null;
  u.ownedApplications ??= [];
  u.methodDeleteCount ??= 0;
  u.groupRemoveCount ??= 0;
  u.licenceRemoveCount ??= 0;
  for (const a of u.ownedApplications) {
    a.secretRemoveCount ??= 0;
    a.certificateRemoveCount ??= 0;
  }
  return u;
}
