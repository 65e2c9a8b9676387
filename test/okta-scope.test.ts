/**
 * The Okta connector's notice-period scope (`notice: scope`) against the Okta stand-in
 * (standins/okta.ts), built from a catalog as the worker builds it: every admin role assignment and the
 * privileged groups (by id and by name) go, sessions and OAuth tokens are cleared (remembered devices
 * kept), the user stays ACTIVE with its factors, apps and other groups; confirmed by reading back; a
 * repeat changes nothing. Red: a role left through a group the catalog does not name (named), a
 * privileged group the org lacks (named, nothing changed), a token that may not remove roles. A 429
 * waits until `X-Rate-Limit-Reset`, and a retry after one halfway finishes the work.
 */
import { randomBytes } from 'node:crypto';
import type { RevocationConnector, Subject } from '../activities/connector';
import { createConnectors } from '../activities/connectors';
import type { OktaAccount } from '../activities/okta';
import { parseCatalog } from '../config/catalog';
import { OktaStandIn, type OktaStandInUser } from '../standins/okta';

const TOKEN = `00${randomBytes(12).toString('hex')}`;
const ENV = { OKTA_API_TOKEN: TOKEN };
let okta: OktaStandIn;
let account: RevocationConnector<OktaAccount>;
let mfa: RevocationConnector<OktaAccount>;
/** The privileged groups: Okta Admins (named in the catalog by id) and Prod Access (by name). */
let admins: string;
let prod: string;
const opened: RevocationConnector[] = [];

const hex = () => randomBytes(3).toString('hex');

const catalogYaml = (privilegedGroups: string[]) => `
version: 1
organization:
  hr: { name: HR, email: hr@example.com }
  it: { name: IT, email: it@example.com }
systems:
  - id: okta
    name: Okta
    category: identity
    tier: identity
    integration: api
    sso: false
    notice: scope
    owner: { name: Identity Team, email: identity@example.com }
    escalationOwner: { name: CISO, email: ciso@example.com }
    connector: &okta
      kind: okta
      orgUrl: "${okta.url}"
      tokenEnv: OKTA_API_TOKEN
      privilegedGroups: ${JSON.stringify(privilegedGroups)}
  - id: okta-mfa
    name: Okta MFA
    category: identity
    tier: mfa
    integration: api
    sso: false
    owner: { name: Identity Team, email: identity@example.com }
    escalationOwner: { name: CISO, email: ciso@example.com }
    connector: { <<: *okta, scope: factors }
`;

function build(privilegedGroups: string[], env: Record<string, string> = ENV) {
  const c = parseCatalog(catalogYaml(privilegedGroups), 'okta-catalog.yaml', env);
  const reg = createConnectors(c, env);
  opened.push(...reg.values());
  return {
    account: reg.get('okta') as RevocationConnector<OktaAccount>,
    mfa: reg.get('okta-mfa') as RevocationConnector<OktaAccount>,
  };
}

/** A leaver who administers Okta: two admin roles, both privileged groups, plus Staff, Engineering, apps and factors. */
function leaver(extraGroups: string[] = []) {
  const login = `dana.${hex()}@example.com`;
  const wiki = okta.addApp(`Wiki ${hex()}`);
  const crm = okta.addApp(`CRM ${hex()}`);
  const staff = okta.addGroup(`Staff ${hex()}`);
  const eng = okta.addGroup(`Engineering ${hex()}`, [wiki]);
  const cli = okta.addClient(`Build CLI ${hex()}`);
  const u = okta.seedUser(login, {
    employeeNumber: `E-${hex()}`,
    factors: ['token:software:totp', 'webauthn'],
    groups: [admins, prod, staff, eng, ...extraGroups],
    apps: [crm],
    tokens: [cli],
    sessions: 2,
    roles: ['SUPER_ADMIN', 'HELP_DESK_ADMIN'],
  });
  const subject: Subject = {
    departureId: `dep_${hex()}`,
    employeeId: u.profile.employeeNumber!,
    employeeName: 'Dana Reyes',
    workEmail: login,
    confirmedAt: new Date(Date.now() - 60_000).toISOString(),
    managerEmail: null,
  };
  return { u, subject, staff, eng };
}

async function scoped(c: RevocationConnector<OktaAccount>, subject: Subject) {
  const m = await c.find(subject);
  expect(m.evidence.outcome).toBe('found');
  return c.scope!(subject, m.account!);
}

/** The writes the stand-in received since the last reset. */
const writes = () => okta.control.calls.filter((c) => c.method !== 'GET').map((c) => `${c.method} ${c.path}`);

