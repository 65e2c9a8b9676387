/**
 * Re-driving red steps of a running offboarding: after the fault is fixed, an IT operator re-drives the
 * red step through the API (workflow update with a validator); it runs again and turns green.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
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

test('a red step is re-driven once its target works again and turns green; the validator refuses the rest', async () => {
  const id = uniq('RD');
  const person = seedEmployee(stack.standIns, id);
  const crmUser = `/crm/scim/v2/Users/${person.scimUsers.crm.id}`;
  stack.standIns.scim.control.inject({
    method: 'PATCH',
    pathIncludes: crmUser,
    status: 500,
    times: Infinity,
  });
  const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id));
  const departureId = (await post(`${api.url}/webhooks/hris`, d.body, d.headers)).json.departureId as string;
  const stepsOf = async () =>
    (await getJson(`${api.url}/departures/${departureId}`, TOKENS.it)).json.steps as {
      stepId: string;
      status: string;
    }[];
  await eventually(
    async () => (await stepsOf()).find((s) => s.stepId === 'crm')?.status === 'red',
    30_000,
    'red',
  );
  const redrive = (token: string, body: unknown) =>
    post(`${api.url}/departures/${departureId}/redrive`, JSON.stringify(body), {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
    });
  expect((await redrive(TOKENS.hr, { reason: 'fixed the CRM' })).status).toBe(403);
  // A step that is not red, or a ticket: well-formed, not acceptable now (422); no such step: 404.
  const notRed = await redrive(TOKENS.it, { stepIds: ['wiki'], reason: 'just because' });
  expect(notRed.status).toBe(422);
  expect(JSON.stringify(notRed.json)).toMatch(/wiki is green, not red/);
  const ticket = await redrive(TOKENS.it, { stepIds: ['badge'], reason: 'just because' });
  expect(ticket.status).toBe(422);
  const unknown = await redrive(TOKENS.it, { stepIds: ['nope'], reason: 'just because' });
  expect(unknown.status).toBe(404);
  expect(JSON.stringify(unknown.json)).toMatch(/no step nope; the steps are .*crm/);

  stack.standIns.scim.control.clearFaults();
  // The CLI does it for the operator (through the same API route).
  const run = await new Promise<{ code: number; stdout: string }>((resolve) =>
    execFile(
      process.execPath,
      [path.join(__dirname, '..', 'cli', 'offboard.cjs'), 'redrive', id, '--reason', 'CRM is back', '--json'],
      { env: { ...process.env, OFFBOARD_URL: api.url, OFFBOARD_TOKEN: TOKENS.it }, timeout: 60_000 },
      (err, stdout) => resolve({ code: err ? Number(err.code ?? -1) : 0, stdout }),
    ),
  );
  expect(run.code).toBe(0);
  expect(JSON.parse(run.stdout)).toEqual({ departureId, accepted: ['crm'] });
  await eventually(
    async () => (await stepsOf()).find((s) => s.stepId === 'crm')?.status === 'green',
    30_000,
    'green',
  );
  expect(stack.standIns.scim.findUser('crm', person.workEmail)!.active).toBe(false);
  const row = await stack.db.stepRecord.findFirstOrThrow({ where: { departureId, systemId: 'crm' } });
  expect(row.status).toBe('green');
  // Nothing red is left to re-drive.
  expect((await redrive(TOKENS.it, { reason: 'again' })).status).toBe(409);
  expect(await stack.db.auditEvent.count({ where: { departureId, action: 'steps_redriven' } })).toBe(1);
}, 90_000);
