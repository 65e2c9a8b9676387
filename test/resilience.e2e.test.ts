/**
 * A failure must not stop the remaining revocations — not even when the failure email cannot be sent
 * because the mail server is down: the owner is told once it is back.
 */
import type { OffboardingWorkers } from '../workers/worker';
import { createMailer } from '../lib/mailer';
import { signDelivery } from '../lib/webhook-sign';
import type { RunningServer } from '../server/main';
import { freePort } from './support/services';
import {
  WEBHOOK_SECRET,
  createTestWorker,
  eventually,
  hrisEvent,
  post,
  seedEmployee,
  startApi,
  startStack,
  uniq,
  type Stack,
} from './support/harness';

let stack: Stack;
let api: RunningServer;

beforeAll(async () => {
  stack = await startStack();
  api = await startApi(stack);
});
afterAll(async () => {
  await api?.close();
  await stack?.stop();
});

test('with the identity provider failing and SMTP down, every later step still completes; the email follows', async () => {
  const id = uniq('S');
  const person = seedEmployee(stack.standIns, id);
  stack.standIns.graph.control.inject({ pathIncludes: '/v1.0/users', status: 500, times: Infinity });
  const deadSmtp = createMailer({
    db: stack.db,
    smtpUrl: `smtp://127.0.0.1:${await freePort()}`,
    from: 'x@example.com',
  });
  let worker: OffboardingWorkers = await createTestWorker(stack, stack.connectors, deadSmtp);
  let running = worker.run();
  const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id));
  const res = await post(`${api.url}/webhooks/hris`, d.body, d.headers);
  const departureId = res.json.departureId as string;

  // Entra is red, and LDAP, VPN and the applications after it are green although no mail can go out.
  const rows = await eventually(
    async () => {
      const r = await stack.db.stepRecord.findMany({ where: { departureId } });
      const by = new Map(r.map((x) => [x.systemId, x.status]));
      return by.get('entra') === 'red' && ['ldap', 'vpn', 'crm', 'wiki'].every((s) => by.get(s) === 'green')
        ? r
        : null;
    },
    45_000,
    'later steps green while the red step cannot notify',
  );
  expect(rows.find((r) => r.systemId === 'entra')?.lastError).toMatch(/TargetUnavailableError/);
  expect(stack.standIns.scim.findUser('crm', person.workEmail)!.active).toBe(false);
  expect(stack.mail.to('entra-owner@example.com').filter((m) => m.text.includes(id))).toHaveLength(0);

  // The mail server comes back (a worker with a working mailer): the owner is told, once.
  worker.shutdown();
  await running;
  deadSmtp.close();
  worker = await createTestWorker(stack);
  running = worker.run();
  try {
    const mail = await stack.mail.waitFor(
      (m) => m.to.includes('entra-owner@example.com') && m.text.includes(id),
      45_000,
    );
    expect(mail.purpose).toBe('step_failed');
  } finally {
    worker.shutdown();
    await running;
    stack.standIns.graph.control.clearFaults();
  }
}, 120_000);
