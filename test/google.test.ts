/**
 * The Google Workspace connector against the Google stand-in (standins/google.ts), built from a catalog
 * as the worker builds it, authenticating as a service account with domain-wide delegation (a JWT signed
 * with a key made here): found by externalId, primary email and alias; the handover to the manager (Gmail
 * delegate or forwarding, a Drive and Calendar data transfer read back until completed) strictly before
 * the user is suspended; signed out, suspended, tokens, app passwords, backup codes, 2-step verification,
 * groups and mobile devices removed and read back; a repeat changes nothing; not found, ambiguous,
 * protected; no manager (red, nothing suspended); a transfer still running (retried, not requested
 * twice); a quota 403 (throttled); 5xx and a dead host; a missing scope named; the live audit; the MFA tier.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { RevocationConnector } from '../activities/connector';
import { createConnectors } from '../activities/connectors';
import type { GoogleAccount } from '../activities/google';
import { QUOTA_RETRY_MS } from '../activities/google-api';
import { handoverLines } from '../activities/google-handover';
import { auditSystem } from '../activities/live-audit';
import { revokeMatched } from '../activities/matched';
import { parseCatalog, type CatalogSystem } from '../config/catalog';
import { ACCOUNT_WIPING, GoogleStandIn } from '../standins/google';
import { CALENDAR_APP, DRIVE_APP } from '../standins/google-handover-routes';
import { googleError } from '../standins/google-oauth';
import { SA, catalogYaml, hex, pair, seedLeaver, subjectOf } from './support/google';

const KEYS = pair();
const PEM = KEYS.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const ENV = { GOOGLE_SA_KEY: PEM };
let g: GoogleStandIn;
let idp: CatalogSystem;
let mfaSys: CatalogSystem;
let account: RevocationConnector<GoogleAccount>;
let mfa: RevocationConnector<GoogleAccount>;
const opened: RevocationConnector[] = [];

function build(url: string, env: Record<string, string> = ENV, extra = '', wait = '3s') {
  const c = parseCatalog(catalogYaml(url, extra, wait), 'google-catalog.yaml', env);
  const reg = createConnectors(c, env);
  opened.push(...reg.values());
  return {
    catalog: c,
    account: reg.get('google') as RevocationConnector<GoogleAccount>,
    mfa: reg.get('google-mfa') as RevocationConnector<GoogleAccount>,
  };
}

/** A leaver with everything Google Workspace can hold, and their manager. */
const leaver = (o: { manager?: boolean } = {}) => seedLeaver(g, o);

/** The calls that changed something (the token endpoint aside). */
const writes = () => g.control.calls.filter((c) => c.method !== 'GET' && c.path !== '/token');

beforeAll(async () => {
  g = new GoogleStandIn(SA, KEYS.publicKey);
  await g.start();
  g.seedUser('admin@example.com', { isAdmin: true, fullName: 'Workspace Admin' });
  let catalog;
  ({ catalog, account, mfa } = build(g.url));
  idp = catalog.systems[0]!;
  mfaSys = catalog.systems[1]!;
});
afterEach(() => g.reset());
afterAll(async () => {
  for (const c of opened) await c.close?.();
  await g.stop();
});

test('the catalog entry: defaults, the keys; a missing key variable names the field; the reference example parses', () => {
  expect(idp.connector).toMatchObject({
    kind: 'google',
    scope: 'account',
    customerId: 'my_customer',
    transfer: ['drive', 'calendar'],
    mailHandover: 'delegate',
  });
  expect(mfaSys.connector).toMatchObject({ kind: 'google', scope: 'mfa' });
  expect(idp.match.keys.map((k) => 'attribute' in k && k.attribute)).toEqual([
    'externalId',
    'primaryEmail',
    'aliases',
  ]);
  expect(() => parseCatalog(catalogYaml(g.url), 'c.yaml', {})).toThrow(
    /systems\[0\] \(id "google"\), field "connector.privateKeyEnv": environment variable GOOGLE_SA_KEY is not set/,
  );
  expect(() => parseCatalog(catalogYaml(g.url, '\n      mailHandover: archive'), 'c.yaml', ENV)).toThrow(
    /field "connector.mailHandover"/,
  );
  const doc = readFileSync(path.resolve(__dirname, '..', 'docs', 'configuration.md'), 'utf8');
  const yaml = /```yaml\n([\s\S]*?)```/.exec(doc.slice(doc.indexOf('### Google Workspace')))![1]!;
  const head = catalogYaml(g.url).slice(0, catalogYaml(g.url).indexOf('systems:'));
  const c = parseCatalog(`${head}systems:\n${yaml}`, 'configuration.md', ENV);
  expect(
    c.systems.map((x) => [x.tier, x.connector.kind, 'scope' in x.connector && x.connector.scope]),
  ).toEqual([
    ['identity', 'google', 'account'],
    ['mfa', 'google', 'mfa'],
  ]);
});

