/**
 * The Slack connector against the Slack stand-in (standins/slack.ts), built from a catalog as the worker
 * builds it: found by email (users.lookupByEmail) or the user id the HRIS named; deactivated through SCIM
 * after every session is reset, confirmed by SCIM (active: false) and users.info (deleted: true); the
 * Enterprise Grid workspace removal; a repeat changes nothing; not found and ambiguous per the matching
 * rules; 429 ratelimited waits Retry-After; 5xx and a dead API are unavailable; a missing scope is red and
 * named; the live audit before and after.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { RevocationConnector, Subject } from '../activities/connector';
import { createConnectors } from '../activities/connectors';
import { auditSystem } from '../activities/live-audit';
import { revokeMatched } from '../activities/matched';
import type { SlackAccount } from '../activities/slack';
import { parseCatalog, type CatalogSystem } from '../config/catalog';
import { SlackStandIn } from '../standins/slack';

const TOKEN = `xoxp-${randomBytes(12).toString('hex')}`;
const ENV = { SLACK_ADMIN_TOKEN: TOKEN };
let slack: SlackStandIn;
let org: CatalogSystem;
let ws: CatalogSystem;
let orgConn: RevocationConnector<SlackAccount>;
let wsConn: RevocationConnector<SlackAccount>;
const opened: RevocationConnector[] = [];

const hex = () => randomBytes(3).toString('hex');
const subjectOf = (workEmail: string, accounts?: Record<string, string>): Subject => ({
  departureId: `dep_${hex()}`,
  employeeId: `E-${hex()}`,
  employeeName: 'Dana Reyes',
  workEmail,
  confirmedAt: new Date(Date.now() - 60_000).toISOString(),
  managerEmail: null,
  ...(accounts ? { accounts } : {}),
});

const catalogYaml = (url: string) => `
version: 1
organization:
  hr: { name: HR, email: hr@example.com }
  it: { name: IT, email: it@example.com }
systems:
  - id: slack
    name: Slack
    category: productivity
    tier: application
    integration: api
    sso: true
    owner: { name: Collaboration Team, email: collab@example.com }
    escalationOwner: { name: CISO, email: ciso@example.com }
    match: { expectAccount: true }
    protected: { accounts: [owner@example.com] }
    connector: &slack { kind: slack, apiUrl: "${url}/api", scimUrl: "${url}/scim/v2", tokenEnv: SLACK_ADMIN_TOKEN }
  - id: slack-eng
    name: Slack (engineering workspace)
    category: productivity
    tier: application
    integration: api
    sso: true
    owner: { name: Collaboration Team, email: collab@example.com }
    escalationOwner: { name: CISO, email: ciso@example.com }
    connector: { <<: *slack, deactivate: workspace, teamId: T0ENG }
`;

function build(url: string, env: Record<string, string> = ENV) {
  const c = parseCatalog(catalogYaml(url), 'slack-catalog.yaml', env);
  const reg = createConnectors(c, env);
  opened.push(...reg.values());
  return {
    catalog: c,
    org: reg.get('slack') as RevocationConnector<SlackAccount>,
    ws: reg.get('slack-eng') as RevocationConnector<SlackAccount>,
  };
}

function leaver(teams = ['T0MAIN', 'T0ENG']) {
  const email = `dana.${hex()}@example.com`;
  const u = slack.seedUser(email, { realName: 'Dana Reyes', teams, sessions: 3 });
  return { u, subject: subjectOf(email) };
}

beforeAll(async () => {
  slack = new SlackStandIn(TOKEN);
  await slack.start();
  const b = build(slack.url);
  ({ org: orgConn, ws: wsConn } = b);
  org = b.catalog.systems[0]!;
  ws = b.catalog.systems[1]!;
});
afterEach(() => slack.reset());
afterAll(async () => {
  for (const c of opened) await c.close?.();
  await slack.stop();
});

test('the catalog entry: defaults, the email key; teamId named when workspace removal lacks it', () => {
  expect(org.connector).toMatchObject({ kind: 'slack', deactivate: 'organization' });
  expect(org.match.keys).toEqual([{ attribute: 'email', from: 'workEmail' }]);
  expect(ws.connector).toMatchObject({ deactivate: 'workspace', teamId: 'T0ENG' });
  expect(() => parseCatalog(catalogYaml(slack.url).replace(', teamId: T0ENG', ''), 'c.yaml', ENV)).toThrow(
    /systems\[1\] \(id "slack-eng"\), field "connector.teamId": is required when deactivate is "workspace"/,
  );
  expect(() => parseCatalog(catalogYaml(slack.url), 'c.yaml', {})).toThrow(
    /systems\[0\] \(id "slack"\), field "connector.tokenEnv": environment variable SLACK_ADMIN_TOKEN is not set/,
  );
});

test('the example of the catalog reference (docs/configuration.md, "Slack") is a valid pair of entries', () => {
  const doc = readFileSync(path.resolve(__dirname, '..', 'docs', 'configuration.md'), 'utf8');
  const yaml = /```yaml\n([\s\S]*?)```/.exec(doc.slice(doc.indexOf('### Slack')))![1]!;
  const head = catalogYaml(slack.url).slice(0, catalogYaml(slack.url).indexOf('systems:'));
  const c = parseCatalog(`${head}systems:\n${yaml}`, 'configuration.md', ENV);
  expect(c.systems.map((x) => x.connector)).toEqual([
    expect.objectContaining({
      kind: 'slack',
      deactivate: 'organization',
      scimUrl: 'https://api.slack.com/scim/v2',
    }),
    expect.objectContaining({ kind: 'slack', deactivate: 'workspace', teamId: 'T0123ENG' }),
  ]);
});

test('revoke: sessions reset, deactivated through SCIM, confirmed by SCIM and users.info; the live audit before and after', async () => {
  const { u, subject } = leaver();
  const before = await auditSystem(org, orgConn, subject, [], 10_000);
  expect(before).toMatchObject({ active: 'yes', accounts: [{ id: u.id, by: ['email'] }] });
  expect(before.detail).toContain('deleted=false; SCIM active=true');

  const r = await revokeMatched(org, orgConn, subject);
  expect(r.match).toMatchObject({ outcome: 'found', by: 'email', account: { id: u.id } });
  expect(u).toMatchObject({ deleted: true, sessions: 0, sessionResets: 1 });
  expect(r.changes).toEqual([
    'signed out of every session (admin.users.session.reset)',
    'deactivated through SCIM (on Enterprise Grid: across the organization and every workspace)',
  ]);
  expect(r.confirmation).toMatchObject({ id: u.id, scimActive: false, deleted: true });
  expect(slack.control.count(`/scim/v2/Users/${u.id}`, 'DELETE')).toBe(1);

  // users.lookupByEmail does not find a deactivated user: the audit after searches by the known id too.
  const after = await auditSystem(org, orgConn, { ...subject, accounts: { slack: u.id } }, [], 10_000);
  expect(after).toMatchObject({ active: 'no' });
});

test('already revoked: confirmed with no change and no write', async () => {
  const { u, subject } = leaver();
  await revokeMatched(org, orgConn, subject);
  slack.control.reset();
  const again = await revokeMatched(org, orgConn, { ...subject, accounts: { slack: u.id } });
  expect(again.changes).toEqual([]);
  expect(again.detail).toContain('user deactivated (already)');
  expect(slack.control.calls.filter((c) => c.method === 'DELETE' || c.path.includes('admin.'))).toEqual([]);
  expect(u.sessionResets).toBe(1);
});

test('Enterprise Grid workspace removal: one workspace only, the account stays active elsewhere', async () => {
  const { u, subject } = leaver();
  const r = await revokeMatched(ws, wsConn, subject);
  expect(r.changes).toEqual(['removed from workspace T0ENG (admin.users.remove; still active elsewhere)']);
  expect(r.confirmation).toMatchObject({ inWorkspace: false, workspaces: ['T0MAIN'] });
  expect(u).toMatchObject({ deleted: false, teams: ['T0MAIN'] });
  expect(wsConn.action).toBe('remove_from_workspace');
  expect((await revokeMatched(ws, wsConn, subject)).changes).toEqual([]);
});

test('not found per the matching rules (an email cannot be ambiguous); protected: red, nothing changed', async () => {
  await expect(revokeMatched(org, orgConn, subjectOf(`nobody.${hex()}@example.com`))).rejects.toMatchObject({
    name: 'AccountNotFoundError',
    evidence: { outcome: 'not_found', keys: [{ key: 'email' }] },
  });
  // Where no account is expected, not finding one is confirmed as none.
  const none = await revokeMatched(ws, wsConn, subjectOf(`nobody.${hex()}@example.com`));
  expect(none.confirmation).toEqual({ exists: false });
  // A known id Slack does not know is red; an email is unique in Slack, so one key cannot be
  // ambiguous: the known id wins, and the live audit reports both accounts the id and the email reach.
  const a = leaver();
  const b = leaver();
  await expect(
    revokeMatched(org, orgConn, { ...a.subject, accounts: { slack: 'WNOSUCH' } }),
  ).rejects.toMatchObject({
    name: 'AccountNotFoundError',
  });
  const both = await orgConn.audit({ ...a.subject, accounts: { slack: b.u.id } });
  expect(both.found).toBe(2);
  const owner = slack.seedUser('owner@example.com');
  await expect(revokeMatched(org, orgConn, subjectOf('owner@example.com'))).rejects.toMatchObject({
    name: 'ProtectedAccountError',
  });
  expect(slack.control.calls.filter((c) => c.method === 'DELETE' || c.path.includes('admin.'))).toEqual([]);
  expect([a.u.deleted, b.u.deleted, owner.deleted]).toEqual([false, false, false]);
});

test('rate limited: 429 ratelimited waits Retry-After, then the retry confirms', async () => {
  const { u, subject } = leaver();
  slack.throttle(1, 30);
  const err = await revokeMatched(org, orgConn, subject).catch((e: unknown) => e);
  expect(err).toMatchObject({
    name: 'TargetThrottledError',
    retryAfterMs: 30_000,
    message: expect.stringContaining('429 ratelimited'),
  });
  await revokeMatched(org, orgConn, subject);
  expect(u.deleted).toBe(true);
});

test('target down: 5xx and a dead API are TargetUnavailableError', async () => {
  const { u, subject } = leaver();
  slack.control.inject({ status: 503, times: 1, method: 'DELETE', pathIncludes: '/scim/v2/Users/' });
  await expect(revokeMatched(org, orgConn, subject)).rejects.toMatchObject({
    name: 'TargetUnavailableError',
  });
  expect(u.deleted).toBe(false);
  const dead = new SlackStandIn(TOKEN);
  const url = await dead.start();
  await dead.stop();
  const { org: gone } = build(url);
  await expect(gone.find(subject)).rejects.toMatchObject({ name: 'TargetUnavailableError' });
});

test('permission missing: red, naming the missing scope; a refused token names its variable, never its value', async () => {
  const { u, subject } = leaver();
  slack.scopes = ['admin', 'users:read', 'users:read.email'];
  const err = (await revokeMatched(org, orgConn, subject).catch((e: unknown) => e)) as Error;
  expect(err).toMatchObject({ name: 'TargetAuthError' });
  expect(err.message).toBe(
    'Slack admin.users.session.reset: missing_scope: the token lacks the permission: needs scope admin.users:write (the token has admin,users:read,users:read.email)',
  );
  slack.scopes = ['admin.users:write', 'users:read', 'users:read.email'];
  const scim = (await revokeMatched(org, orgConn, subject).catch((e: unknown) => e)) as Error;
  expect(scim.message).toContain(
    '403 missing_scope: admin: the token lacks the permission: needs scope admin (SCIM)',
  );
  expect(u.deleted).toBe(false);

  const { org: wrong } = build(slack.url, { SLACK_ADMIN_TOKEN: 'xoxp-not-the-token' });
  const denied = (await wrong.find(subject).catch((e: unknown) => e)) as Error;
  expect(denied).toMatchObject({ name: 'TargetAuthError' });
  expect(denied.message).toContain(
    'Slack users.lookupByEmail: invalid_auth: check the token in SLACK_ADMIN_TOKEN',
  );
  expect(denied.message).not.toContain('not-the-token');
  for (const e of [err, scim]) expect(e.message).not.toContain(TOKEN);
});
