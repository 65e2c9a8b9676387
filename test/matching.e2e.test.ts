/**
 * No false greens, end to end (worker, Temporal dev server, PostgreSQL, slapd, the API; Graph and SCIM
 * stand-ins that store employeeId / externalId as the real services do): a leaver is matched to each
 * account by every catalog key. An account under another UPN is found by employee id and disabled; no
 * account where everyone has one is red, its owner is told, and sign-off needs a resolution saying so
 * (or the account id recorded and the step re-driven); two candidates are red and both untouched; a
 * protected account is red and untouched, and an operator's involuntary start of one waits for a second
 * operator; the live audit finds an account revocation did not reach.
 */
import { Client as LdapClient } from 'ldapts';
import { PERMANENT_LOCK } from '../activities/ldap';
import { signDelivery } from '../lib/webhook-sign';
import type { RunningServer } from '../server/main';
import { LDAP_ADMIN, LDAP_ADMIN_PASSWORD } from './support/services';
import {
  TOKENS,
  WEBHOOK_SECRET,
  env,
  eventually,
  getJson,
  hrisEvent,
  post,
  seedEmployee,
  startRunningStack,
  uniq,
  type Stack,
} from './support/harness';

let stack: Stack;
let api: RunningServer;
let stopAll: (() => Promise<void>) | undefined;
/** The test catalog protects these Entra accounts (added per test; the connectors share the list). */
let protectedAccounts: string[];

beforeAll(async () => {
  ({
    stack,
    api,
    stop: stopAll,
  } = await startRunningStack({
    catalog: (c) => {
      protectedAccounts = c.systems.find((s) => s.id === 'entra')!.protected.accounts;
    },
  }));
}, 60_000);
afterAll(async () => {
  await stopAll?.();
});

interface StepJson {
  stepId: string;
  status: string;
  lastError: string | null;
  match?: {
    outcome: string;
    by: string | null;
    account: { id: string; name: string } | null;
    keys: { key: string; found: { id: string }[] }[];
    candidates: { id: string }[];
  } | null;
}

const json = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });

async function fire(event: ReturnType<typeof hrisEvent> & { employee: Record<string, unknown> }) {
  const d = signDelivery(WEBHOOK_SECRET, event);
  const r = await post(`${api.url}/webhooks/hris`, d.body, d.headers);
  expect(r.status).toBe(202);
  return r.json.departureId as string;
}

const view = async (departureId: string) =>
  (await getJson(`${api.url}/departures/${departureId}`, TOKENS.it)).json as {
    departure: { status: string; approvalReason: string | null; approvedBy: string | null };
    steps: StepJson[];
    verification: {
      unresolved: string[];
      report: { items: { itemId: string; colour: string; detail: string | null }[] } | null;
    } | null;
  };

/** Waits until every API revocation step has settled (green or red); returns the view. */
const settled = (departureId: string, what = 'steps settled') =>
  eventually(
    async () => {
      const v = await view(departureId);
      const api = v.steps.filter((s) => !['badge', 'slack'].includes(s.stepId) && !s.stepId.includes('/'));
      return api.length >= 6 && api.every((s) => ['green', 'red'].includes(s.status)) ? v : null;
    },
    40_000,
    what,
  );

const step = (v: { steps: StepJson[] }, id: string) => v.steps.find((s) => s.stepId === id)!;

/** Waits for the compiled report (the e2e catalog compiles it at once after the revocation pass). */
const reported = (departureId: string) =>
  eventually(
    async () => {
      const v = await view(departureId);
      return v.verification?.report ? v : null;
    },
    40_000,
    'report compiled',
  );

async function resolve(departureId: string, itemId: string, how: string, note = 'checked by hand') {
  return post(
    `${api.url}/departures/${departureId}/resolutions`,
    JSON.stringify({ itemId, how, note }),
    json(TOKENS.it),
  );
}

async function ldapLocked(dn: string): Promise<boolean> {
  const c = new LdapClient({ url: env.ldapUrl });
  await c.bind(LDAP_ADMIN, LDAP_ADMIN_PASSWORD);
  try {
    const { searchEntries } = await c.search(dn, { scope: 'base', attributes: ['pwdAccountLockedTime'] });
    return searchEntries[0]?.pwdAccountLockedTime === PERMANENT_LOCK;
  } finally {
    await c.unbind();
  }
}

test('an account under another UPN (a name change) is found by employee id and disabled; the evidence says how', async () => {
  const id = uniq('NC');
  const person = seedEmployee(stack.standIns, id);
  // The HRIS already has the new name; Entra still has the old UPN, and knows the employee id.
  person.graphUser.userPrincipalName = `${uniq('old.name')}@example.com`;
  person.graphUser.mail = person.graphUser.userPrincipalName;
  person.graphUser.proxyAddresses = [`SMTP:${person.graphUser.userPrincipalName}`];
  person.graphUser.employeeId = id;
  stack.standIns.graph.reindex();
  const departureId = await fire(hrisEvent(id));
  const v = await settled(departureId);
  expect(step(v, 'entra')).toMatchObject({
    status: 'green',
    match: { outcome: 'found', by: 'employeeId', account: { id: person.graphUser.id } },
  });
  expect(person.graphUser.accountEnabled).toBe(false);
  // The audit trail carries the evidence too.
  const confirmed = await stack.db.auditEvent.findMany({
    where: { departureId, action: 'step_confirmed' },
  });
  const entra = confirmed.find((a) => (a.details as { systemId: string }).systemId === 'entra')!;
  expect(entra.details).toMatchObject({ match: { by: 'employeeId', account: { id: person.graphUser.id } } });
});