test('revoke: handed over first, then signed out, suspended and stripped; confirmed by read-back; live audit before and after', async () => {
  const { u, mgr, phone, subject } = leaver();
  g.transferReadsToComplete = 1; // one read shows inProgress: the connector polls
  const before = await auditSystem(idp, account, subject, [], 10_000);
  expect(before).toMatchObject({
    active: 'yes',
    accounts: [{ id: u.id, by: ['externalId', 'primaryEmail'] }],
  });
  expect(before.detail).toMatch(
    /: suspended=false; 2 OAuth tokens; groups eng-\w+@example.com, all-\w+@example.com; 1 app password; 10 backup codes; 2-step verification enrolled$/,
  );

  g.control.reset();
  const r = await revokeMatched(idp, account, subject);
  expect(r.match).toMatchObject({ outcome: 'found', by: 'externalId', account: { id: u.id } });
  const list = g.control.calls.find((c) => c.path.includes('/users?'))!;
  expect(new URL(list.path, g.url).searchParams.get('query')).toBe(`externalId='${subject.employeeId}'`);
  // The handover, read back, strictly before the first change of the account itself.
  const at = (p: string, m: string) => g.control.calls.findIndex((c) => c.path.includes(p) && c.method === m);
  const firstAccountChange = Math.min(at('/signOut', 'POST'), at(`/users/${u.id}`, 'PATCH'));
  expect(at('/settings/delegates', 'POST')).toBeGreaterThan(-1);
  expect(at('/settings/delegates', 'POST')).toBeLessThan(at('/datatransfer/v1/transfers', 'POST'));
  const transferReads = g.control.calls
    .map((c, i) => [c, i] as const)
    .filter(([c]) => /\/transfers\/\w/.test(c.path));
  expect(transferReads).toHaveLength(2);
  expect(transferReads[1]![1]).toBeLessThan(firstAccountChange);
  expect(at('/signOut', 'POST')).toBeLessThan(at(`/users/${u.id}`, 'PATCH'));
  // Drive (both privacy levels) and Calendar reached the manager; the manager is a delegate.
  const [t] = [...g.transfers.values()].filter((x) => x.oldOwnerUserId === u.id);
  expect(t).toMatchObject({ newOwnerUserId: mgr.id, overallTransferStatusCode: 'completed' });
  expect(t!.applicationDataTransfers.map((a) => [a.applicationId, a.applicationTransferParams])).toEqual([
    [DRIVE_APP, [{ key: 'PRIVACY_LEVEL', value: ['PRIVATE', 'SHARED'] }]],
    [CALENDAR_APP, [{ key: 'RELEASE_RESOURCES', value: ['TRUE'] }]],
  ]);
  expect(mgr).toMatchObject({ drive: { private: 40, shared: 12 }, calendarEvents: 7 });
  expect(u.delegates.get(mgr.primaryEmail)).toBe('accepted');
  // Gmail acted as the leaver; the Admin SDK as the admin; one scope per token.
  expect(g.oauth.issued.filter((x) => x.scopes[0]!.includes('gmail')).map((x) => x.sub)).toContain(
    u.primaryEmail,
  );
  expect(g.oauth.issued.every((x) => x.scopes.length === 1)).toBe(true);

  expect(u).toMatchObject({
    suspended: true,
    sessions: 0,
    signOuts: 1,
    tokens: [],
    asps: [],
    backupCodes: [],
    isEnrolledIn2Sv: false,
  });
  expect([...g.groups.values()].filter((x) => x.members.has(u.id))).toEqual([]);
  expect(phone).toMatchObject({ actions: ['admin_account_wipe'], status: ACCOUNT_WIPING });
  expect(r.changes).toEqual([
    `made ${mgr.primaryEmail} a Gmail delegate of the mailbox`,
    `requested data transfer ${t!.id} of Drive and Docs and Calendar to ${mgr.primaryEmail}`,
    'signed out of every session',
    'suspended',
    'deleted the OAuth token of Slack',
    'deleted the OAuth token of Zoom',
    'deleted app password Thunderbird',
    'invalidated the backup verification codes',
    'turned 2-step verification off',
    expect.stringMatching(/^removed from group eng-/),
    expect.stringMatching(/^removed from group all-/),
    `wiped the account from Pixel 8 (${phone.resourceId})`,
  ]);
  expect(r.confirmation).toMatchObject({
    suspended: true,
    oauthTokens: 0,
    appPasswords: 0,
    backupCodes: 0,
    isEnrolledIn2Sv: false,
    groups: 0,
    mobileDevices: [{ resourceId: phone.resourceId, status: ACCOUNT_WIPING }],
    handover: {
      manager: mgr.primaryEmail,
      managerId: mgr.id,
      mail: { mode: 'delegate', delegate: mgr.primaryEmail, verificationStatus: 'accepted' },
      transfer: { id: t!.id, status: 'completed' },
    },
    sessions: expect.stringContaining('not readable'),
  });
  expect(handoverLines({ confirmation: r.confirmation })).toEqual([
    `Data transfer ${t!.id} to ${mgr.primaryEmail}: completed (Drive and Docs PRIVACY_LEVEL=PRIVATE+SHARED; Calendar RELEASE_RESOURCES=TRUE)`,
    `Mail: ${mgr.primaryEmail} is a Gmail delegate (accepted)`,
  ]);
  expect(r.detail).toContain(
    `handed over before suspension: data transfer ${t!.id} to ${mgr.primaryEmail} completed`,
  );

  const after = await auditSystem(idp, account, subject, [], 10_000);
  expect(after).toMatchObject({
    active: 'no',
    detail: '1 account(s) found by externalId, primaryEmail, aliases, none active',
  });
});

