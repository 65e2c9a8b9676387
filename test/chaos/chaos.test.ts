/**
 * Fault injection (`npm run test:chaos`, also part of `npm test`): the worker SIGKILLed mid-revocation,
 * the Temporal dev server killed and started again on its SQLite file, PostgreSQL down for a while, a
 * target that times out (with and without having made the change), then recovers. After each, for every
 * departure the HRIS was told was accepted: the offboarding completes (revocation confirmed, signed
 * off), each target changed state exactly once, no email went out twice, the audit chain is intact.
 */
import pg from 'pg';
import { verifyAuditChain } from '../../cli/commands/verify-audit';
import { offboardingWorkflowId, statusQuery } from '../../contract';
import { TOKENS, eventually, seedEmployee, signNdaFromMail, signOff, uniq } from '../support/harness';
import { startLab, type Lab } from './lab';

let lab: Lab;

beforeAll(async () => {
  lab = await startLab();
  lab.startWorker();
}, 120_000);

afterAll(async () => {
  await lab?.stop();
});

afterEach(() => {
  lab.standIns.scim.control.reset();
  lab.standIns.graph.control.reset();
});

function people(prefix: string, n: number) {
  return Array.from({ length: n }, () => seedEmployee(lab.standIns, uniq(prefix)));
}

/** Posts each employee's event; returns the departure id of each accepted one. */
async function fireAll(ps: { employeeId: string }[]): Promise<Map<string, string>> {
  const accepted = new Map<string, string>();
  for (const p of ps) {
    const r = await lab.fire(p.employeeId);
    expect([202]).toContain(r.status);
    accepted.set(p.employeeId, r.json.departureId as string);
  }
  return accepted;
}

/** Step rows of these departures, by status. */
async function stepCounts(departureIds: string[]) {
  const rows = await lab.db.stepRecord.findMany({ where: { departureId: { in: departureIds } } });
  const by: Record<string, number> = {};
  for (const r of rows) by[r.status] = (by[r.status] ?? 0) + 1;
  return { rows, by };
}

/** What a stuck departure looks like: its row, its steps, its workflow's phase. */
async function describe(departureId: string, employeeId: string): Promise<string> {
  const d = await lab.db.departure.findUnique({ where: { id: departureId } });
  const steps = await lab.db.stepRecord.findMany({ where: { departureId } });
  let phase = '?';
  try {
    const h = lab.client.workflow.getHandle(offboardingWorkflowId(employeeId));
    const st = await h.query(statusQuery);
    phase = `${st.phase} ${JSON.stringify(st.steps.map((x) => [x.stepId, x.status]))}`;
  } catch (e) {
    phase = `query failed: ${String(e)}`;
  }
  return [
    `departure: ${d?.status}`,
    `steps: ${steps.map((x) => `${x.systemId}=${x.status}${x.lastError ? `(${x.lastError})` : ''}`).join(', ')}`,
    `workflow: ${phase}`,
  ].join('\n');
}

/**
 * Every accepted departure completes and left one trace per change: one departure row per employee,
 * every API step green (tickets yellow) without a failure email, signed off, completed; Entra disabled
 * once, each SCIM account deactivated once; no Message-ID twice in the SMTP catcher; audit chain intact.
 */
