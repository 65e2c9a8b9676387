/**
 * The first follow-up round (`firstFollowupRound`) as an activity, under MockActivityEnvironment over
 * the real asset and document activities (PostgreSQL, built-in asset register, SMTP catcher): what it
 * reports done and failed, that a failed part does not stop the others, that a second round changes
 * nothing, and that its parts take their turns at the worker's follow-up pace, shared by every round in
 * the process, slower while the same worker revokes.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import type { RevocationPlan } from '../contract';
import { createActivities } from '../activities';
import { createPacer, createRevocationGauge, type FirstRoundResult } from '../activities/followup';
import { PinoTemporalLogger } from '../workers/temporal';
import { createDeparture, quietLogger, seedEmployee, startStack, uniq, type Stack } from './support/harness';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

/** A departure with one laptop to recover. */
async function departure(opts: { personalEmail?: null } = {}) {
  const id = uniq('F');
  seedEmployee(stack.standIns, id, { ldap: false });
  const tag = uniq('TAG').toUpperCase();
  await stack.db.asset.create({
    data: { tag, name: 'Laptop', category: 'laptop', assignedToEmployeeId: id },
  });
  const input = await createDeparture(stack.db, id, { workLocation: 'remote' });
  if (opts.personalEmail === null)
    await stack.db.departure.update({ where: { id: input.departureId }, data: { personalEmail: null } });
  return { id, tag, departureId: input.departureId };
}

function activitiesAt(partsPerSecond?: number, whileRevoking?: number) {
  return createActivities({
    db: stack.db,
    catalog: {
      ...stack.catalog,
      dataSources: [
        {
          id: 'mailbox',
          name: 'Mailbox',
          retentionPolicy: 'email-7y',
          archiveLocation: 's3://archive/mail',
          deleteAfterArchive: false,
          owner: { name: 'Mail Owner', email: 'mail-owner@example.com' },
          connector: { kind: 'manual' },
        },
      ],
    },
    connectors: stack.connectors,
    mailer: stack.mailer,
    publicUrl: 'http://x',
    followupPartsPerSecond: partsPerSecond,
    followupPartsPerSecondWhileRevoking: whileRevoking,
  });
}

/** Runs a round in a mocked activity context, recording when each part ended (its heartbeat). */
async function round(acts: ReturnType<typeof activitiesAt>, departureId: string) {
  const env = new MockActivityEnvironment(undefined, { logger: new PinoTemporalLogger(quietLogger) });
  const beats: { part: string; at: number }[] = [];
  env.on('heartbeat', (part: string) => beats.push({ part, at: Date.now() }));
  const result = (await env.run(acts.firstFollowupRound, {
    departureId,
    dataSourceIds: ['mailbox'],
  })) as FirstRoundResult;
  return { result, beats };
}

test('a round does every part once and reports it; a second round changes nothing', async () => {
  const acts = activitiesAt();
  const d = await departure();
  const { result, beats } = await round(acts, d.departureId);
  expect(result.failed).toEqual([]);
  expect(result.assetPlan?.assets.map((a) => a.assetTag)).toEqual([d.tag]);
  expect(result.requested).toEqual([result.assetPlan!.assets[0]!.recoveryId]);
  expect(result.done).toEqual([
    'notifications',
    'exit_survey',
    'archive:mailbox',
    'archive_confirmation',
    'nda',
  ]);
  expect(beats.map((b) => b.part)).toEqual([
    'asset_plan',
    `request:${result.requested[0]}`,
    'notifications',
    'exit_survey',
    'archive:mailbox',
    'archive_confirmation',
    'nda',
  ]);
  const personal = `${d.id.toLowerCase()}@personal.example.net`;
  const mails = () => stack.mail.to(personal).map((m) => m.subject);
  const before = mails();
  expect(before.length).toBeGreaterThanOrEqual(3); // return request, exit survey, NDA
  const docs = await stack.db.document.findMany({ where: { departureId: d.departureId } });
  expect(docs.map((x) => x.type).sort()).toEqual(
    expect.arrayContaining(['data_archiving_confirmation', 'exit_survey', 'nda_acknowledgment']),
  );

  // Again (as a lost round's parts would run again): the same answer, no second email.
  const again = await round(acts, d.departureId);
  expect(again.result.failed).toEqual([]);
  expect(again.result.assetPlan).toEqual(result.assetPlan);
  expect(mails()).toEqual(before);
});

test('a part that fails is reported with its error and the rest still run', async () => {
  const d = await departure({ personalEmail: null });
  const { result } = await round(activitiesAt(), d.departureId);
  expect(result.failed.map((f) => f.part)).toEqual([
    `request:${result.assetPlan!.assets[0]!.recoveryId}`,
    'exit_survey',
    'nda',
  ]);
  for (const f of result.failed) expect(f.error).toMatch(/personalEmail/);
  expect(result.requested).toEqual([]);
  expect(result.done).toEqual(['notifications', 'archive:mailbox', 'archive_confirmation']);
});

