/**
 * The GitHub connector against the GitHub stand-in (standins/github.ts), built from a catalog as the
 * worker builds it: found by the organization's SAML identity (nameId = work email) or by the login the
 * HRIS named; revoked (SAML credential authorizations, membership, outside-collaborator access) and
 * confirmed by reading back; the evidence says what the organization cannot revoke; a repeat changes
 * nothing; not found and ambiguous follow the matching rules; primary and secondary rate limits wait;
 * 5xx and a dead API are unavailable; a missing scope or an unauthorized SSO token is red and named; the
 * live audit before and after.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { RevocationConnector, Subject } from '../activities/connector';
import { createConnectors } from '../activities/connectors';
import type { GithubAccount } from '../activities/github';
import { githubRetryMs, graphqlUrlOf } from '../activities/github-api';
import { auditSystem } from '../activities/live-audit';
import { revokeMatched } from '../activities/matched';
import { parseCatalog, type CatalogSystem } from '../config/catalog';
import { GithubStandIn } from '../standins/github';

const TOKEN = `ghp_${randomBytes(16).toString('hex')}`;
const ENV = { GITHUB_TOKEN: TOKEN };
let gh: GithubStandIn;
let sys: CatalogSystem;
let plainSys: CatalogSystem;
let conn: RevocationConnector<GithubAccount>;
let plain: RevocationConnector<GithubAccount>;
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

const catalogYaml = (apiUrl: string) => `
version: 1
organization:
  hr: { name: HR, email: hr@example.com }
  it: { name: IT, email: it@example.com }
systems:
  - id: github
    name: GitHub
    category: infrastructure
    tier: application
    integration: api
    sso: true
    owner: { name: Engineering Ops, email: eng-ops@example.com }
    escalationOwner: { name: CISO, email: ciso@example.com }
    match: { expectAccount: true }
    protected: { accounts: [org-admin-bot] }
    connector: &gh { kind: github, apiUrl: "${apiUrl}", org: example-corp, tokenEnv: GITHUB_TOKEN, samlSso: true }
  - id: github-oss
    name: GitHub (no SAML)
    category: infrastructure
    tier: application
    integration: api
    sso: false
    owner: { name: Engineering Ops, email: eng-ops@example.com }
    escalationOwner: { name: CISO, email: ciso@example.com }
    connector: { <<: *gh, samlSso: false }
`;

function build(apiUrl: string, env: Record<string, string> = ENV) {
  const c = parseCatalog(catalogYaml(apiUrl), 'github-catalog.yaml', env);
  const reg = createConnectors(c, env);
  opened.push(...reg.values());
  return {
    catalog: c,
    conn: reg.get('github') as RevocationConnector<GithubAccount>,
    plain: reg.get('github-oss') as RevocationConnector<GithubAccount>,
  };
}

/** A leaver with everything an organization can hold for them. */
function leaver(opts: { member?: 'active' | 'pending'; collaborator?: boolean } = {}) {
  const email = `dana.${hex()}@example.com`;
  const login = `dana-${hex()}`;
  const u = gh.seedUser(login, {
    name: 'Dana Reyes',
    member: opts.member ?? 'active',
    teams: ['platform'],
    collaborator: opts.collaborator ?? false,
    nameId: email,
    tokens: 1,
    sshKeys: 1,
  });
  return { u, login, subject: subjectOf(email) };
}

beforeAll(async () => {
  gh = new GithubStandIn(TOKEN);
  await gh.start();
  const b = build(gh.url);
  ({ conn, plain } = b);
  sys = b.catalog.systems[0]!;
  plainSys = b.catalog.systems[1]!;
});
afterEach(() => gh.reset());
afterAll(async () => {
  for (const c of opened) await c.close?.();
  await gh.stop();
});

