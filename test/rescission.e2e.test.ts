/**
 * Notice periods and rescissions through the real intake, API, worker and Temporal dev server: the HRIS
 * moving a last day reaches the running workflow; `termination_rescinded` halts what has not run and
 * opens a review for HR and IT (also after the offboarding has finished); HR can rescind from the API;
 * a rescission during the first follow-up round stops it.
 */
import { DateTime } from 'luxon';
import { RESCINDED_OUTSTANDING } from '../contract';
import { endOfLastDay } from '../lib/calendar';
import { signDelivery } from '../lib/webhook-sign';
import type { RunningServer } from '../server/main';
import {
  TOKENS,
  WEBHOOK_SECRET,
  createTestWorker,
  eventually,
  getJson,
  hrisEvent,
  post,
  seedEmployee,
  startApi,
  startRunningStack,
  uniq,
  type Stack,
  signNdaFromMail,
  signOff,
  firstRoundPlanned,
} from './support/harness';

let stack: Stack;
let api: RunningServer;
let stopAll: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ stack, api, stop: stopAll } = await startRunningStack());
}, 60_000);
afterAll(async () => {
  await stopAll?.();
});

const inDays = (days: number) => DateTime.now().setZone('Europe/Berlin').plus({ days }).toISODate()!;

async function send(event: unknown, id?: string) {
  const d = signDelivery(WEBHOOK_SECRET, event, id ? { id } : {});
  return post(`${api.url}/webhooks/hris`, d.body, d.headers);
}

async function view(departureId: string) {
  const r = await getJson(`${api.url}/departures/${departureId}`, TOKENS.hr);
  return r.json as {
    departure: { status: string; lastDay: string | null; revokeRestAt: string | null };
    workflow: { phase: string | null };
    steps: { stepId: string; systemId: string; status: string; ticketId: string | null }[];
    reviews: { kind: string; status: string; openedBy: string }[];
    verification: { unresolved: string[]; outstanding: string[] } | null;
  };
}