test('no account anywhere is red and its owner told; sign-off needs no_account, or the id recorded and the step re-driven', async () => {
  const id = uniq('NONE');
  // Not in Entra by any key, not in the directory, in no SCIM app.
  const departureId = await fire(hrisEvent(id));
  const v = await settled(departureId);
  expect(step(v, 'entra')).toMatchObject({ status: 'red', match: { outcome: 'not_found', account: null } });
  expect(step(v, 'entra').lastError).toMatch(/^AccountNotFoundError: no account found by employeeId, /);
  expect(step(v, 'ldap').status).toBe('red');
  // Applications are not everyone's: none there is green, naming the keys searched.
  expect(step(v, 'crm')).toMatchObject({ status: 'green', match: { outcome: 'not_found' } });
  const told = await stack.mail.waitFor(
    (m) => m.to.includes('entra-owner@example.com') && m.text.includes(id),
    30_000,
  );
  expect(told.subject).toContain('RED');
  expect(told.text).toContain('no account of theirs was found there by any matching key');
  expect(told.text).toContain('resolve the report item as no_account');

  const r = await reported(departureId);
  expect(r.verification!.unresolved).toEqual(expect.arrayContaining(['step:entra', 'step:ldap']));
  // Not finding an account is no accepted risk; no_account is only for a step that found none.
  const risky = await resolve(departureId, 'step:entra', 'accepted_risk');
  expect(risky.status).toBe(422);
  expect(risky.json).toMatchObject({ error: { message: expect.stringContaining('not proof') } });
  expect((await resolve(departureId, 'step:crm', 'no_account')).status).toBe(422);

  // The directory: the person never had an account there.
  expect(
    (await resolve(departureId, 'step:ldap', 'no_account', 'contractor: no directory account')).status,
  ).toBe(201);
  // Entra: IT finds the account by hand, records its id and re-drives the step.
  const found = stack.standIns.graph.seedUser({ userPrincipalName: `${uniq('legacy')}@example.com` });
  const recorded = await post(
    `${api.url}/departures/${departureId}/accounts`,
    JSON.stringify({ systemId: 'entra', accountId: found.id, note: 'legacy account, found in the portal' }),
    json(TOKENS.it),
  );
  expect(recorded.status).toBe(200);
  expect(recorded.json).toMatchObject({ systemId: 'entra', accountId: found.id, replaced: null });
  const redriven = await post(
    `${api.url}/departures/${departureId}/redrive`,
    JSON.stringify({ stepIds: ['entra'], reason: 'account id recorded' }),
    json(TOKENS.it),
  );
  expect(redriven.status).toBe(200);
  const after = await eventually(async () => {
    const x = await view(departureId);
    return step(x, 'entra').status === 'green' ? x : null;
  }, 30_000);
  expect(step(after, 'entra').match).toMatchObject({ by: 'known account id', account: { id: found.id } });
  expect(found.accountEnabled).toBe(false);
  expect((await resolve(departureId, 'step:entra', 'redriven_confirmed', 'disabled via its id')).status).toBe(
    201,
  );
  const left = await view(departureId);
  expect(left.verification!.unresolved).not.toContain('step:entra');
  expect(left.verification!.unresolved).not.toContain('step:ldap');
  expect(await stack.db.auditEvent.count({ where: { departureId, action: 'account_recorded' } })).toBe(1);
});

test('two candidates are red, both named to the owner, neither touched', async () => {
  const id = uniq('TWO');
  const person = seedEmployee(stack.standIns, id);
  // A second account carries the leaver's employee id (the first has the work email).
  const other = stack.standIns.graph.seedUser({
    userPrincipalName: `${uniq('other')}@example.com`,
    employeeId: id,
  });
  const departureId = await fire(hrisEvent(id));
  const v = await settled(departureId);
  const entra = step(v, 'entra');
  expect(entra.status).toBe('red');
  expect(entra.match!.outcome).toBe('ambiguous');
  expect(entra.match!.candidates.map((c) => c.id).sort()).toEqual([other.id, person.graphUser.id].sort());
  expect([person.graphUser.accountEnabled, other.accountEnabled]).toEqual([true, true]);
  expect(person.graphUser.disableCount + other.disableCount).toBe(0);
  const told = await stack.mail.waitFor(
    (m) => m.to.includes('entra-owner@example.com') && m.text.includes(id),
    30_000,
  );
  expect(told.text).toContain(other.id);
  expect(told.text).toContain(person.graphUser.id);
  expect(told.text).toContain('more than one account matches them');
});

