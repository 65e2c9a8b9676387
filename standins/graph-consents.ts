/**
 * STAND-IN for the parts of Microsoft Graph (v1.0) that say which third-party applications a user
 * authorised, part of the Graph stand-in (mounted like graph-roles.ts):
 * - delegated permission grants (`oAuth2PermissionGrant`: `id`, `clientId` and `resourceId` the object
 *   ids of the client and resource service principals, `consentType` `Principal`, `principalId`,
 *   `scope` space-separated): `GET /oauth2PermissionGrants` with `$filter` `principalId`, `clientId`,
 *   `consentType` or `resourceId` `eq '…'` (other filters: 400 `Request_UnsupportedQuery`),
 *   `GET`/`DELETE /oauth2PermissionGrants/{id}` (204; unknown: 404 `Request_ResourceNotFound`);
 *   `GET /users/{id}/oauth2PermissionGrants` answers 403 `Authorization_RequestDenied`: Graph documents
 *   that call for delegated permissions only, and every token of the stand-in is an application's;
 * - app role assignments: `GET /users/{id}/appRoleAssignments` (`appRoleId`, `principalId`,
 *   `principalType`, `resourceId`, `resourceDisplayName`, …) and `DELETE
 *   /users/{id}/appRoleAssignments/{id}` (204; unknown: 404);
 * - `GET /servicePrincipals/{id}` and `GET /servicePrincipals(appId='…')` (`id`, `appId`,
 *   `displayName`, `appRoles`; `$select` honoured).
 * Grants and assignments live on the user records (with copies of their service principals, as group
 * memberships keep copies of their groups), so the stand-in's saved state keeps them.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import express, { type Request, type Response } from 'express';

/** A service principal (an application's instance in the tenant). */
export interface GraphServicePrincipal {
  id: string;
  appId: string;
  displayName: string;
  appRoles: { id: string; value: string | null; displayName: string }[];
}

/** A delegated permission grant of one user (`consentType: Principal`). */
export interface GraphDelegatedGrant {
  id: string;
  client: GraphServicePrincipal;
  resource: GraphServicePrincipal;
  scope: string;
}

/** An app role assignment of one user. */
export interface GraphAppRoleGrant {
  id: string;
  appRoleId: string;
  resource: GraphServicePrincipal;
  createdDateTime: string;
}

/** The id Graph uses for an assignment without a specific role ("default access"). */
export const DEFAULT_ACCESS_ROLE = '00000000-0000-0000-0000-000000000000';

/** Microsoft Graph's own service principal (its appId is the same in every tenant). */
export const MICROSOFT_GRAPH_SP: GraphServicePrincipal = {
  id: '2b6e0a6f-8c2a-4f3b-9d1e-6c0f1a2b3c4d',
  appId: '00000003-0000-0000-c000-000000000000',
  displayName: 'Microsoft Graph',
  appRoles: [],
};

/** A service principal to seed (a third-party app consented to, or an enterprise app). */
export function servicePrincipal(p: {
  displayName: string;
  appId?: string;
  roles?: string[];
}): GraphServicePrincipal {
  return {
    id: randomUUID(),
    appId: p.appId ?? randomUUID(),
    displayName: p.displayName,
    appRoles: (p.roles ?? []).map((value) => ({ id: randomUUID(), value, displayName: value })),
  };
}

/** A user's consent to `client` for `scopes` of `resource` (Microsoft Graph by default). */
export function delegatedGrant(
  client: GraphServicePrincipal,
  scopes: string[],
  resource: GraphServicePrincipal = MICROSOFT_GRAPH_SP,
): GraphDelegatedGrant {
  // Graph's grant ids are 64 base64url characters.
  return { id: randomBytes(48).toString('base64url'), client, resource, scope: scopes.join(' ') };
}

/** An assignment of the user to `resource` (its role `value`, or default access). */
export function appRoleGrant(resource: GraphServicePrincipal, value?: string): GraphAppRoleGrant {
  const role = resource.appRoles.find((r) => r.value === value);
  return {
    id: randomBytes(32).toString('base64url'),
    appRoleId: role?.id ?? DEFAULT_ACCESS_ROLE,
    resource,
    createdDateTime: '2025-05-06T07:08:09Z',
  };
}

interface ConsentUser {
  id: string;
  displayName: string;
  oauth2PermissionGrants?: GraphDelegatedGrant[];
  appRoleAssignments?: GraphAppRoleGrant[];
  /** Grants and assignments deleted (tests prove nothing was done twice). */
  consentDeleteCount?: number;
}

/** What the router needs of the Graph stand-in. */
export interface ConsentHost<U extends ConsentUser> {
  users: Map<string, U>;
  /** A user by object id or userPrincipalName. */
  find: (idOrUpn: string) => U | undefined;
  url: () => string;
  error: (status: number, code: string, message: string, req: Request) => unknown;
}

const FILTER = /^(principalId|clientId|consentType|resourceId) eq '([^']*)'$/;
const notFound = (id: string) =>
  `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`;