/** The user's role assignments as a client of the stand-in reads them (the tests' own eyes). */
async function rolesOf(u: OktaStandInUser): Promise<{ type: string; assignmentType: string }[]> {
  const r = await fetch(`${okta.url}/api/v1/users/${u.id}/roles`, {
    headers: { authorization: `SSWS ${TOKEN}` },
  });
  expect(r.status).toBe(200);
  return (await r.json()) as { type: string; assignmentType: string }[];
}

beforeAll(async () => {
  okta = new OktaStandIn(TOKEN);
  await okta.start();
  admins = okta.addGroup('Okta Admins');
  prod = okta.addGroup('Prod Access');
  ({ account, mfa } = build([admins, 'Prod Access']));
});
afterEach(() => okta.reset());
afterAll(async () => {
  for (const c of opened) await c.close?.();
  await okta.stop();
});

test('scope: admin roles and privileged groups removed, sessions and tokens cleared; the user stays ACTIVE with factors, apps and other groups; a repeat changes nothing', async () => {
  const { u, subject, staff, eng } = leaver();
  expect((await rolesOf(u)).map((r) => r.type)).toEqual(['SUPER_ADMIN', 'HELP_DESK_ADMIN']);
  okta.control.reset();

  const r = await scoped(account, subject);
  expect(r.changes).toEqual([
    'cleared Okta sessions and OAuth tokens (oauthTokens=true, forgetDevices=false)',
    'removed admin role Super Administrator (SUPER_ADMIN)',
    'removed admin role Help Desk Administrator (HELP_DESK_ADMIN)',
    'removed from group Okta Admins',
    'removed from group Prod Access',
  ]);
  const [superAdmin, helpDesk] = okta.control.calls
    .filter((c) => c.method === 'DELETE' && c.path.includes('/roles/'))
    .map((c) => c.path);
  expect(writes()).toEqual([
    `DELETE /api/v1/users/${u.id}/sessions?oauthTokens=true&forgetDevices=false`,
    `DELETE ${superAdmin}`,
    `DELETE ${helpDesk}`,
    `DELETE /api/v1/groups/${admins}/users/${u.id}`,
    `DELETE /api/v1/groups/${prod}/users/${u.id}`,
  ]);
  expect(superAdmin).toMatch(new RegExp(`^/api/v1/users/${u.id}/roles/[A-Z2-7]{20}$`));

  // What stays: the account, its factors, its apps and its ordinary groups.
  expect(u).toMatchObject({ status: 'ACTIVE', sessions: 0, roles: [] });
  expect(u.factors).toHaveLength(2);
  expect(u.apps.size).toBe(1);
  expect([...u.groups].sort()).toEqual([staff, eng].sort());
  expect(u.tokens.size).toBe(0);
  expect(u.sessionClears).toEqual([{ oauthTokens: 'true', forgetDevices: 'false' }]);
  expect(await rolesOf(u)).toEqual([]);

  expect(r.confirmation).toMatchObject({
    id: u.id,
    login: u.profile.login,
    status: 'ACTIVE',
    adminRoles: 0,
    privilegedGroups: 0,
    privilegedGroupsChecked: ['Okta Admins', 'Prod Access'],
    groupsKept: ['Everyone', expect.stringMatching(/^Staff /), expect.stringMatching(/^Engineering /)],
    sessions: expect.stringMatching(/oauthTokens=true&forgetDevices=false \(204\); not readable$/),
    readBack: ['status', 'role assignments', 'groups'],
    notReadable: [expect.stringContaining('no API that lists a user’s sessions'), expect.any(String)],
  });
  expect(r.detail).toBe(
    'admin roles and privileged groups removed (2 admin roles, 2 groups); Okta sessions and OAuth tokens cleared (sessions cannot be listed in Okta, so not read back); account stays active',
  );

  // Idempotent: nothing left to remove, no write at all (no second session clear).
  okta.control.reset();
  const again = await scoped(account, subject);
  expect(again.changes).toEqual([]);
  expect(writes()).toEqual([]);
  expect(again.detail).toBe('no admin role or privileged group to remove (none left); account stays active');
  expect(again.confirmation['sessions']).toBe(
    'not cleared in this run: nothing was left to remove; not readable',
  );
  expect(u.sessionClears).toHaveLength(1);
});

