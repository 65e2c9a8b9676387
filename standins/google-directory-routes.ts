/**
 * STAND-IN routes of the Admin SDK Directory API that the Google connector uses on a found user: OAuth
 * tokens, app passwords (asps), backup verification codes, 2-step verification, the groups a user is a
 * direct member of and their membership, mobile devices and their actions. Google's documented shapes
 * (`kind`, `items`, a list field left out when empty, 204 on deletes and actions, 404 `notFound`). The
 * status a device shows after `admin_account_wipe` is not documented (U): `ACCOUNT_WIPING` here.
 */
import type express from 'express';
import type { Request, Response } from 'express';
import type { GoogleStandIn, GoogleStandInUser, StandInDevice } from './google';
import { googleError } from './google-oauth';

/** The device status the stand-in shows once an account wipe is asked (Google does not list its values: U). */
export const ACCOUNT_WIPING = 'ACCOUNT_WIPING';

export function mountDirectoryRoutes(app: express.Express, g: GoogleStandIn): void {
  const D = '/admin/directory/v1';
  const notFound = (res: Response, what: string) =>
    res.status(404).json(googleError(404, `Resource Not Found: ${what}`, 'notFound'));
  const withUser =
    (h: (u: GoogleStandInUser, req: Request, res: Response) => void) => (req: Request, res: Response) => {
      const u = g.user(String(req.params['k']));
      if (!u) return notFound(res, 'userKey');
      h(u, req, res);
    };
  app.get(
    `${D}/users/:k/tokens`,
    withUser((u, _q, res) =>
      res.json({
        kind: 'admin#directory#tokenList',
        items: u.tokens.map((t) => ({
          kind: 'admin#directory#token',
          userKey: u.id,
          anonymous: false,
          nativeApp: false,
          ...t,
        })),
      }),
    ),
  );
  app.delete(
    `${D}/users/:k/tokens/:cid`,
    withUser((u, req, res) => {
      const n = u.tokens.length;
      u.tokens = u.tokens.filter((t) => t.clientId !== req.params['cid']);
      if (u.tokens.length === n) return notFound(res, 'clientId');
      res.status(204).end();
    }),
  );
  app.get(
    `${D}/users/:k/asps`,
    withUser((u, _q, res) =>
      res.json({
        kind: 'admin#directory#asps',
        items: u.asps.map((a) => ({ kind: 'admin#directory#asp', userKey: u.id, ...a })),
      }),
    ),
  );
  app.delete(
    `${D}/users/:k/asps/:codeId`,
    withUser((u, req, res) => {
      const n = u.asps.length;
      u.asps = u.asps.filter((a) => String(a.codeId) !== req.params['codeId']);
      if (u.asps.length === n) return notFound(res, 'codeId');
      res.status(204).end();
    }),
  );
  app.get(
    `${D}/users/:k/verificationCodes`,
    withUser((u, _q, res) =>
      res.json({
        kind: 'admin#directory#verificationCodesList',
        items: u.backupCodes.map((c) => ({
          kind: 'admin#directory#verificationCode',
          userId: u.id,
          verificationCode: c,
        })),
      }),
    ),
  );
  app.post(
    `${D}/users/:k/verificationCodes/invalidate`,
    withUser((u, _q, res) => {
      u.backupCodes = [];
      res.status(204).end();
    }),
  );
  app.post(
    `${D}/users/:k/twoStepVerification/turnOff`,
    withUser((u, _q, res) => {
      u.isEnrolledIn2Sv = false;
      res.status(204).end();
    }),
  );
  app.get(`${D}/groups`, (req, res) => {
    const u = g.user(String(req.query['userKey'] ?? ''));
    if (!u) return notFound(res, 'userKey');
    const gs = [...g.groups.values()].filter((g) => g.members.has(u.id));
    res.json({
      kind: 'admin#directory#groups',
      ...(gs.length
        ? {
            groups: gs.map((g) => ({
              kind: 'admin#directory#group',
              id: g.id,
              email: g.email,
              name: g.name,
            })),
          }
        : {}),
    });
  });
  const member = (req: Request) => {
    const key = String(req.params['g']);
    const group = g.groups.get(key) ?? [...g.groups.values()].find((x) => x.email === key);
    const u = g.user(String(req.params['m']));
    return group && u && group.members.has(u.id) ? { g: group, u } : null;
  };
  app.get(`${D}/groups/:g/members/:m`, (req, res) => {
    const m = member(req);
    if (!m) return notFound(res, 'memberKey');
    res.json({
      kind: 'admin#directory#member',
      id: m.u.id,
      email: m.u.primaryEmail,
      role: 'MEMBER',
      type: 'USER',
      status: 'ACTIVE',
    });
  });
  app.delete(`${D}/groups/:g/members/:m`, (req, res) => {
    const m = member(req);
    if (!m) return notFound(res, 'memberKey');
    m.g.members.delete(m.u.id);
    res.status(204).end();
  });
  const deviceJson = (d: StandInDevice) => ({
    kind: 'admin#directory#mobiledevice',
    ...d,
    actions: undefined,
  });
  app.get(`${D}/customer/:cid/devices/mobile`, (req, res) => {
    const q = /^email:(\S+)$/.exec(String(req.query['query'] ?? ''));
    const ds = [...g.devices.values()].filter(
      (d) => !q || d.email.some((e) => e.toLowerCase() === q[1]!.toLowerCase()),
    );
    res.json({
      kind: 'admin#directory#mobiledevices',
      ...(ds.length ? { mobiledevices: ds.map(deviceJson) } : {}),
    });
  });
  app.get(`${D}/customer/:cid/devices/mobile/:rid`, (req, res) => {
    const d = g.devices.get(String(req.params['rid']));
    if (!d) return notFound(res, 'resourceId');
    res.json(deviceJson(d));
  });
  app.post(`${D}/customer/:cid/devices/mobile/:rid/action`, (req, res) => {
    const d = g.devices.get(String(req.params['rid']));
    if (!d) return notFound(res, 'resourceId');
    const action = String((req.body as { action?: unknown } | undefined)?.action ?? '');
    const next: Record<string, string> = {
      admin_account_wipe: ACCOUNT_WIPING,
      admin_remote_wipe: 'WIPING',
      block: 'BLOCKED',
      approve: 'APPROVED',
    };
    if (!next[action]) return res.status(400).json(googleError(400, 'Invalid Input: action', 'invalid'));
    d.actions.push(action);
    d.status = next[action]!;
    res.status(204).end();
  });
}