test('already revoked: a repeat changes nothing and requests no second transfer; the mail handover is not re-read', async () => {
  const { u, subject } = leaver();
  await revokeMatched(idp, account, subject);
  g.control.reset();
  const again = await revokeMatched(idp, account, subject);
  expect(again.changes).toEqual([]);
  expect(writes()).toEqual([]);
  expect(again.detail).toContain('user suspended (already)');
  expect((again.confirmation['handover'] as { mail: unknown }).mail).toMatchObject({
    mode: 'delegate',
    readBack: 'not possible',
    why: expect.stringContaining('Gmail refuses calls for a suspended user'),
  });
  expect(u.signOuts).toBe(1);
  // Something granted again since is removed again; the rest stays unchanged.
  u.asps.push({ codeId: 7, name: 'Outlook' });
  expect((await revokeMatched(idp, account, subject)).changes).toEqual(['deleted app password Outlook']);
});

test('mailHandover forward: the manager as a forwarding address, auto-forwarding on, read back', async () => {
  const { account: fwd } = build(
    g.url,
    ENV,
    '\n      mailHandover: forward\n      forwardDisposition: archive',
  );
  const { u, mgr, subject } = leaver();
  const r = await revokeMatched(idp, fwd, subject);
  expect(u.autoForwarding).toEqual({ enabled: true, emailAddress: mgr.primaryEmail, disposition: 'archive' });
  expect(u.delegates.size).toBe(0);
  expect(r.confirmation['handover']).toMatchObject({
    mail: { mode: 'forward', forwardTo: mgr.primaryEmail, disposition: 'archive' },
  });
  expect(r.changes.slice(0, 2)).toEqual([
    `added ${mgr.primaryEmail} as a forwarding address`,
    `forwarded new mail to ${mgr.primaryEmail} (archive)`,
  ]);
});

test('no manager, or one Google does not know: red with a clear message, nothing suspended', async () => {
  const { u, subject } = leaver({ manager: false });
  const err = (await revokeMatched(idp, account, subject).catch((e: unknown) => e)) as Error;
  expect(err).toMatchObject({ name: 'TargetRejectedError' });
  expect(err.message).toMatch(
    /^The departure names no manager to hand the Google Workspace data to\. Nothing was suspended/,
  );
  const unknown = (await revokeMatched(idp, account, {
    ...subject,
    managerEmail: `gone.${hex()}@example.com`,
  }).catch((e: unknown) => e)) as Error;
  expect(unknown.message).toMatch(
    /^The departure's manager \(managerEmail\) has no Google Workspace account\. Nothing was suspended/,
  );
  expect(writes()).toEqual([]);
  expect(u).toMatchObject({ suspended: false, signOuts: 0, isEnrolledIn2Sv: true });
  // Suspended by someone else before any handover: Gmail refuses it, so red, nothing changed.
  const early = leaver();
  early.u.suspended = true;
  await expect(revokeMatched(idp, account, early.subject)).rejects.toMatchObject({
    name: 'TargetRejectedError',
    message: expect.stringMatching(
      /^The user was already suspended \(not by this step\) before the mail handover/,
    ),
  });
  expect(writes()).toEqual([]);
});