test('a moved last day reaches the running workflow; a rescission halts the rest and opens a review', async () => {
  const id = uniq('R');
  const person = seedEmployee(stack.standIns, id);
  const confirmedAt = new Date(Date.now() - 60_000).toISOString();
  const resign = (lastDay: string) =>
    hrisEvent(id, { status: 'resigned_confirmed', type: 'voluntary', confirmedAt, lastDay });

  const first = await send(resign(inDays(3)));
  expect(first.status).toBe(202);
  expect(first.json.action).toBe('started');
  const departureId = first.json.departureId as string;
  await eventually(async () => (await view(departureId)).workflow.phase === 'scoped', 30_000, 'scoped');

  // The HRIS moves the last day: answered "updated", the timer moves.
  const moved = await send(resign(inDays(5)), 'evt-move-' + id);
  expect(moved.status).toBe(202);
  expect(moved.json).toMatchObject({ departureId, action: 'updated' });
  const end = endOfLastDay(inDays(5), 'Europe/Berlin').toISOString();
  await eventually(async () => (await view(departureId)).departure.revokeRestAt === end, 20_000, 'moved');
  // Redelivering the same event changes nothing more.
  const again = await send(resign(inDays(5)), 'evt-move-' + id);
  expect(again.json.action).toBe('duplicate');

  // Rescinded: the privileged systems stay revoked, the waiting ones are halted, HR and IT review.
  const rescinded = await send(hrisEvent(id, { status: 'termination_rescinded' }));
  expect(rescinded.status).toBe(202);
  expect(rescinded.json).toMatchObject({ departureId, action: 'rescinded' });
  const v = await eventually(
    async () => {
      const x = await view(departureId);
      return x.departure.status === 'rescinded' ? x : null;
    },
    30_000,
    'rescinded',
  );
  expect(v.reviews).toEqual([expect.objectContaining({ kind: 'rescission', status: 'open' })]);
  // The notice period scoped the identity and directory accounts and revoked VPN (privileged) at once;
  // their full revocation and the applications were waiting, and are halted.
  const by = Object.fromEntries(v.steps.map((s) => [s.stepId, s.status]));
  expect(by).toMatchObject({
    'entra/scope_access': 'green',
    'ldap/scope_access': 'green',
    vpn: 'green',
    entra: 'halted',
    ldap: 'halted',
    crm: 'halted',
    wiki: 'halted',
  });
  expect(stack.standIns.scim.findUser('crm', person.workEmail)!.active).toBe(true);
  expect(stack.standIns.scim.findUser('vpn', person.workEmail)!.active).toBe(false); // not re-enabled
  expect(stack.standIns.graph.find(person.workEmail)!.accountEnabled).toBe(true); // scoped, never disabled
  // The review lists what the scope removed, for HR and IT to restore by hand.
  const review = await stack.mail.waitFor(
    (m) => m.purpose === 'rescission_review' && m.text.includes(id),
    20_000,
  );
  expect(review.text).toMatch(
    /Scoped for the notice period[^\n]*:\n {2}- Microsoft Entra ID: [^\n]*revokeSignInSessions/,
  );

  // A second rescission is a duplicate; one for an employee without an offboarding is ignored.
  expect((await send(hrisEvent(id, { status: 'termination_rescinded' }))).json.action).toBe('duplicate');
  // The same termination again is still a duplicate of the rescinded offboarding...
  const sameTermination = await send(resign(inDays(3)));
  expect(sameTermination.json).toMatchObject({ departureId, action: 'duplicate' });
  // ...but a later termination of the same employee is a new offboarding, under the same workflow id.
  const later = await send(
    hrisEvent(id, { status: 'terminated', type: 'involuntary', confirmedAt: new Date().toISOString() }),
  );
  expect(later.status).toBe(202);
  expect(['started', 'queued']).toContain(later.json.action);
  expect(later.json.departureId).not.toBe(departureId);
  const next = later.json.departureId as string;
  await eventually(
    async () => {
      const x = await view(next);
      return x.steps.length > 0 && x.steps.every((s) => s.status !== 'halted') ? x : null;
    },
    30_000,
    'the later offboarding runs',
  );
  expect((await view(departureId)).departure.status).toBe('rescinded');
  // A late copy of the rescinded termination, with another last day, is its duplicate: it does not
  // move the later offboarding's last day (it did: answered "updated" naming the later departure).
  const nextLastDay = (await view(next)).departure.lastDay;
  const late = await send(resign(inDays(9)));
  expect(late.json).toMatchObject({ departureId, action: 'duplicate' });
  expect((await view(next)).departure.lastDay).toBe(nextLastDay);
  expect(await stack.db.workflowMessage.count({ where: { departureId: next, kind: 'lastDayChanged' } })).toBe(
    0,
  );
  const stranger = await send(hrisEvent(uniq('R'), { status: 'termination_rescinded' }));
  expect(stranger.status).toBe(200);
  expect(stranger.json).toEqual({ action: 'ignored', reason: 'no offboarding of this employee to rescind' });
  const audit = await stack.db.auditEvent.findMany({ where: { departureId }, select: { action: true } });
  expect(audit.map((a) => a.action)).toEqual(
    expect.arrayContaining([
      'last_day_changed',
      'notice_period_moved',
      'rescission_received',
      'review_opened',
    ]),
  );
}, 120_000);

test('a rescission after the offboarding finished opens a review and re-enables nothing', async () => {
  const id = uniq('R');
  const person = seedEmployee(stack.standIns, id);
  const r = await send(hrisEvent(id));
  const departureId = r.json.departureId as string;
  // The badge and chat owners confirm their tickets, so the offboarding finishes.
  const tickets = await eventually(
    async () => {
      const t = (await view(departureId)).steps.filter((s) => s.ticketId);
      return t.length === 2 ? t : null;
    },
    30_000,
    'tickets open',
  );
  for (const t of tickets) {
    const c = await post(
      `${api.url}/tickets/${t.ticketId}/confirm`,
      JSON.stringify({ note: 'done by hand' }),
      {
        authorization: `Bearer ${TOKENS.it}`,
        'content-type': 'application/json',
      },
    );
    expect(c.status).toBe(202);
  }
  expect((await signNdaFromMail(stack, api.url, id)).status).toBe(200);
  await signOff(stack.client, `offboarding:${id}`);
  await eventually(async () => (await view(departureId)).departure.status === 'completed', 30_000, 'done');

  const rescinded = await send(hrisEvent(id, { status: 'termination_rescinded' }));
  expect(rescinded.json).toMatchObject({ departureId, action: 'rescinded' });
  const v = await eventually(
    async () => {
      const x = await view(departureId);
      return x.reviews.length === 1 && x.departure.status === 'rescinded' ? x : null;
    },
    30_000,
    'review opened',
  );
  expect(v.reviews[0]).toMatchObject({ kind: 'rescission', status: 'open' });
  expect(v.steps.every((s) => s.status === 'green')).toBe(true);
  expect(stack.standIns.scim.findUser('crm', person.workEmail)!.active).toBe(false);
  const mail = await stack.mail.waitFor((m) => m.purpose === 'rescission_review' && m.text.includes(id));
  expect(mail.text).toMatch(/Halted \(never run, access unchanged\):\n {2}\(none\)/);
}, 120_000);

