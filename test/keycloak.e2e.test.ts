/**
 * A departure through the product with a Keycloak catalog (identity tier: the realm's account; MFA
 * tier: its credentials), against a real Keycloak: signed HRIS event → API → Temporal → worker →
 * Keycloak's Admin REST API. The identity step is green only after every read-back holds: while another
 * administrator keeps re-enabling the user and re-adding a password, it stays red-in-waiting
 * (ConfirmationMismatchError, retried); once they stop, it turns green, the leaver cannot sign in or
 * refresh, and the departure completes with a final live audit that finds no active account. A leaver
 * Keycloak does not know is red, and the owner is told.
 */
import { createConnectors } from '../activities/connectors';
import { statusQuery } from '../contract';
import { signDelivery } from '../lib/webhook-sign';
import type { RunningServer } from '../server/main';
import type { OffboardingWorkers } from '../workers/worker';
import {
  WEBHOOK_SECRET,
  createTestWorker,
  eventually,
  hrisEvent,
  post,
  signNdaFromMail,
  signOff,
  startApi,
  startStack,
  uniq,
  type Stack,
} from './support/harness';
import {
  KC_ENV,
  createTestRealm,
  createUser,
  describeKeycloak,
  keycloakCatalog,
  passwordGrant,
  refresh,
  userState,
  type TestRealm,
} from './support/keycloak';

let r: TestRealm;
let stack: Stack;
let kcStack: Stack;
let worker: OffboardingWorkers;
let running: Promise<void>;
let api: RunningServer;

async function fire(employeeId: string): Promise<string> {
  const d = signDelivery(WEBHOOK_SECRET, hrisEvent(employeeId));
  const res = await post(`${api.url}/webhooks/hris`, d.body, d.headers);
  expect(res.status).toBe(202);
  return res.json.departureId as string;
}

const step = (departureId: string, systemId: string) =>
  stack.db.stepRecord.findFirst({ where: { departureId, systemId, kind: 'revoke' } });