test('the catalog entry: defaults and the SAML key; a missing token variable names the field', () => {
  expect(sys.connector).toMatchObject({ kind: 'github', org: 'example-corp', samlSso: true });
  expect(sys.match).toEqual({ keys: [{ attribute: 'samlNameId', from: 'workEmail' }], expectAccount: true });
  expect(plainSys.match.expectAccount).toBe(false);
  expect(() => parseCatalog(catalogYaml(gh.url), 'c.yaml', {})).toThrow(
    /systems\[0\] \(id "github"\), field "connector.tokenEnv": environment variable GITHUB_TOKEN is not set/,
  );
  expect(() =>
    parseCatalog(catalogYaml(gh.url).replace('org: example-corp', 'org: "a/b"'), 'c.yaml', ENV),
  ).toThrow(/field "connector.org": must be an organization login/);
  expect(() =>
    parseCatalog(catalogYaml(gh.url).replace('samlSso: true }', 'samlSso: true, team: x }'), 'c.yaml', ENV),
  ).toThrow(/systems\[0\] \(id "github"\), field "connector"/);
  expect(() =>
    parseCatalog(
      catalogYaml(gh.url).replace(
        'match: { expectAccount: true }',
        'match: { keys: [{ attribute: login, from: workEmail }] }',
      ),
      'c.yaml',
      ENV,
    ),
  ).toThrow(/connector kind "github" cannot search "login" \(it can search samlNameId\)/);
  expect(graphqlUrlOf('https://api.github.com')).toBe('https://api.github.com/graphql');
  expect(graphqlUrlOf('https://ghe.example.com/api/v3')).toBe('https://ghe.example.com/api/graphql');
});

test('the example of the catalog reference (docs/configuration.md, "GitHub") is a valid entry', () => {
  const doc = readFileSync(path.resolve(__dirname, '..', 'docs', 'configuration.md'), 'utf8');
  const yaml = /```yaml\n([\s\S]*?)```/.exec(doc.slice(doc.indexOf('### GitHub')))![1]!;
  const head = catalogYaml(gh.url).slice(0, catalogYaml(gh.url).indexOf('systems:'));
  const c = parseCatalog(`${head}systems:\n${yaml}`, 'configuration.md', ENV);
  expect(c.systems.map((x) => [x.tier, x.connector])).toEqual([
    [
      'application',
      expect.objectContaining({
        kind: 'github',
        apiUrl: 'https://api.github.com',
        org: 'example-corp',
        tokenEnv: 'GITHUB_TOKEN',
        samlSso: true,
      }),
    ],
  ]);
});

test('revoke: credential authorizations, membership and collaborator access removed, confirmed by read-back; the live audit before and after', async () => {
  const { u, login, subject } = leaver();
  const before = await auditSystem(sys, conn, subject, [], 10_000);
  expect(before).toMatchObject({ active: 'yes', accounts: [{ id: login, by: ['samlNameId'] }] });
  expect(before.detail).toContain('member of example-corp (member); 2 SAML credential authorization(s)');

  const r = await revokeMatched(sys, conn, subject);
  expect(r.match).toMatchObject({ outcome: 'found', by: 'samlNameId', account: { id: login } });
  expect(gh.holds(login)).toBe(false);
  expect(gh.control.count(`/orgs/example-corp/members/${login}`, 'DELETE')).toBe(1);
  expect(gh.control.count('/orgs/example-corp/credential-authorizations/', 'DELETE')).toBe(2);
  expect(r.changes).toEqual([
    expect.stringMatching(/^revoked SAML SSO authorization of personal access token …aaaaaaa0 "token 1"/),
    expect.stringMatching(/^revoked SAML SSO authorization of SSH key SHA256:/),
    'removed from organization example-corp (role member; and from its teams)',
  ]);
  expect(r.confirmation).toMatchObject({
    login,
    userId: u.id,
    member: false,
    membership: 'none (404)',
    outsideCollaborator: false,
    credentialAuthorizations: 0,
    notRevocable: [
      expect.stringContaining('the GitHub account itself'),
      expect.stringContaining('personal access tokens, SSH keys'),
      expect.stringContaining('forks'),
    ],
  });
  expect(r.detail).toContain('the organization cannot revoke the personal account itself');

  const after = await auditSystem(sys, conn, subject, [], 10_000);
  expect(after).toMatchObject({ active: 'no', detail: '1 account(s) found by samlNameId, none active' });
});

