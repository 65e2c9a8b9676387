/**
 * The SCIM connector's matching against the SCIM 2.0 stand-in (SCIMMY): externalId, userName and
 * emails.value, each its own filtered GET; a hit that does not carry the value searched for is no match
 * (a server that ignores filters answers every user); two accounts are ambiguous; the live audit finds
 * every account any key reaches.
 */
import type { Subject } from '../activities/connector';
import { AmbiguousAccountError } from '../activities/errors';
import { revokeMatched } from '../activities/matched';
import type { MatchContext } from '../activities/matching';
import { createScimConnector } from '../activities/scim';
import type { CatalogSystem } from '../config/catalog';
import { defaultKeys } from '../config/matching';
import { ScimStandIn } from '../standins/scim';
import { uniq } from './support/harness';

const TOKEN = 'scim-test-token';
let scim: ScimStandIn;

beforeAll(async () => {
  scim = new ScimStandIn({ app: { token: TOKEN } });
  await scim.start();
});
afterAll(async () => {
  await scim.stop();
});

const ctx: MatchContext = {
  systemId: 'app',
  match: { keys: defaultKeys('scim'), expectAccount: false },
  protected: { accounts: [], groups: [] },
};
const system = { id: 'app', name: 'App', ...ctx } as unknown as CatalogSystem;

function connector() {
  return createScimConnector(
    { kind: 'scim', baseUrl: scim.baseUrl('app'), tokenEnv: 'X', userNameFrom: 'workEmail' },
    TOKEN,
    ctx,
  );
}

function subject(employeeId: string, workEmail: string): Subject {
  return {
    departureId: uniq('dep'),
    employeeId,
    employeeName: 'Leaver',
    workEmail,
    confirmedAt: new Date().toISOString(),
    managerEmail: null,
  };
}

test('found by externalId under another userName, deactivated and read back; the keys are in the evidence', async () => {
  const id = uniq('S');
  const u = scim.seedUser('app', `${uniq('old')}@example.com`, { externalId: id });
  const c = connector();
  const r = await revokeMatched(system, c, subject(id, `${uniq('new')}@example.com`));
  expect(u.active).toBe(false);
  expect(r.match).toMatchObject({ outcome: 'found', by: 'externalId', account: { id: u.id } });
  expect(r.match.keys.map((k) => [k.key, k.found.length])).toEqual([
    ['externalId', 1],
    ['userName', 0],
    ['emails', 0],
  ]);
  // Three filtered searches, one per key.
  const searches = scim.control.calls.filter((x) => x.path.includes('/app/scim/v2/Users?filter='));
  expect(searches.map((x) => decodeURIComponent(x.path.split('filter=')[1]!)).slice(-3)).toEqual([
    `externalId eq "${id}"`,
    expect.stringMatching(/^userName eq "new-/),
    expect.stringMatching(/^emails\.value eq "new-/),
  ]);
  await c.close?.();
});

test('userName and email addresses match without regard to case; externalId exactly', async () => {
  const id = uniq('S');
  const work = `${uniq('Case')}@Example.com`;
  const u = scim.seedUser('app', work.toLowerCase(), { emails: [work.toLowerCase()] });
  const c = connector();
  const r = await revokeMatched(system, c, subject(id.toLowerCase(), work.toUpperCase()));
  expect(r.match).toMatchObject({ by: 'userName', account: { id: u.id } });
  expect(r.match.keys.find((k) => k.key === 'emails')!.found.map((f) => f.id)).toEqual([u.id]);
  const other = scim.seedUser('app', `${uniq('x')}@example.com`, { externalId: id });
  const none = await revokeMatched(system, c, subject(id.toLowerCase(), `${uniq('nobody')}@example.com`));
  expect(none.match.outcome).toBe('not_found');
  expect(other.active).toBe(true);
  await c.close?.();
});

test('a server that ignores filters answers every user: nobody carrying the value is no match, and nothing changes', async () => {
  const bystander = scim.seedUser('app', `${uniq('bystander')}@example.com`);
  scim.ignoreFilters('app');
  try {
    const c = connector();
    const r = await revokeMatched(system, c, subject(uniq('S'), `${uniq('ghost')}@example.com`));
    expect(r.match.outcome).toBe('not_found');
    expect(r.changes).toEqual([]);
    expect(bystander.active).toBe(true);
    expect((await c.audit(subject(uniq('S'), `${uniq('ghost')}@example.com`))).found).toBe(0);
    // The leaver among everyone is still found, by the value they carry.
    const id = uniq('S');
    const leaver = scim.seedUser('app', `${uniq('leaver')}@example.com`, { externalId: id });
    const found = await revokeMatched(system, c, subject(id, `${uniq('other')}@example.com`));
    expect(found.match).toMatchObject({ outcome: 'found', account: { id: leaver.id } });
    expect([leaver.active, bystander.active]).toEqual([false, true]);
    await c.close?.();
  } finally {
    scim.ignoreFilters('app', false);
  }
});

test('externalId on one account and userName on another: ambiguous, neither deactivated; the audit sees both', async () => {
  const id = uniq('S');
  const work = `${uniq('two')}@example.com`;
  const a = scim.seedUser('app', `${uniq('a')}@example.com`, { externalId: id });
  const b = scim.seedUser('app', work);
  const c = connector();
  await expect(revokeMatched(system, c, subject(id, work))).rejects.toBeInstanceOf(AmbiguousAccountError);
  expect([a.active, b.active]).toEqual([true, true]);
  const finding = await c.audit(subject(id, work));
  expect(finding.active.map((x) => [x.id, x.by])).toEqual([
    [a.id, ['externalId']],
    [b.id, ['userName']],
  ]);
  await c.close?.();
});