test('parts take turns at the follow-up pace, shared by every round in the process', async () => {
  const acts = activitiesAt(10); // one part every 100 ms
  const [a, b] = await Promise.all([departure(), departure()]);
  const rounds = await Promise.all([round(acts, a.departureId), round(acts, b.departureId)]);
  const ends = rounds.flatMap((r) => r.beats.map((x) => x.at)).sort((x, y) => x - y);
  expect(ends).toHaveLength(14);
  // 14 turns 100 ms apart: the last part cannot end before 1.3 s after the first one started.
  expect(ends.at(-1)! - ends[0]!).toBeGreaterThanOrEqual(1_200);
});

test('a rescission stored before a part stops the round there: nothing more is done or sent', async () => {
  const d = await departure();
  await stack.db.departure.update({
    where: { id: d.departureId },
    data: { rescindedAt: new Date() },
  });
  const { result } = await round(activitiesAt(), d.departureId);
  expect(result).toEqual({ assetPlan: null, requested: [], done: [], failed: [], halted: true });
  expect(stack.mail.to(`${d.id.toLowerCase()}@personal.example.net`)).toEqual([]);
  expect(await stack.db.assetRecovery.count({ where: { departureId: d.departureId } })).toBe(0);
});

test('the pace gives way to revocations: slower while one runs, as before 2 s after the last ended', async () => {
  const gauge = createRevocationGauge(300);
  const turn = createPacer(20, { busy: gauge.busy, perSecond: 4 }); // 50 ms apart; 250 ms while revoking
  const env = new MockActivityEnvironment(undefined, { logger: new PinoTemporalLogger(quietLogger) });
  // When each turn ended, relative to the first. The pacer keeps a schedule (each turn booked one
  // interval after the previous booking), so a turn that wakes late is followed by a shorter gap;
  // what it guarantees is that the k-th turn is not earlier than k intervals after the first.
  const turns = (n: number): Promise<number[]> =>
    env.run(async () => {
      const at: number[] = [];
      for (let i = 0; i < n; i++) {
        await turn();
        at.push(Date.now());
      }
      return at.map((t) => t - at[0]!);
    });
  const slack = 5; // timers may fire a millisecond or so early against Date.now()
  let release!: () => void;
  const revoking = gauge.track(() => new Promise<void>((r) => (release = r)));
  expect(gauge.busy()).toBe(true);
  const slow = await turns(5);
  slow.forEach((t, k) => expect(t).toBeGreaterThanOrEqual(k * 250 - slack));
  release();
  await revoking;
  expect(gauge.busy()).toBe(true); // the quiet period after the last one
  await new Promise((r) => setTimeout(r, 600));
  expect(gauge.busy()).toBe(false);
  // The first turn after busy ones may still wait out one slow interval; the rest are 50 ms apart.
  const fast = (await turns(6)).slice(1);
  // Slots are kept on the schedule: a turn that ran late (a loaded machine: 36 ms instead of 50 once in
  // CI) lets the next one come sooner, so the gaps are checked from the second fast turn, one slot less.
  fast.forEach((t, k) => expect(t - fast[0]!).toBeGreaterThanOrEqual((k - 1) * 50 - slack));
  expect(fast.at(-1)! - fast[0]!).toBeLessThan(4 * 240);
  // A failed revocation counts too, and leaves the gauge as it found it.
  await expect(gauge.track(() => Promise.reject(new Error('target down')))).rejects.toThrow('target down');
  await new Promise((r) => setTimeout(r, 400));
  expect(gauge.busy()).toBe(false);
});

test("a worker's revocation in flight slows its rounds' parts to the while-revoking pace", async () => {
  const acts = activitiesAt(20, 2); // 50 ms apart; 500 ms while this worker revokes
  const [d, leaver] = await Promise.all([departure(), departure()]);
  const env = new MockActivityEnvironment(undefined, { logger: new PinoTemporalLogger(quietLogger) });
  const plan = (await env.run(acts.planRevocation, {
    departureId: leaver.departureId,
  })) as RevocationPlan;
  const wiki = plan.steps.find((p) => p.systemId === 'wiki' && p.kind === 'revoke');
  if (!wiki) throw new Error('the test catalog has no wiki step');
  stack.standIns.scim.control.latencyMs = 1_000; // each SCIM call of the revocation takes 1 s
  try {
    const revocation = new MockActivityEnvironment().run(acts.revokeAccess, {
      departureId: leaver.departureId,
      systemId: wiki.systemId,
      action: wiki.action,
    });
    let revokedAt = Infinity;
    void revocation.then(() => (revokedAt = Date.now()));
    await new Promise((r) => setTimeout(r, 100));
    const { result, beats } = await round(acts, d.departureId);
    expect(result.failed).toEqual([]);
    expect(await revocation).toMatchObject({ outcome: 'confirmed' });
    const during = beats.filter((b) => b.at < revokedAt);
    expect(during.length).toBeGreaterThanOrEqual(3);
    // Turns 500 ms apart (beats mark parts' ends, so one part's own time can shift one end).
    expect(during.at(-1)!.at - during[0]!.at).toBeGreaterThanOrEqual((during.length - 1) * 500 - 250);
  } finally {
    stack.standIns.scim.control.latencyMs = 0;
  }
});