test('a transfer still running: retried (nothing suspended), and the retry finds it instead of requesting another', async () => {
  const { account: quick } = build(g.url, ENV, '', '1s');
  const { u, subject } = leaver();
  g.transferReadsToComplete = 100;
  const err = (await revokeMatched(idp, quick, subject).catch((e: unknown) => e)) as Error;
  expect(err).toMatchObject({
    name: 'ConfirmationMismatchError',
    message: expect.stringMatching(/is still inProgress: the step is retried/),
  });
  expect(u.suspended).toBe(false);
  expect(g.control.count(`/users/${u.id}`, 'PATCH')).toBe(0);
  g.transferReadsToComplete = 0;
  const r = await revokeMatched(idp, quick, subject);
  expect(g.control.count('/datatransfer/v1/transfers', 'POST')).toBe(1);
  expect(r.changes[0]).toBe('signed out of every session'); // the delegate and the transfer were there already
  expect(u.suspended).toBe(true);
});

test('not found by any key, two accounts, a protected one: red with the evidence, nothing changed', async () => {
  const nobody = subjectOf(`E-${hex()}`, `nobody.${hex()}@example.com`, 'admin@example.com');
  await expect(revokeMatched(idp, account, nobody)).rejects.toMatchObject({
    name: 'AccountNotFoundError',
    evidence: {
      outcome: 'not_found',
      keys: [{ key: 'externalId' }, { key: 'primaryEmail' }, { key: 'aliases' }],
    },
  });
  expect((await revokeMatched(mfaSys, mfa, nobody)).confirmation).toEqual({ exists: false });

  const a = leaver();
  const b = leaver();
  // The HR id finds one user, the work email (an alias, in another case) the other.
  const mixed = { ...a.subject, workEmail: b.u.aliases[0]!.toUpperCase() };
  await expect(revokeMatched(idp, account, mixed)).rejects.toMatchObject({
    name: 'AmbiguousAccountError',
    message: expect.stringContaining('Nothing was changed in Google Workspace'),
    evidence: {
      outcome: 'ambiguous',
      candidates: expect.arrayContaining([expect.objectContaining({ id: b.u.id })]),
    },
  });
  const bg = g.seedUser('break-glass@example.com', { isAdmin: true });
  await expect(
    revokeMatched(idp, account, subjectOf(`E-${hex()}`, bg.primaryEmail, 'admin@example.com')),
  ).rejects.toMatchObject({
    name: 'ProtectedAccountError',
  });
  expect(writes()).toEqual([]);
  for (const x of [a.u, b.u, bg]) expect(x.suspended).toBe(false);
});

test('rate limited: a quota 403 (not 429) is throttled with a delay; Retry-After wins; the retry confirms', async () => {
  const { u, subject } = leaver();
  g.quota(1, 'userRateLimitExceeded');
  const err = (await revokeMatched(idp, account, subject).catch((e: unknown) => e)) as Error & {
    retryAfterMs: number;
  };
  expect(err).toMatchObject({
    name: 'TargetThrottledError',
    message: expect.stringContaining(
      '403 PERMISSION_DENIED User Rate Limit Exceeded (userRateLimitExceeded)',
    ),
  });
  expect(err.retryAfterMs).toBe(QUOTA_RETRY_MS);
  expect(g.control.calls.find((c) => c.path !== '/token')).toMatchObject({ status: 403 });
  g.quota(1, 'rateLimitExceeded', '/asps');
  const mid = (await revokeMatched(idp, account, subject).catch((e: unknown) => e)) as Error;
  expect(mid).toMatchObject({
    name: 'TargetThrottledError',
    message: expect.stringContaining('(rateLimitExceeded)'),
  });
  g.control.inject({
    status: 403,
    times: 1,
    pathIncludes: '/groups',
    retryAfterSeconds: 7,
    body: googleError(403, 'Quota exceeded', 'quotaExceeded', { domain: 'usageLimits' }),
  });
  expect(
    await revokeMatched(idp, account, subject).catch((e: { retryAfterMs: number }) => e.retryAfterMs),
  ).toBe(7_000);
  expect((await revokeMatched(idp, account, subject)).confirmation).toMatchObject({ suspended: true });
  expect(u.suspended).toBe(true);
});