test('HR can rescind from the API; other roles cannot; twice is a conflict', async () => {
  const id = uniq('R');
  seedEmployee(stack.standIns, id);
  const r = await send(
    hrisEvent(id, { type: 'voluntary', status: 'resigned_confirmed', lastDay: inDays(4) }),
  );
  const departureId = r.json.departureId as string;
  const rescind = (token: string, body: unknown = { reason: 'offer accepted after all' }) =>
    post(`${api.url}/departures/${departureId}/rescind`, JSON.stringify(body), {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
    });
  expect((await rescind(TOKENS.itdesk)).status).toBe(403);
  expect((await rescind(TOKENS.it)).status).toBe(403);
  const bad = await rescind(TOKENS.hr, { reason: '' });
  expect(bad.status).toBe(400);
  expect(await stack.db.workflowMessage.count({ where: { departureId } })).toBe(0);
  const ok = await rescind(TOKENS.hr);
  expect(ok.status).toBe(202);
  expect(ok.json).toMatchObject({ departureId, action: 'rescinded' });
  expect((await rescind(TOKENS.hr)).status).toBe(409);
  expect(
    (
      await post(`${api.url}/departures/dep_nope/rescind`, '{"reason":"xyz"}', {
        authorization: `Bearer ${TOKENS.hr}`,
        'content-type': 'application/json',
      })
    ).status,
  ).toBe(404);
  const v = await eventually(
    async () => {
      const x = await view(departureId);
      return x.departure.status === 'rescinded' ? x : null;
    },
    30_000,
    'rescinded',
  );
  expect(v.reviews[0]).toMatchObject({ openedBy: 'operator:hr-user' });
  // Nothing is left to sign off or resolve: the review is where HR and IT decide.
  expect(v.verification).toMatchObject({ unresolved: [], outstanding: [RESCINDED_OUTSTANDING] });
}, 120_000);

test('a rescission during the first follow-up round stops it: the leaver gets no NDA and no exit survey', async () => {
  // A worker and an API of their own, with a slow follow-up pace (a part every 2 s).
  const own = { ...stack, taskQueue: uniq('rescind-round') };
  const w = await createTestWorker(own, stack.connectors, stack.mailer, { followupPartsPerSecond: 0.5 });
  const running = w.run();
  const ownApi = await startApi(own);
  try {
    const id = uniq('R');
    seedEmployee(stack.standIns, id);
    const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id));
    const r = await post(`${ownApi.url}/webhooks/hris`, d.body, d.headers);
    const departureId = r.json.departureId as string;
    // The round has planned the asset recovery: HR rescinds before its other parts.
    await firstRoundPlanned(stack, departureId);
    const ok = await post(
      `${ownApi.url}/departures/${departureId}/rescind`,
      JSON.stringify({ reason: 'offer accepted after all' }),
      { authorization: `Bearer ${TOKENS.hr}`, 'content-type': 'application/json' },
    );
    expect(ok.status).toBe(202);
    await eventually(
      async () => (await view(departureId)).departure.status === 'rescinded',
      30_000,
      'rescinded',
    );
    // The review is open; what the round had not done stays undone, also after a while.
    await new Promise((res) => setTimeout(res, 3_000));
    const personal = `${id.toLowerCase()}@personal.example.net`;
    const toLeaver = stack.mail.to(personal);
    expect(toLeaver.filter((m) => /\/sign\/|exit survey/.test(`${m.subject}\n${m.text}`))).toEqual([]);
    const docs = await stack.db.document.findMany({ where: { departureId } });
    expect(docs.filter((x) => ['nda_acknowledgment', 'exit_survey'].includes(x.type))).toEqual([]);
  } finally {
    await ownApi.close();
    w.shutdown();
    await running;
  }
}, 120_000);