async function expectEveryOffboardingCompleted(
  ps: ReturnType<typeof seedEmployee>[],
  accepted: Map<string, string>,
  timeoutMs = 120_000,
) {
  const log = () => `\nworker log tail:\n${lab.workerLog()}`;
  expect([...accepted.keys()].sort()).toEqual(ps.map((p) => p.employeeId).sort());
  const departures = await lab.db.departure.findMany({
    where: { employeeId: { in: ps.map((p) => p.employeeId) } },
  });
  // Nothing accepted lost, nothing started twice.
  expect(departures.map((d) => d.id).sort()).toEqual([...accepted.values()].sort());

  for (const d of departures) {
    // Revocation confirmed: every API step green, the ticket steps waiting for their owners.
    await eventually(
      async () => {
        const r = await lab.db.stepRecord.findMany({ where: { departureId: d.id } });
        return r.length >= 10 && r.every((s) => s.status === (s.integration === 'api' ? 'green' : 'yellow'))
          ? r
          : null;
      },
      timeoutMs,
      `${d.employeeId} revocation confirmed`,
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}\n${await describe(d.id, d.employeeId)}${log()}`);
    });
    // The owners confirm their tickets, the employee signs the NDA, HR and IT sign off.
    for (const t of await lab.db.ticket.findMany({ where: { departureId: d.id } })) {
      // Just after a Temporal restart the API may answer 503 "retry later"; the owner retries.
      let answer = '';
      for (let i = 0; i < 10; i++) {
        const r = await fetch(`${lab.api.url}/tickets/${t.id}/confirm`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKENS.it}`, 'content-type': 'application/json' },
          body: JSON.stringify({ note: 'done by hand' }),
        });
        answer = `${r.status} ${await r.text()}`;
        if (r.status !== 503) break;
        await new Promise((ok) => setTimeout(ok, 1_000));
      }
      expect(answer).toMatch(/^202 /);
    }
    expect((await signNdaFromMail(lab, lab.api.url, d.employeeId)).status).toBe(200);
    await signOff(lab.client, offboardingWorkflowId(d.employeeId), { timeoutMs: 60_000 }).catch(
      async (e: Error) => {
        throw new Error(`${e.message}\n${await describe(d.id, d.employeeId)}${log()}`);
      },
    );
    await eventually(
      async () => (await lab.db.departure.findUnique({ where: { id: d.id } }))?.status === 'completed',
      60_000,
      `${d.employeeId} completed`,
    );
  }

  // Each target changed state exactly once for each person.
  for (const p of ps) {
    const g = lab.standIns.graph.find(p.workEmail)!;
    expect({ who: p.employeeId, enabled: g.accountEnabled, disabled: g.disableCount }).toEqual({
      who: p.employeeId,
      enabled: false,
      disabled: 1,
    });
    for (const app of ['vpn', 'crm', 'wiki'] as const) {
      const u = lab.standIns.scim.findUser(app, p.workEmail)!;
      expect({ who: p.employeeId, app, active: u.active, deactivations: u.deactivations }).toEqual({
        who: p.employeeId,
        app,
        active: false,
        deactivations: 1,
      });
    }
  }

  // No email twice: a message's id is derived from its business key (departure, purpose, recipient).
  const ids = lab.mail.messages.map((m) => m.messageId);
  const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
  expect(twice).toEqual([]);
  const failures = lab.mail.messages.filter(
    (m) => m.purpose === 'step_failed' && ps.some((p) => m.text.includes(p.employeeId)),
  );
  expect(failures.map((m) => m.subject)).toEqual([]);

  // The evidence trail survived the outage intact.
  const client = new pg.Client({ connectionString: lab.databaseUrl });
  await client.connect();
  try {
    const chain = await verifyAuditChain(client);
    expect(chain.broken).toBeNull();
    expect(chain.intact).toBe(true);
  } finally {
    await client.end();
  }
}

test('worker SIGKILLed mid-revocation, started again: every offboarding completes once', async () => {
  const ps = people('CK', 4);
  // Slow SCIM targets (VPN, CRM, wiki) so the kill lands while revocations are in flight.
  lab.standIns.scim.control.latencyMs = 700;
  const accepted = await fireAll(ps);
  const ids = [...accepted.values()];
  await eventually(async () => (await stepCounts(ids)).by.green! >= 4, 60_000, 'some steps green');
  await lab.killWorker();
  const { by } = await stepCounts(ids);
  // Killed mid-run: not everything was confirmed yet.
  expect(by.green ?? 0).toBeLessThan(ps.length * 10);
  lab.standIns.scim.control.latencyMs = 0;
  lab.startWorker();
  await expectEveryOffboardingCompleted(ps, accepted);
}, 300_000);