describeKeycloak('a departure with a Keycloak catalog (real Keycloak)', () => {
  beforeAll(async () => {
    r = await createTestRealm('kc-e2e');
    stack = await startStack();
    // The identity step keeps retrying (every 200 ms, 60 attempts) while a read-back does not hold.
    const catalog = keycloakCatalog(r, {
      retry: {
        maximumAttempts: 60,
        initialInterval: '200ms',
        backoffCoefficient: 1,
        maximumInterval: '200ms',
      },
    });
    kcStack = { ...stack, catalog, connectors: createConnectors(catalog, { ...process.env, ...KC_ENV }) };
    worker = await createTestWorker(kcStack);
    running = worker.run();
    api = await startApi(kcStack);
  }, 300_000);
  afterAll(async () => {
    await api?.close();
    worker?.shutdown();
    await running;
    for (const c of kcStack?.connectors.values() ?? []) await c.close?.();
    await stack?.stop();
  });

  test('green only after every read-back holds; then the leaver is out and the departure completes', async () => {
    const id = uniq('KC');
    const workEmail = `${id.toLowerCase()}@example.com`;
    const u = await createUser(r, {
      username: id.toLowerCase(),
      email: workEmail,
      employeeId: id,
      otp: true,
      webauthn: true,
      groups: ['staff', 'engineering'],
      idpLink: true,
    });
    const offline = await passwordGrant(r, u, 'openid offline_access');
    expect(offline.status).toBe(200);

    // Another administrator re-enables the user and re-adds a password, again and again.
    let stop = false;
    const admin = (async () => {
      while (!stop) {
        await r.setup.call('PUT', `/${r.realm}/users/${u.id}`, { enabled: true });
        await r.setup.call('PUT', `/${r.realm}/users/${u.id}/reset-password`, {
          type: 'password',
          value: u.password,
          temporary: false,
        });
      }
    })();
    let departureId: string;
    try {
      departureId = await fire(id);
      const failing = await eventually(
        async () => {
          const s = await step(departureId, 'keycloak');
          return s && s.attempts >= 2 && s.lastError?.startsWith('ConfirmationMismatchError') ? s : null;
        },
        60_000,
        'the identity step failing its read-back',
      );
      expect(failing.status).not.toBe('green');
      expect(failing.lastError).toMatch(
        /Keycloak still shows, after revocation: .*(enabled=true|credentials password)/,
      );
      expect((await step(departureId, 'keycloak'))!.status).not.toBe('green');
    } finally {
      stop = true;
      await admin;
    }

    // With nobody working against it, the next attempt's read-back holds: green, with the evidence.
    const green = await eventually(
      async () => {
        const s = await step(departureId, 'keycloak');
        return s?.status === 'green' ? s : null;
      },
      60_000,
      'the identity step green',
    );
    expect(green.attempts).toBeGreaterThanOrEqual(2);
    expect(green.evidence).toMatchObject({
      confirmation: { id: u.id, enabled: false, sessions: 0, offlineSessions: 0, credentials: 0, groups: 0 },
    });
    const mfa = await eventually(async () => {
      const s = await step(departureId, 'keycloak-mfa');
      return s?.status === 'green' ? s : null;
    }, 30_000);
    expect(mfa.executingSystem).toBe(`Keycloak @ ${new URL(r.url).host} (realm ${r.realm})`);
    expect(await userState(r, u.id)).toMatchObject({
      user: { enabled: false },
      sessions: [],
      offline: [],
      consents: [],
      credentials: [],
      groups: [],
      links: [],
    });
    expect(await passwordGrant(r, u)).toMatchObject({ status: 400, json: { error: 'invalid_grant' } });
    expect(await refresh(r, offline.json.refresh_token!)).toMatchObject({ status: 400 });

    // The leaver signs the NDA, HR and IT sign off: done needs a final live audit with no active account.
    expect((await signNdaFromMail(stack, api.url, id)).status).toBe(200);
    const dep = await eventually(
      async () => {
        const d = await stack.db.departure.findUnique({ where: { id: departureId } });
        return d?.status === 'awaiting_signoff' ? d : null;
      },
      60_000,
      'awaiting sign-off',
    );
    await signOff(stack.client, dep.workflowId);
    await eventually(
      async () =>
        (await stack.db.departure.findUnique({ where: { id: departureId } }))?.status === 'completed',
      60_000,
      'departure completed',
    );
    const st = await stack.client.workflow.getHandle(dep.workflowId).query(statusQuery);
    expect(st.redSteps).toBe(0);
    // The report's live audit (after the revocation pass) and the final one: no active account.
    for (const audit of [st.verification!.reportAudit!, st.verification!.finalAudit!])
      expect(audit.rows.filter((x) => x.systemId.startsWith('keycloak'))).toEqual([
        expect.objectContaining({ systemId: 'keycloak', active: 'no' }),
        expect.objectContaining({ systemId: 'keycloak-mfa', active: 'no' }),
      ]);
  }, 240_000);

  test('a leaver Keycloak does not know is red on the identity tier, and its owner is told', async () => {
    const id = uniq('KCNONE');
    const departureId = await fire(id);
    const red = await eventually(
      async () => {
        const s = await step(departureId, 'keycloak');
        return s?.status === 'red' ? s : null;
      },
      60_000,
      'identity step red',
    );
    expect(red.lastError).toMatch(/^AccountNotFoundError: no account found by employeeId, username, email/);
    const mfa = await eventually(async () => {
      const s = await step(departureId, 'keycloak-mfa');
      return s?.status === 'green' ? s : null;
    }, 30_000);
    expect(mfa.lastError).toBeNull();
    const told = await stack.mail.waitFor(
      (m) => m.to.includes('keycloak-owner@example.com') && m.text.includes(id),
      30_000,
    );
    expect(told.subject).toContain('RED');
  });
});