/** The consent routes, mounted under `/v1.0` behind the stand-in's bearer check. */
export function consentRoutes<U extends ConsentUser>(host: ConsentHost<U>): express.Router {
  const r = express.Router();
  const fail = (req: Request, res: Response, status: number, code: string, message: string) =>
    res.status(status).json(host.error(status, code, message, req));
  const grantsOf = (u: U) => (u.oauth2PermissionGrants ??= []);
  const assignmentsOf = (u: U) => (u.appRoleAssignments ??= []);
  const context = (what: string) => `${host.url()}/v1.0/$metadata#${what}`;

  const grantView = (u: U, g: GraphDelegatedGrant) => ({
    clientId: g.client.id,
    consentType: 'Principal',
    id: g.id,
    principalId: u.id,
    resourceId: g.resource.id,
    scope: g.scope,
  });
  const assignmentView = (u: U, a: GraphAppRoleGrant) => ({
    id: a.id,
    deletedDateTime: null,
    appRoleId: a.appRoleId,
    createdDateTime: a.createdDateTime,
    principalDisplayName: u.displayName,
    principalId: u.id,
    principalType: 'User',
    resourceDisplayName: a.resource.displayName,
    resourceId: a.resource.id,
  });
  const allGrants = () => [...host.users.values()].flatMap((u) => grantsOf(u).map((g) => ({ u, g })));
  const grantById = (id: string) => allGrants().find((x) => x.g.id === id);

  r.get('/oauth2PermissionGrants', (req, res) => {
    const filter = typeof req.query.$filter === 'string' ? req.query.$filter : undefined;
    const m = filter === undefined ? null : FILTER.exec(filter.trim());
    if (filter !== undefined && !m)
      return fail(
        req,
        res,
        400,
        'Request_UnsupportedQuery',
        'Unsupported or invalid query filter clause specified for resource oAuth2PermissionGrant.',
      );
    const value = allGrants()
      .map(({ u, g }) => grantView(u, g))
      .filter((v) => !m || v[m[1] as keyof typeof v] === m[2]);
    res.json({ '@odata.context': context('oauth2PermissionGrants'), value });
  });
  r.get('/oauth2PermissionGrants/:gid', (req, res) => {
    const found = grantById(String(req.params.gid));
    if (!found) return fail(req, res, 404, 'Request_ResourceNotFound', notFound(String(req.params.gid)));
    res.json({ '@odata.context': context('oauth2PermissionGrants/$entity'), ...grantView(found.u, found.g) });
  });
  r.delete('/oauth2PermissionGrants/:gid', (req, res) => {
    const found = grantById(String(req.params.gid));
    if (!found) return fail(req, res, 404, 'Request_ResourceNotFound', notFound(String(req.params.gid)));
    found.u.oauth2PermissionGrants = grantsOf(found.u).filter((g) => g !== found.g);
    found.u.consentDeleteCount = (found.u.consentDeleteCount ?? 0) + 1;
    res.status(204).end();
  });
  r.get('/users/:id/oauth2PermissionGrants', (req, res) =>
    fail(req, res, 403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.'),
  );

  const userOr404 = (req: Request, res: Response) => {
    const u = host.find(String(req.params.id));
    if (!u) fail(req, res, 404, 'Request_ResourceNotFound', notFound(String(req.params.id)));
    return u;
  };
  r.get('/users/:id/appRoleAssignments', (req, res) => {
    const u = userOr404(req, res);
    if (u)
      res.json({
        '@odata.context': context('appRoleAssignments'),
        value: assignmentsOf(u).map((a) => assignmentView(u, a)),
      });
  });
  r.delete('/users/:id/appRoleAssignments/:aid', (req, res) => {
    const u = userOr404(req, res);
    if (!u) return;
    const held = assignmentsOf(u);
    const i = held.findIndex((a) => a.id === req.params.aid);
    if (i < 0) return fail(req, res, 404, 'Request_ResourceNotFound', notFound(String(req.params.aid)));
    held.splice(i, 1);
    u.consentDeleteCount = (u.consentDeleteCount ?? 0) + 1;
    res.status(204).end();
  });

  /** Every service principal the users' grants and assignments name (and Microsoft Graph's). */
  const principals = () => {
    const all = new Map([[MICROSOFT_GRAPH_SP.id, MICROSOFT_GRAPH_SP]]);
    for (const u of host.users.values()) {
      for (const g of grantsOf(u)) all.set(g.client.id, g.client).set(g.resource.id, g.resource);
      for (const a of assignmentsOf(u)) all.set(a.resource.id, a.resource);
    }
    return all;
  };
  const spView = (req: Request, res: Response, sp: GraphServicePrincipal | undefined, key: string) => {
    if (!sp) return fail(req, res, 404, 'Request_ResourceNotFound', notFound(key));
    const full: Record<string, unknown> = {
      id: sp.id,
      appId: sp.appId,
      displayName: sp.displayName,
      servicePrincipalType: 'Application',
      accountEnabled: true,
      appRoles: sp.appRoles.map((x) => ({
        allowedMemberTypes: ['User'],
        description: x.displayName,
        displayName: x.displayName,
        id: x.id,
        isEnabled: true,
        origin: 'Application',
        value: x.value,
      })),
    };
    const select = typeof req.query.$select === 'string' ? req.query.$select.split(',') : null;
    const body = select ? Object.fromEntries(select.map((k) => [k, full[k]])) : full;
    res.json({ '@odata.context': context('servicePrincipals/$entity'), ...body });
  };
  r.get(/^\/servicePrincipals\(appId='([^']+)'\)$/, (req, res) => {
    const appId = (req.params as Record<string, string>)[0]!;
    spView(
      req,
      res,
      [...principals().values()].find((p) => p.appId === appId),
      appId,
    );
  });
  r.get('/servicePrincipals/:sid', (req, res) =>
    spView(req, res, principals().get(String(req.params.sid)), String(req.params.sid)),
  );
  return r;
}