test('Temporal server killed mid-run and started again: queued events start, every offboarding completes', async () => {
  const ps = people('CT', 5);
  lab.standIns.scim.control.latencyMs = 700;
  const first = await fireAll(ps.slice(0, 3));
  const ids = [...first.values()];
  await eventually(async () => (await stepCounts(ids)).by.green! >= 3, 60_000, 'some steps green');
  await lab.killTemporal();
  // While Temporal is down, events are still accepted: stored, answered "queued", started later.
  const queued = new Map<string, string>();
  for (const p of ps.slice(3)) {
    const r = await lab.fire(p.employeeId);
    expect({ status: r.status, action: r.json.action }).toEqual({ status: 202, action: 'queued' });
    queued.set(p.employeeId, r.json.departureId as string);
  }
  await new Promise((r) => setTimeout(r, 3_000));
  lab.standIns.scim.control.latencyMs = 0;
  await lab.startTemporal();
  await expectEveryOffboardingCompleted(ps, new Map([...first, ...queued]));
}, 300_000);

test('PostgreSQL down for a while: refused events are redelivered, every offboarding completes', async () => {
  const ps = people('CP', 4);
  lab.standIns.scim.control.latencyMs = 500;
  const first = await fireAll(ps.slice(0, 3));
  const ids = [...first.values()];
  await eventually(async () => (await stepCounts(ids)).by.green! >= 3, 60_000, 'some steps green');
  await lab.stopPostgres();
  // An event that cannot be stored is refused with 503 (never "accepted" and then lost): the HRIS retries.
  const last = ps[3]!;
  const refused = await lab.fire(last.employeeId);
  expect(refused.status).toBe(503);
  await new Promise((r) => setTimeout(r, 8_000));
  await lab.startPostgres();
  lab.standIns.scim.control.latencyMs = 0;
  // The HRIS redelivers the refused event (same webhook id and body).
  const again = await eventually(
    async () => {
      const r = await lab.fire(last.employeeId);
      return r.status === 202 ? r : null;
    },
    30_000,
    'redelivery accepted',
  );
  await expectEveryOffboardingCompleted(
    ps,
    new Map([...first, [last.employeeId, again.json.departureId as string]]),
  );
}, 300_000);

test('a target that times out (with and without making the change) and recovers: changed once, completed', async () => {
  const ps = people('CX', 3);
  const scim = lab.standIns.scim.control;
  // The CRM makes the change but its answer never arrives in time (the call times out after 5 s)...
  scim.inject({ pathIncludes: '/crm/', method: 'PATCH', status: 200, times: 2, applyThenHoldMs: 7_000 });
  // ...and the wiki does not answer its userName search at all at first (one of the three matching
  // searches of an attempt, so each hang costs one attempt).
  scim.inject({ pathIncludes: '/wiki/scim/v2/Users?filter=userName', status: 200, times: 3, hangMs: 7_000 });
  const accepted = await fireAll(ps);
  await expectEveryOffboardingCompleted(ps, accepted, 180_000);
  // Both targets really timed out: each held or hung call cost an attempt (one per attempt at most, as
  // each outlasts the 5 s timeout); the CRM's retries found the change made and did not PATCH again.
  const steps = await lab.db.stepRecord.findMany({
    where: { departureId: { in: [...accepted.values()] }, systemId: { in: ['crm', 'wiki'] } },
  });
  const retries = (systemId: string) =>
    steps.filter((s) => s.systemId === systemId).reduce((n, s) => n + s.attempts - 1, 0);
  expect({ crm: retries('crm'), wiki: retries('wiki') }).toEqual({ crm: 2, wiki: 3 });
  expect(scim.calls.filter((c) => c.path.includes('/crm/') && c.method === 'PATCH')).toHaveLength(ps.length);
}, 300_000);