test('an outside collaborator and a pending invitation, by the login the HRIS named', async () => {
  const login = `contractor-${hex()}`;
  gh.seedUser(login, { collaborator: true });
  const r = await revokeMatched(sys, conn, subjectOf(`c.${hex()}@example.com`, { github: login }));
  expect(r.match).toMatchObject({ outcome: 'found', by: 'known account id' });
  expect(r.changes).toEqual(['removed as outside collaborator from every repository of example-corp']);
  expect(gh.collaborators.has(login)).toBe(false);

  const invited = gh.seedUser(`invitee-${hex()}`, { member: 'pending' });
  // A numeric user id names the account too.
  const p = await revokeMatched(
    sys,
    conn,
    subjectOf(`i.${hex()}@example.com`, { github: String(invited.id) }),
  );
  expect(p.changes).toEqual(['cancelled the pending invitation to example-corp']);
  expect(gh.holds(invited.login)).toBe(false);
});

test('already revoked: confirmed with no change and no write', async () => {
  const { subject } = leaver();
  await revokeMatched(sys, conn, subject);
  gh.control.reset();
  const again = await revokeMatched(sys, conn, subject);
  expect(again.changes).toEqual([]);
  expect(again.detail).toContain('nothing to change (already revoked)');
  expect(gh.control.calls.filter((c) => c.method !== 'GET' && c.path !== '/graphql')).toEqual([]);
});

test('not found and ambiguous per the matching rules: red with the evidence, nothing changed', async () => {
  await expect(revokeMatched(sys, conn, subjectOf(`nobody.${hex()}@example.com`))).rejects.toMatchObject({
    name: 'AccountNotFoundError',
    evidence: { outcome: 'not_found', keys: [{ key: 'samlNameId' }] },
  });
  // A SAML identity not linked to a GitHub user finds no one either.
  const unlinked = `unlinked.${hex()}@example.com`;
  gh.samlIdentities.push({ nameId: unlinked, login: null });
  await expect(revokeMatched(sys, conn, subjectOf(unlinked))).rejects.toMatchObject({
    name: 'AccountNotFoundError',
  });
  // Without SAML the key searches nothing: where no account is expected, confirmed as none.
  const none = await revokeMatched(plainSys, plain, subjectOf(`nobody.${hex()}@example.com`));
  expect(none.confirmation).toEqual({ exists: false });
  // A login the HRIS named that GitHub does not know is red.
  await expect(
    revokeMatched(sys, conn, subjectOf(`x.${hex()}@example.com`, { github: `ghost-${hex()}` })),
  ).rejects.toMatchObject({ name: 'AccountNotFoundError' });

  const email = `shared.${hex()}@example.com`;
  const a = gh.seedUser(`a-${hex()}`, { member: 'active', nameId: email });
  const b = gh.seedUser(`b-${hex()}`, { member: 'active', nameId: email });
  await expect(revokeMatched(sys, conn, subjectOf(email))).rejects.toMatchObject({
    name: 'AmbiguousAccountError',
    message: expect.stringContaining('Nothing was changed in GitHub'),
    evidence: {
      outcome: 'ambiguous',
      candidates: expect.arrayContaining([
        expect.objectContaining({ id: a.login }),
        expect.objectContaining({ id: b.login }),
      ]),
    },
  });
  const bot = gh.seedUser('org-admin-bot', { member: 'active' });
  await expect(
    revokeMatched(sys, conn, subjectOf(`bot.${hex()}@example.com`, { github: bot.login })),
  ).rejects.toMatchObject({ name: 'ProtectedAccountError' });
  expect(gh.control.calls.filter((c) => c.method === 'DELETE')).toEqual([]);
  expect(gh.holds(a.login) && gh.holds(b.login) && gh.holds(bot.login)).toBe(true);
});