test('a protected account is red and untouched; an operator start of one waits for a second operator', async () => {
  const id = uniq('PROT');
  const person = seedEmployee(stack.standIns, id);
  protectedAccounts.push(person.workEmail);
  // By the HRIS: it runs, and the protected account is red, never touched.
  const departureId = await fire(hrisEvent(id));
  const v = await settled(departureId);
  expect(step(v, 'entra')).toMatchObject({ status: 'red', match: { outcome: 'protected' } });
  expect(step(v, 'entra').lastError).toMatch(/ProtectedAccountError: .*protected account list/);
  expect(person.graphUser.accountEnabled).toBe(true);

  // By an operator, involuntary: held before anything starts.
  const id2 = uniq('PROT');
  const p2 = seedEmployee(stack.standIns, id2);
  protectedAccounts.push(p2.workEmail);
  const e = hrisEvent(id2);
  const submitted = await post(
    `${api.url}/departures`,
    JSON.stringify({ employee: e.employee, termination: e.termination }),
    json(TOKENS.hr),
  );
  expect(submitted.status).toBe(202);
  expect(submitted.json).toMatchObject({
    action: 'held',
    reason: expect.stringContaining(`${p2.workEmail} is a protected account in Microsoft Entra ID`),
  });
  const heldId = submitted.json.departureId as string;
  const held = await view(heldId);
  expect(held.departure).toMatchObject({ status: 'awaiting_approval', approvedBy: null });
  expect(held.steps).toEqual([]);
  // The dispatcher never starts it on its own.
  await new Promise((r) => setTimeout(r, 1_000));
  expect(
    (await stack.db.departure.findUniqueOrThrow({ where: { id: heldId } })).workflowStartedAt,
  ).toBeNull();
  // The operator who submitted it cannot approve it; a second one can.
  const approve = (token: string) =>
    post(
      `${api.url}/departures/${heldId}/approve`,
      JSON.stringify({ note: 'HR confirmed in person' }),
      json(token),
    );
  const self = await approve(TOKENS.hr);
  expect(self.status).toBe(403);
  expect(self.json).toMatchObject({ error: { message: expect.stringContaining('second operator') } });
  const second = await approve(TOKENS.it);
  expect(second.status).toBe(202);
  expect(second.json).toMatchObject({ departureId: heldId, action: 'started' });
  expect((await approve(TOKENS.admin)).status).toBe(409);
  const ran = await settled(heldId, 'approved departure settled');
  expect(ran.departure.approvedBy).toBe('operator:it-user');
  // Approval starts the offboarding; matching still never touches the protected account itself.
  expect(step(ran, 'entra').match!.outcome).toBe('protected');
  expect(p2.graphUser.accountEnabled).toBe(true);
  expect(await ldapLocked(p2.dn)).toBe(true);
  const trail = await stack.db.auditEvent.findMany({
    where: { departureId: heldId },
    orderBy: { id: 'asc' },
  });
  expect(trail.map((a) => a.action)).toEqual(
    expect.arrayContaining(['departure_held', 'departure_approved']),
  );
});

test('the live audit finds the account revocation did not reach, and names it', async () => {
  const id = uniq('LIVE');
  const person = seedEmployee(stack.standIns, id);
  // The HRIS names an old account of theirs; it wins over the keys, so revocation acts on it only...
  const old = stack.standIns.graph.seedUser({ userPrincipalName: `${uniq('former')}@example.com` });
  const event = hrisEvent(id);
  const departureId = await fire({ ...event, employee: { ...event.employee, accounts: { entra: old.id } } });
  const v = await settled(departureId);
  expect(step(v, 'entra').match).toMatchObject({ by: 'known account id', account: { id: old.id } });
  expect(old.accountEnabled).toBe(false);
  // ...while the current one, under the work email, stays enabled: the live audit searches every key.
  expect(person.graphUser.accountEnabled).toBe(true);
  const r = await reported(departureId);
  const access = r.verification!.report!.items.find((i) => i.itemId === 'access:entra')!;
  expect(access.colour).toBe('red');
  expect(access.detail).toContain(person.graphUser.id);
  expect(access.detail).toContain('found by userPrincipalName');
  expect(r.verification!.unresolved).toContain('access:entra');
});

test('named accounts of systems the catalog cannot act on are refused, and nothing is stored', async () => {
  const id = uniq('BAD');
  const event = hrisEvent(id);
  const d = signDelivery(WEBHOOK_SECRET, {
    ...event,
    employee: { ...event.employee, accounts: { nosuch: 'x', badge: 'B-1' } },
  });
  const r = await post(`${api.url}/webhooks/hris`, d.body, d.headers);
  expect(r.status).toBe(400);
  expect(r.json).toMatchObject({
    error: {
      fields: [
        { field: 'employee.accounts.nosuch', message: expect.stringContaining('no system "nosuch"') },
        { field: 'employee.accounts.badge', message: expect.stringContaining('revoked by ticket') },
      ],
    },
  });
  expect(await stack.db.departure.count({ where: { employeeId: id } })).toBe(0);
});
