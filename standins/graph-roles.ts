/**
 * STAND-IN for Microsoft Graph's directory role management (v1.0), part of the Graph stand-in:
 * - `GET /roleManagement/directory/roleAssignments?$filter=principalId eq '…'` and `DELETE
 *   /roleManagement/directory/roleAssignments/{id}` (204; an unknown id is 404
 *   `Request_ResourceNotFound`);
 * - `GET /roleManagement/directory/roleEligibilitySchedules?$filter=principalId eq '…'` (PIM eligible
 *   assignments) and `POST /roleManagement/directory/roleEligibilityScheduleRequests` with `action:
 *   adminRemove` (201 with the request, status `Revoked`; no such eligibility is 400
 *   `RoleAssignmentDoesNotExist`; a missing principalId, roleDefinitionId or directoryScopeId is 400);
 * - `GET /groups?$filter=displayName eq '…'` (compared without regard to case).
 * Other filters get Graph's 400 `Request_UnsupportedQuery`. Assignments live on the user records, so
 * the stand-in's saved state keeps them.
 */
import { randomUUID } from 'node:crypto';
import express, { type Request, type Response } from 'express';

/** One directory role held by a user (active assignment or PIM eligibility). */
export interface GraphRoleHolding {
  id: string;
  roleDefinitionId: string;
  directoryScopeId: string;
}

/** Built-in role template ids (the ids Graph uses for the built-in roles in every tenant). */
export const DIRECTORY_ROLES = {
  globalAdministrator: '62e90394-69f5-4237-9190-012177145e10',
  userAdministrator: 'fe930be7-5e62-47db-91af-98c3a49a38b1',
  privilegedRoleAdministrator: 'e8611ab8-c189-46e8-94e1-60213ab1f814',
} as const;

/** A holding of role `roleDefinitionId` at the tenant scope. */
export const roleHolding = (roleDefinitionId: string): GraphRoleHolding => ({
  id: randomUUID(),
  roleDefinitionId,
  directoryScopeId: '/',
});

interface RoleUser {
  id: string;
  roleAssignments?: GraphRoleHolding[];
  roleEligibilities?: GraphRoleHolding[];
}

/** What the router needs of the Graph stand-in. */
export interface RoleHost<U extends RoleUser> {
  users: Map<string, U>;
  groups: Map<string, { id: string; displayName: string }>;
  url: () => string;
  error: (status: number, code: string, message: string, req: Request) => unknown;
  groupView: (g: { id: string; displayName: string }) => Record<string, unknown>;
}

const PRINCIPAL = /^principalId eq '([^']+)'$/;
const DISPLAY_NAME = /^displayName eq '((?:[^']|'')*)'$/;

/** The role management routes, mounted under `/v1.0` behind the stand-in's bearer check. */
export function roleRoutes<U extends RoleUser>(host: RoleHost<U>): express.Router {
  const r = express.Router();
  const fail = (req: Request, res: Response, status: number, code: string, message: string) =>
    res.status(status).json(host.error(status, code, message, req));
  const filterOf = (req: Request) => (typeof req.query.$filter === 'string' ? req.query.$filter : '');
  const holdings = (u: U, kind: 'roleAssignments' | 'roleEligibilities') => (u[kind] ??= []);

  const list =
    (kind: 'roleAssignments' | 'roleEligibilities', context: string) => (req: Request, res: Response) => {
      const m = PRINCIPAL.exec(filterOf(req));
      if (!m)
        return fail(
          req,
          res,
          400,
          'Request_UnsupportedQuery',
          'This stand-in filters by principalId eq only.',
        );
      const u = host.users.get(m[1]!);
      const value = (u ? holdings(u, kind) : []).map((h) => ({
        id: h.id,
        principalId: m[1],
        roleDefinitionId: h.roleDefinitionId,
        directoryScopeId: h.directoryScopeId,
        ...(kind === 'roleEligibilities' ? { memberType: 'Direct', status: 'Provisioned' } : {}),
      }));
      res.json({ '@odata.context': `${host.url()}/v1.0/$metadata#${context}`, value });
    };
  r.get(
    '/roleManagement/directory/roleAssignments',
    list('roleAssignments', 'roleManagement/directory/roleAssignments'),
  );
  r.get(
    '/roleManagement/directory/roleEligibilitySchedules',
    list('roleEligibilities', 'roleManagement/directory/roleEligibilitySchedules'),
  );

  r.delete('/roleManagement/directory/roleAssignments/:id', (req, res) => {
    const id = String(req.params.id);
    for (const u of host.users.values()) {
      const held = holdings(u, 'roleAssignments');
      const i = held.findIndex((h) => h.id === id);
      if (i < 0) continue;
      held.splice(i, 1);
      return res.status(204).end();
    }
    fail(req, res, 404, 'Request_ResourceNotFound', `Resource '${id}' does not exist.`);
  });

  r.post('/roleManagement/directory/roleEligibilityScheduleRequests', express.json(), (req, res) => {
    const b = req.body as Record<string, unknown>;
    for (const field of ['action', 'principalId', 'roleDefinitionId', 'directoryScopeId'])
      if (typeof b[field] !== 'string')
        return fail(req, res, 400, 'Request_BadRequest', `The request is missing '${field}'.`);
    if (b.action !== 'adminRemove')
      return fail(req, res, 400, 'Request_BadRequest', 'This stand-in accepts action adminRemove only.');
    const u = host.users.get(b.principalId as string);
    const held = u ? holdings(u, 'roleEligibilities') : [];
    const i = held.findIndex(
      (h) => h.roleDefinitionId === b.roleDefinitionId && h.directoryScopeId === b.directoryScopeId,
    );
    if (i < 0)
      return fail(req, res, 400, 'RoleAssignmentDoesNotExist', 'The Role assignment does not exist.');
    held.splice(i, 1);
    res.status(201).json({
      '@odata.context': `${host.url()}/v1.0/$metadata#roleManagement/directory/roleEligibilityScheduleRequests/$entity`,
      id: randomUUID(),
      action: 'adminRemove',
      status: 'Revoked',
      principalId: b.principalId,
      roleDefinitionId: b.roleDefinitionId,
      directoryScopeId: b.directoryScopeId,
      justification: typeof b.justification === 'string' ? b.justification : null,
      createdDateTime: new Date().toISOString(),
    });
  });

  r.get('/groups', (req, res) => {
    const m = DISPLAY_NAME.exec(filterOf(req));
    if (!m)
      return fail(
        req,
        res,
        400,
        'Request_UnsupportedQuery',
        'This stand-in filters groups by displayName eq only.',
      );
    // Compared without regard to case, as Entra compares string properties (the users filter too).
    const name = m[1]!.replace(/''/g, "'").toLowerCase();
    const value = [...host.groups.values()]
      .filter((g) => g.displayName.toLowerCase() === name)
      .map(host.groupView);
    res.json({ '@odata.context': `${host.url()}/v1.0/$metadata#groups`, value });
  });
  return r;
}