test('a role through a privileged group goes with the membership; one through a group the catalog does not name is red, naming it', async () => {
  okta.assignRole(admins, 'ORG_ADMIN');
  const helpdesk = okta.addGroup(`Helpdesk ${hex()}`);
  okta.assignRole(helpdesk, 'USER_ADMIN');
  try {
    const { u, subject } = leaver([helpdesk]);
    expect((await rolesOf(u)).map((r) => `${r.type}/${r.assignmentType}`)).toEqual([
      'SUPER_ADMIN/USER',
      'HELP_DESK_ADMIN/USER',
      'ORG_ADMIN/GROUP',
      'USER_ADMIN/GROUP',
    ]);
    const err = (await scoped(account, subject).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ name: 'ConfirmationMismatchError' });
    expect(err.message).toBe(
      `Okta still shows, after scoping: admin role Group Administrator (USER_ADMIN) through group ${okta.groups.get(helpdesk)!.name}, which the catalog does not name (add it to privilegedGroups)`,
    );
    // The rest was done: the user's own roles and the privileged memberships are gone.
    expect(u.roles).toEqual([]);
    expect(u.groups.has(admins)).toBe(false);
    expect((await rolesOf(u)).map((r) => r.type)).toEqual(['USER_ADMIN']);
    expect(u.status).toBe('ACTIVE');
  } finally {
    okta.groups.get(admins)!.roles.length = 0;
  }
});

test('a privileged group the org lacks (by name or id), or a name two groups share, is red, named, with nothing changed', async () => {
  const { u, subject } = leaver();
  const { account: wrong } = build([admins, 'Ghosts', '00g00000000000000000']);
  okta.control.reset();
  const err = (await scoped(wrong, subject).catch((e: unknown) => e)) as Error;
  expect(err).toMatchObject({ name: 'TargetRejectedError' });
  expect(err.message).toBe(
    'Okta has no group "Ghosts", no group "00g00000000000000000" (connector.privilegedGroups: a group id or an exact group name): nothing was changed; correct the catalog',
  );
  const twin = `Twins ${hex()}`;
  okta.addGroup(twin);
  okta.addGroup(twin);
  const { account: twins } = build([twin]);
  await expect(scoped(twins, subject)).rejects.toMatchObject({
    name: 'TargetRejectedError',
    message: expect.stringContaining(`Okta has 2 groups named "${twin}"`),
  });
  expect(writes()).toEqual([]);
  expect(u.roles).toHaveLength(2);
  expect(u.groups.has(admins)).toBe(true);
  expect(u.sessions).toBe(2);
});

test('rate limited: a 429 E0000047 waits until X-Rate-Limit-Reset; a retry after one halfway finishes the work', async () => {
  const { u, subject } = leaver();
  const m = await account.find(subject);
  okta.throttle(1, 30);
  const err = await account.scope!(subject, m.account!).catch((e: unknown) => e);
  expect(err).toMatchObject({
    name: 'TargetThrottledError',
    message: expect.stringContaining('429 E0000047'),
  });
  const wait = (err as { retryAfterMs: number }).retryAfterMs;
  expect(wait).toBeGreaterThanOrEqual(29_000);
  expect(wait).toBeLessThanOrEqual(32_000);
  expect(u.roles).toHaveLength(2);

  // Halfway: the sessions are cleared and one role is gone when Okta throttles the second.
  const [first, second] = u.roles.map((r) => r.id);
  okta.control.inject({ status: 429, times: 1, method: 'DELETE', pathIncludes: `/roles/${second!}` });
  await expect(account.scope!(subject, m.account!)).rejects.toMatchObject({ name: 'TargetThrottledError' });
  expect(u.roles.map((r) => r.id)).not.toContain(first);
  expect(u.roles).toHaveLength(1);
  expect(u.groups.has(admins)).toBe(true);
  // The retry clears the sessions again (something was still to remove) and finishes.
  const done = await account.scope!(subject, m.account!);
  expect(done.changes).toEqual([
    'cleared Okta sessions and OAuth tokens (oauthTokens=true, forgetDevices=false)',
    'removed admin role Help Desk Administrator (HELP_DESK_ADMIN)',
    'removed from group Okta Admins',
    'removed from group Prod Access',
  ]);
  expect(u.sessionClears).toHaveLength(2);
  expect(await rolesOf(u)).toEqual([]);
});

test('a token that may not remove admin roles is red, naming the scope and the role it needs', async () => {
  const { u, subject } = leaver();
  okta.deny('/roles/', 'DELETE');
  const err = (await scoped(account, subject).catch((e: unknown) => e)) as Error;
  expect(err).toMatchObject({ name: 'TargetAuthError' });
  expect(err.message).toMatch(
    /^Okta DELETE \/users\/\w+\/roles\/\w+: 403 E0000006 .*: the token lacks the permission: needs scope okta\.roles\.manage; an admin role that may manage admin role assignments \(Super Administrator\)$/,
  );
  expect(err.message).not.toContain(TOKEN);
  expect(u.roles).toHaveLength(2);
});

test('only the account entry scopes: the factors entry has no scope', () => {
  expect(typeof account.scope).toBe('function');
  expect(mfa.scope).toBeUndefined();
});