test('rate limited: the primary limit waits until x-ratelimit-reset, a secondary one for retry-after', async () => {
  const { login, subject } = leaver();
  gh.throttle(1, 30);
  const err = await revokeMatched(sys, conn, subject).catch((e: unknown) => e);
  expect(err).toMatchObject({
    name: 'TargetThrottledError',
    message: expect.stringContaining('403 API rate limit exceeded'),
  });
  const wait = (err as { retryAfterMs: number }).retryAfterMs;
  expect(wait).toBeGreaterThanOrEqual(29_000);
  expect(wait).toBeLessThanOrEqual(32_000);
  gh.secondaryLimit(1, 45);
  const second = (await revokeMatched(sys, conn, subject).catch((e: unknown) => e)) as {
    name: string;
    retryAfterMs: number;
  };
  expect(second).toMatchObject({ name: 'TargetThrottledError', retryAfterMs: 45_000 });
  // The reset is read against the answer's own Date; a 429 counts as well.
  expect(
    githubRetryMs({
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': '1700000060',
      date: new Date(1_700_000_000_000).toUTCString(),
    }),
  ).toBe(60_000);
  expect(githubRetryMs({ 'retry-after': '7' })).toBe(7_000);
  gh.control.inject({ status: 429, times: 1, retryAfterSeconds: 5, pathIncludes: '/memberships/' });
  await expect(revokeMatched(sys, conn, subject)).rejects.toMatchObject({
    name: 'TargetThrottledError',
    retryAfterMs: 5_000,
  });
  await revokeMatched(sys, conn, subject);
  expect(gh.holds(login)).toBe(false);
});

test('target down: 5xx and a dead API are TargetUnavailableError', async () => {
  const { login, subject } = leaver();
  gh.control.inject({ status: 502, times: 1, method: 'DELETE', pathIncludes: '/members/' });
  await expect(revokeMatched(sys, conn, subject)).rejects.toMatchObject({
    name: 'TargetUnavailableError',
    message: expect.stringContaining('502 Server Error'),
  });
  expect(gh.members.has(login)).toBe(true);
  const dead = new GithubStandIn(TOKEN);
  const url = await dead.start();
  await dead.stop();
  const { conn: gone } = build(url);
  await expect(gone.find(subject)).rejects.toMatchObject({ name: 'TargetUnavailableError' });
});

test('permission missing: red, naming the missing scope; SAML enforcement and a bad token are named, never the token', async () => {
  const { login, subject } = leaver();
  gh.scopes = ['read:org'];
  const err = (await revokeMatched(sys, conn, subject).catch((e: unknown) => e)) as Error;
  expect(err).toMatchObject({ name: 'TargetAuthError' });
  expect(err.message).toMatch(/^GitHub POST \/graphql: INSUFFICIENT_SCOPES: .*needs scope admin:org/);
  // Known login: the search is skipped, the first write is refused with the scope GitHub names.
  const known = subjectOf(subject.workEmail, { github: login });
  const write = (await revokeMatched(sys, conn, known).catch((e: unknown) => e)) as Error;
  expect(write.message).toMatch(
    /^GitHub DELETE \/orgs\/example-corp\/credential-authorizations\/\d+: 403 Resource not accessible by personal access token: the token lacks the permission: needs scope admin:org \(the token has read:org\)/,
  );
  expect(gh.holds(login)).toBe(true);

  gh.scopes = ['admin:org'];
  gh.requireSso = true;
  const sso = (await revokeMatched(sys, conn, known).catch((e: unknown) => e)) as Error;
  expect(sso).toMatchObject({ name: 'TargetAuthError' });
  expect(sso.message).toContain(
    "not authorized for the organization's SAML single sign-on (X-GitHub-SSO: required)",
  );

  const { conn: wrong } = build(gh.url, { GITHUB_TOKEN: 'not-the-token' });
  const denied = (await wrong.find(known).catch((e: unknown) => e)) as Error;
  expect(denied).toMatchObject({ name: 'TargetAuthError' });
  expect(denied.message).toContain('401 Bad credentials: check the token in GITHUB_TOKEN');
  expect(denied.message).not.toContain('not-the-token');
  for (const e of [err, write, sso]) expect(e.message).not.toContain(TOKEN);
});