test('target down: 5xx and a dead host are TargetUnavailableError', async () => {
  const { u, subject } = leaver();
  g.control.inject({ status: 503, times: 1, pathIncludes: '/datatransfer/' });
  await expect(revokeMatched(idp, account, subject)).rejects.toMatchObject({
    name: 'TargetUnavailableError',
    message: expect.stringContaining('503 UNAVAILABLE Internal error encountered. (backendError)'),
  });
  expect(u.suspended).toBe(false);
  // A Gmail path holds the mailbox's address: the message (which reaches logs) does not.
  g.control.inject({ status: 500, times: 1, pathIncludes: '/settings/delegates' });
  const gmail = (await revokeMatched(idp, account, subject).catch((e: unknown) => e)) as Error;
  expect(gmail).toMatchObject({ name: 'TargetUnavailableError' });
  expect(gmail.message).toMatch(
    /^Google GET \/gmail\/v1\/users\/\{email\}\/settings\/delegates\/\{email\}: 500 /,
  );
  expect(gmail.message).not.toContain('@');
  const dead = new GoogleStandIn(SA, KEYS.publicKey);
  const url = await dead.start();
  await dead.stop();
  await expect(build(url).account.find(subject)).rejects.toMatchObject({ name: 'TargetUnavailableError' });
});

test('permission missing: red naming the missing OAuth scope; a refused key names its variable, never its value', async () => {
  const { u, subject } = leaver();
  g.requireScope('/devices/mobile', 'admin.directory.device.mobile');
  const api403 = (await revokeMatched(idp, account, subject).catch((e: unknown) => e)) as Error;
  expect(api403).toMatchObject({ name: 'TargetAuthError' });
  expect(api403.message).toMatch(
    /^Google GET \/admin\/directory\/v1\/customer\/my_customer\/devices\/mobile: 403 PERMISSION_DENIED Request had insufficient authentication scopes\. \(insufficientPermissions, ACCESS_TOKEN_SCOPE_INSUFFICIENT\): missing OAuth scope https:\/\/www\.googleapis\.com\/auth\/admin\.directory\.device\.mobile; grant it to /,
  );
  g.reset();
  // The delegation lacks Gmail's sharing scope: refused at the token endpoint, before any suspension.
  const fresh = leaver();
  const sharing = 'https://www.googleapis.com/auth/gmail.settings.sharing';
  g.oauth.granted.delete(sharing);
  try {
    const dwd = (await revokeMatched(idp, account, fresh.subject).catch((e: unknown) => e)) as Error;
    expect(dwd).toMatchObject({
      name: 'TargetAuthError',
      message: expect.stringContaining(`does not grant scope ${sharing}`),
    });
    expect(dwd.message).toContain('401 unauthorized_client');
    expect(fresh.u.suspended).toBe(false);
  } finally {
    g.oauth.granted.add(sharing);
  }
  const other = pair().privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const wrong = (await build(g.url, { GOOGLE_SA_KEY: other })
    .account.find(subject)
    .catch((e: unknown) => e)) as Error;
  expect(wrong).toMatchObject({
    name: 'TargetAuthError',
    message: expect.stringContaining('invalid_grant (Invalid JWT Signature.)'),
  });
  expect(wrong.message).toContain('check the service account key in GOOGLE_SA_KEY');
  for (const m of [api403.message, wrong.message]) expect(m).not.toContain('PRIVATE KEY');
  // The key may also be the whole JSON key file.
  const json = JSON.stringify({ type: 'service_account', client_email: SA, private_key: PEM });
  expect((await build(g.url, { GOOGLE_SA_KEY: json }).account.find(subject)).evidence.outcome).toBe('found');
  expect(u.suspended).toBe(true); // the first attempt got that far before the device list was refused
});

test('MFA tier (scope mfa): app passwords, backup codes and 2-step verification removed; not suspended; a repeat changes nothing', async () => {
  const { u, subject } = leaver();
  const r = await revokeMatched(mfaSys, mfa, subject);
  expect(r.changes).toEqual([
    'deleted app password Thunderbird',
    'invalidated the backup verification codes',
    'turned 2-step verification off',
  ]);
  expect(r.confirmation).toMatchObject({ id: u.id, appPasswords: 0, backupCodes: 0, isEnrolledIn2Sv: false });
  expect(u).toMatchObject({ suspended: false, tokens: [expect.anything(), expect.anything()] });
  expect(mfa.action).toBe('turn_off_2sv_delete_app_passwords_backup_codes');
  expect((await revokeMatched(mfaSys, mfa, subject)).changes).toEqual([]);
  expect((await auditSystem(mfaSys, mfa, subject, [], 10_000)).active).toBe('no');
});
