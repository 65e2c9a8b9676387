/**
 * The verification sign-off from the `offboard` CLI (run as a child process) against the real API,
 * worker, stand-ins and Temporal dev server: a departure with one red step reaches `awaiting_signoff`
 * (the test catalog compiles the report at once); `status` shows the checkpoint; `resolve` checks its
 * input locally, is refused for a green item and a second time, and records the note in the audit
 * table; `acknowledge` is refused for a token that is not HR or IT, succeeds for IT (again: success,
 * saying so) and HR; then the departure completes.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import type { VerificationView } from '../contract';
import { signDelivery } from '../lib/webhook-sign';
import type { RunningServer } from '../server/main';
import {
  TOKENS,
  WEBHOOK_SECRET,
  eventually,
  getJson,
  hrisEvent,
  post,
  seedEmployee,
  signNdaFromMail,
  startRunningStack,
  uniq,
  type Stack,
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

const CLI = path.join(__dirname, '..', 'cli', 'offboard.cjs');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `offboard ARGS` as a child process with an IT token unless `token` says otherwise. */
function offboard(args: string[], token = TOKENS.it): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      {
        env: { ...process.env, OFFBOARD_URL: api.url, OFFBOARD_TOKEN: token, NO_COLOR: '1' },
        timeout: 60_000,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

interface View {
  departure: { id: string; status: string };
  workflow: { phase: string | null };
  steps: { stepId: string; status: string }[];
  verification: VerificationView | null;
}

test('resolve and acknowledge through the CLI sign a departure with a red step off; it completes', async () => {
  const id = uniq('SO');
  const person = seedEmployee(stack.standIns, id);
  // The CRM refuses every PATCH for this user: its step turns red.
  stack.standIns.scim.control.inject({
    method: 'PATCH',
    pathIncludes: `/crm/scim/v2/Users/${person.scimUsers.crm.id}`,
    status: 500,
    times: Infinity,
  });
  const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id));
  const departureId = (await post(`${api.url}/webhooks/hris`, d.body, d.headers)).json.departureId as string;
  const view = async () =>
    (await getJson(`${api.url}/departures/${departureId}`, TOKENS.it)).json as unknown as View;

  await eventually(
    async () => (await view()).steps.find((s) => s.stepId === 'crm')?.status === 'red',
    30_000,
    'crm red',
  );
  // The ticket owners confirm the badge and chat tickets; the employee signs the NDA.
  const tickets = await eventually(
    async () => {
      const t = await stack.db.ticket.findMany({ where: { departureId } });
      return t.length === 2 ? t : null;
    },
    30_000,
    'two tickets',
  );
  for (const t of tickets) {
    const r = await fetch(`${api.url}/tickets/${t.id}/confirm`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.it}`, 'content-type': 'application/json' },
      body: JSON.stringify({ note: 'done by hand' }),
    });
    expect(r.status).toBe(202);
  }
  expect((await signNdaFromMail(stack, api.url, id)).status).toBe(200);

  // Waiting for sign-off, report compiled; the error says where it stood if it never gets there.
  let last: View | null = null;
  await eventually(
    async () => {
      last = await view();
      return last.workflow.phase === 'awaiting_signoff' && !!last.verification?.report;
    },
    90_000,
    'phase awaiting_signoff with the report compiled',
  ).catch((e: Error) => {
    const v = last as View | null;
    throw new Error(
      `${e.message}; last seen: departure ${v?.departure.status}, phase ${v?.workflow.phase}, ` +
        `report ${!!v?.verification?.report}, outstanding ${JSON.stringify(v?.verification?.outstanding)}`,
    );
  });
  const listed = await eventually(
    async () => {
      const r = await offboard(['list', '--awaiting-signoff', '--employee', id, '--json']);
      return (
        r.code === 0 && (JSON.parse(r.stdout) as { id: string }[]).some((x) => x.id === departureId) && r
      );
    },
    20_000,
    'listed as awaiting sign-off',
  );
  expect(listed.stderr).toBe('');

  // status shows the checkpoint: report compiled, nobody acknowledged, the red step unresolved.
  const before = await offboard(['status', id]);
  expect(before.code).toBe(1); // a red step
  expect(before.stdout).toMatch(/\nVerification report compiled \S+ \(.+\), acknowledgments due \S+/);
  expect(before.stdout).toContain('Sign-off    HR not yet; IT not yet');
  expect(before.stdout).toMatch(
    /\nOutstanding .*HR acknowledgment; IT acknowledgment; .*resolution of step:crm \(red\)/,
  );
  expect(before.stdout).toMatch(/\nITEM\s+REPORT\s+NOW\s+RESOLUTION\s+DETAIL\n/);
  expect(before.stdout).toMatch(/\nstep:crm\s+(yellow|red)\s+red\s+unresolved\s/);

  // The CRM admin disables the account by hand (so the final live audit finds none active).
  stack.standIns.scim.control.clearFaults();
  stack.standIns.scim.findUser('crm', person.workEmail)!.active = false;

  // Input is checked before anything is sent.
  const badHow = await offboard(['resolve', id, 'step:crm', '--how', 'ignored', '--note', 'whatever']);
  expect(badHow.code).toBe(64);
  expect(badHow.stderr).toMatch(/Allowed choices are fixed_by_hand, redriven_confirmed, accepted_risk/);
  const shortNote = await offboard(['resolve', id, 'step:crm', '--how', 'accepted_risk', '--note', ' ok ']);
  expect(shortNote.code).toBe(64);
  expect(shortNote.stderr).toMatch(/at least 3 characters/);
  expect((await offboard(['resolve', id, 'crm', '--how', 'accepted_risk', '--note', 'x y z'])).code).toBe(64);
  expect((await offboard(['resolve', id, 'step:crm', '--note', 'no how given'])).code).toBe(64);

  // A green item needs no resolution: refused (422).
  const green = await offboard([
    'resolve',
    id,
    'step:wiki',
    '--how',
    'accepted_risk',
    '--note',
    'not needed',
  ]);
  expect(green.code).toBe(3);
  expect(green.stderr).toMatch(
    /API refused \(422 unprocessable\): step:wiki is green and needs no resolution/,
  );
  const unknown = await offboard([
    'resolve',
    id,
    'step:nope',
    '--how',
    'accepted_risk',
    '--note',
    'no such item',
  ]);
  expect(unknown.code).toBe(3);
  expect(unknown.stderr).toMatch(/404 not_found/);

  // The red step: accepted risk with a note, recorded in the audit table.
  const note = `CRM account disabled by its admin; ${uniq('note')}`;
  const resolved = await offboard(['resolve', id, 'step:crm', '--how', 'accepted_risk', '--note', note]);
  expect(resolved.stderr).toBe('');
  expect(resolved.code).toBe(0);
  expect(resolved.stdout).toMatch(
    new RegExp(`^resolved step:crm of ${departureId}: accepted_risk \\(by it-user at `),
  );
  const audit = await stack.db.auditEvent.findMany({
    where: { departureId, action: 'report_item_resolved' },
  });
  expect(audit.map((a) => a.details)).toContainEqual(
    expect.objectContaining({ itemId: 'step:crm', how: 'accepted_risk', note, role: 'it' }),
  );
  expect(audit.find((a) => (a.details as { itemId?: string }).itemId === 'step:crm')?.actor).toBe(
    'operator:it-user',
  );
  // A second resolution of the same item: refused (409).
  const again = await offboard(['resolve', id, 'step:crm', '--how', 'fixed_by_hand', '--note', 'once more']);
  expect(again.code).toBe(3);
  expect(again.stderr).toMatch(/409 conflict\): step:crm was already resolved by it-user/);

  // What else the report still needs: the test catalog compiles it at the trigger, so its live access
  // audit ran while the accounts were still being disabled and found them active (red access items,
  // resolved as fixed by hand; the final audit checks them again).
  const rest = (await view()).verification!;
  for (const itemId of rest.unresolved) {
    const item = rest.report!.items.find((i) => i.itemId === itemId)!;
    const how = item.kind === 'access' && item.colour === 'red' ? 'fixed_by_hand' : 'accepted_risk';
    const r = await offboard(
      ['resolve', departureId, itemId, '--how', how, '--note', 'checked by the test'],
      TOKENS.hr,
    );
    expect({ itemId, code: r.code, stderr: r.stderr }).toEqual({ itemId, code: 0, stderr: '' });
  }

  // acknowledge: only HR and IT tokens, each for itself.
  for (const token of [TOKENS.itdesk, TOKENS.admin]) {
    const refused = await offboard(['acknowledge', id], token);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/API refused \(403 forbidden\).*only an HR or IT token acknowledges/);
  }
  const it = await offboard(['acknowledge', id, '--note', 'IT checked the access audit']);
  expect(it.stderr).toBe('');
  expect(it.code).toBe(0);
  expect(it.stdout).toMatch(
    new RegExp(`^acknowledged the verification report of ${departureId} for IT \\(by it-user at `),
  );
  expect(it.stdout).toMatch(/\nstill outstanding: HR acknowledgment/);
  const itAgain = await offboard(['acknowledge', id]);
  expect(itAgain.code).toBe(0);
  expect(itAgain.stdout).toMatch(
    /^already acknowledged: IT acknowledged the verification report .* the first acknowledgment stands/,
  );
  const itAgainJson = await offboard(['acknowledge', departureId, '--json']);
  expect(itAgainJson.code).toBe(0);
  expect(JSON.parse(itAgainJson.stdout)).toMatchObject({
    departureId,
    alreadyAcknowledged: true,
    acknowledgment: { role: 'it', by: 'it-user', note: 'IT checked the access audit' },
  });
  const hr = await offboard(['acknowledge', `offboarding:${id}`], TOKENS.hr);
  expect(hr.code).toBe(0);
  expect(hr.stdout).toMatch(/for HR \(by hr-user at /);

  // Signed off: the final live audit finds nothing active and the departure completes.
  await eventually(
    async () =>
      (await stack.db.departure.findUniqueOrThrow({ where: { id: departureId } })).status === 'completed',
    60_000,
    'departure completed',
  ).catch(async (e: Error) => {
    const v = await view();
    throw new Error(
      `${e.message}; last seen: departure ${v.departure.status}, phase ${v.workflow.phase}, ` +
        `outstanding ${JSON.stringify(v.verification?.outstanding)}`,
    );
  });
  const after = await offboard(['status', id]);
  expect(after.stdout).toMatch(
    /\nSign-off {4}HR acknowledged by hr-user at \S+; IT acknowledged by it-user at \S+ \("IT checked the access audit"\)/,
  );
  expect(after.stdout).toMatch(
    /\nstep:crm\s+\S+\s+\S+\s+accepted_risk by it-user: CRM account disabled by its admin/,
  );
  // Acknowledging a finished offboarding is refused.
  expect((await offboard(['acknowledge', id], TOKENS.hr)).code).toBe(3);
}, 300_000);
