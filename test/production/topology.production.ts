/**
 * The production topology (`npm run test:production`; not part of `npm test`): the real Temporal server
 * (built from source, PostgreSQL persistence and visibility, schema set up by its own SQL tool) on the
 * Debian PostgreSQL, two Offboard worker processes and two API processes started as `npm run
 * start:worker` / `start:server` start them, the SCIM and Graph stand-ins as targets.
 *
 * One run: a burst of signed HRIS webhooks spread over both APIs; mid-burst one worker and one API are
 * SIGKILLed (deliveries to the dead API fail at the connection and go to the other one, as an HRIS retry
 * or a load balancer would); then the Temporal server is SIGKILLed while revocations are in flight,
 * webhooks meanwhile are still accepted (queued), and it is started again. Then: every webhook answered
 * 202 has its departure (one per employee) and its workflow, every revocation is confirmed, and every
 * target was changed exactly once (the stand-ins count state changes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { offboardingWorkflowId, SEARCH_ATTRIBUTES } from '../../contract';
import { MailCatcher } from '../../embedded/mailcatcher';
import { createDb, type Db } from '../../lib/db';
import { signDelivery } from '../../lib/webhook-sign';
import {
  CODEC_KEYS_SPEC,
  OPERATOR_TOKENS,
  SECRETS,
  WEBHOOK_SECRET,
  catalogYaml,
  dataConverter,
  env,
  eventually,
  hrisEvent,
  registerSearchAttributes,
  seedEmployee,
  startStandIns,
  uniq,
  workflowBundlePath,
  type StandIns,
} from '../support/harness';
import { freePort } from '../support/services';
import { setupTemporalSchema, startTemporalServer, type TemporalServer } from './temporal-server';

/** Departures in the burst. */
const N = 36;
const repo = path.resolve(__dirname, '../..');

interface Proc {
  name: string;
  child: ChildProcess;
  log(): string;
}

/** A worker or API process, as `npm run start:worker` / `start:server` runs it (node, tsx), with `vars`. */
function startProcess(name: string, script: string, vars: Record<string, string>, ready: RegExp): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: repo,
    env: { ...process.env, ...vars },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  // Drain both pipes (a full pipe would block the process); keep the tail for a failure message.
  const keep = (b: Buffer) => (log = (log + b.toString()).slice(-6000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const p: Proc = { name, child, log: () => log };
  (p as Proc & { ready: Promise<void> }).ready = eventually(
    async () => {
      if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}):\n${log}`);
      return ready.test(log);
    },
    90_000,
    `${name} started`,
  ).then(() => undefined);
  return p;
}

async function sigkill(p: Proc): Promise<void> {
  const c = p.child;
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGKILL');
  await exited;
}

async function stopProcess(p: Proc): Promise<void> {
  const c = p.child;
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

let temporalServer: TemporalServer;
let connection: Connection;
let client: Client;
let standIns: StandIns;
let mail: MailCatcher;
let db: Db;
let workers: Proc[] = [];
let apis: (Proc & { url: string })[] = [];

const logs = () =>
  [...workers, ...apis].map((p) => `\n--- ${p.name} log tail:\n${p.log()}`).join('') +
  `\n--- temporal server log tail:\n${temporalServer?.log() ?? ''}`;

beforeAll(async () => {
  const root = path.join(env.root, uniq('production'));
  mkdirSync(root, { recursive: true });
  const pgPort = Number(process.env.TEST_PG_PORT);
  setupTemporalSchema(pgPort);
  temporalServer = await startTemporalServer(root, pgPort);
  // A fresh server has no namespace: register `default` and the offboarding search attributes, as an
  // operator does once (`temporal operator namespace create`, `... search-attribute create`).
  connection = await eventually(
    () => Connection.connect({ address: temporalServer.address }),
    60_000,
    'connect',
  ).catch((e: Error) => {
    throw new Error(`${e.message}${logs()}`);
  });
  await eventually(
    async () => {
      await connection.workflowService
        .registerNamespace({ namespace: 'default', workflowExecutionRetentionPeriod: msToTs('3 days') })
        .catch((e: Error) => {
          if (!/already exists|AlreadyExists/i.test(String(e))) throw e;
        });
      return true;
    },
    60_000,
    'namespace registered',
  );
  await eventually(
    async () => {
      await registerSearchAttributes(connection);
      return true;
    },
    60_000,
    'search attributes registered',
  );
  client = new Client({ connection, dataConverter });
  // Every service knows the namespace and the attributes once a start carrying one is accepted.
  await eventually(
    async () => {
      const h = await client.workflow.start('probe', {
        taskQueue: uniq('probe'),
        workflowId: uniq('probe'),
        searchAttributes: { [SEARCH_ATTRIBUTES.employeeId.name]: ['probe'] },
      });
      await h.terminate('probe');
      return true;
    },
    90_000,
    'namespace ready on every service',
  ).catch((e: Error) => {
    throw new Error(`${e.message}${logs()}`);
  });

  mail = new MailCatcher();
  await mail.start();
  standIns = await startStandIns();
  const catalogFile = path.join(root, 'catalog.yaml');
  // Retries long enough to outlast the outages (a killed worker's activities time out and are retried).
  writeFileSync(catalogFile, catalogYaml(standIns, { maximumAttempts: 20 }));
  db = createDb(env.databaseUrl);
  const taskQueue = uniq('production-tq');
  const common = {
    DATABASE_URL: env.databaseUrl,
    TEMPORAL_ADDRESS: temporalServer.address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    PAYLOAD_CODEC_KEYS: CODEC_KEYS_SPEC,
  };
  const apiPorts = [await freePort(), await freePort()];
  apis = apiPorts.map((port, i) =>
    Object.assign(
      startProcess(
        `api-${i + 1}`,
        'server/main.ts',
        {
          ...common,
          HRIS_WEBHOOK_SECRET: WEBHOOK_SECRET,
          OPERATOR_TOKENS,
          PORT: String(port),
          DISPATCH_INTERVAL: '500ms',
          LOG_LEVEL: 'info',
        },
        /API listening/,
      ),
      { url: `http://127.0.0.1:${port}` },
    ),
  );
  workers = [1, 2].map((i) =>
    startProcess(
      `worker-${i}`,
      'workers/main.ts',
      {
        ...common,
        ...SECRETS,
        CATALOG_FILE: catalogFile,
        SMTP_URL: mail.url,
        PUBLIC_URL: apis[0]!.url,
        WORKFLOW_BUNDLE: workflowBundlePath(),
        LOG_LEVEL: 'info',
      },
      /worker started/,
    ),
  );
  await Promise.all([...apis, ...workers].map((p) => (p as Proc & { ready: Promise<void> }).ready)).catch(
    (e: Error) => {
      throw new Error(`${e.message}${logs()}`);
    },
  );
}, 300_000);

afterAll(async () => {
  await Promise.all([...apis, ...workers].map(stopProcess));
  await connection?.close().catch(() => undefined);
  await db?.$disconnect();
  await standIns?.stop();
  await mail?.stop();
  await temporalServer?.stop();
});

const deliveries = new Map<string, { id: string; body: string }>();

/**
 * Delivers the HRIS event terminating `employeeId` to API `first` (0 or 1), as an HRIS does: on a
 * connection failure or a 5xx it delivers again (same webhook id and body, fresh signature), to the other
 * API if this one is gone. Returns the accepted (202) answer.
 */
async function deliver(employeeId: string, first: number) {
  let delivery = deliveries.get(employeeId);
  if (!delivery) {
    delivery = { id: `msg_${uniq(employeeId)}`, body: JSON.stringify(hrisEvent(employeeId)) };
    deliveries.set(employeeId, delivery);
  }
  let target = first;
  const tried: string[] = [];
  for (let attempt = 0; attempt < 30; attempt++) {
    const api = apis[target]!;
    const d = signDelivery(WEBHOOK_SECRET, delivery.body, { id: delivery.id });
    try {
      const res = await fetch(`${api.url}/webhooks/hris`, {
        method: 'POST',
        body: d.body,
        headers: d.headers,
      });
      const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
      tried.push(`${api.name}:${res.status}`);
      if (res.status === 202) return { api: api.name, json, tried };
      // 5xx and 429 (rate limited) are delivered again, as an HRIS does; any other answer is a failure.
      if (res.status < 500 && res.status !== 429)
        throw new Error(`${employeeId}: ${res.status} ${JSON.stringify(json)}`);
    } catch (e) {
      if (String(e).includes(`${employeeId}:`)) throw e;
      tried.push(`${api.name}:unreachable`);
      target = 1 - target;
    }
    await sleep(500);
  }
  throw new Error(`${employeeId} never accepted: ${tried.join(' ')}`);
}

/** Departures whose every API step is green and every ticket step yellow (revocation confirmed). */
async function revoked(departureIds: string[]): Promise<Set<string>> {
  const rows = await db.stepRecord.findMany({ where: { departureId: { in: departureIds } } });
  const by = new Map<string, typeof rows>();
  for (const r of rows) by.set(r.departureId, [...(by.get(r.departureId) ?? []), r]);
  return new Set(
    [...by].flatMap(([id, r]) =>
      r.length >= 10 && r.every((s) => s.status === (s.integration === 'api' ? 'green' : 'yellow'))
        ? [id]
        : [],
    ),
  );
}

test('a burst over two APIs and two workers, a worker, an API and the Temporal server killed: every accepted offboarding revokes, each target changed once', async () => {
  const people = Array.from({ length: N }, () => seedEmployee(standIns, uniq('PT')));
  const accepted = new Map<string, { departureId: string; action: string; api: string; tried: string[] }>();
  const accept = (employeeId: string, r: Awaited<ReturnType<typeof deliver>>) =>
    accepted.set(employeeId, {
      departureId: r.json.departureId as string,
      action: r.json.action as string,
      api: r.api,
      tried: r.tried,
    });
  // Slow SCIM targets, so revocations are in flight when the kills land.
  standIns.scim.control.latencyMs = 400;

  // 1. The first third of the burst, spread over both APIs, until revocations are under way.
  const first = people.slice(0, 12);
  await Promise.all(first.map(async (p, i) => accept(p.employeeId, await deliver(p.employeeId, i % 2))));
  await eventually(
    async () => (await db.stepRecord.count({ where: { status: 'green' } })) >= 5,
    120_000,
    'first steps green',
  ).catch((e: Error) => {
    throw new Error(`${e.message}${logs()}`);
  });

  // 2. The rest of the burst; while it is being delivered, worker 1 and API 2 are SIGKILLed.
  const second = people.slice(12, N - 6);
  const burst = Promise.all(
    second.map(async (p, i) => {
      await sleep(i * 60);
      accept(p.employeeId, await deliver(p.employeeId, i % 2));
    }),
  );
  await sleep(second.length * 30);
  await Promise.all([sigkill(workers[0]!), sigkill(apis[1]!)]);
  const inFlightAtKill = [...accepted.values()].map((a) => a.departureId);
  const revokedAtKill = await revoked(inFlightAtKill);
  await burst;
  // Killed mid-run: offboardings were in flight, not all done yet...
  expect(revokedAtKill.size).toBeLessThan(inFlightAtKill.length);
  // ...and mid-burst: deliveries meant for API 2 found it gone and were redelivered to API 1.
  const redirected = [...accepted.values()].filter((a) => a.tried.includes('api-2:unreachable'));
  expect(redirected.length).toBeGreaterThan(0);

  // 3. The Temporal server SIGKILLed mid-revocation; webhooks meanwhile are accepted and queued.
  await temporalServer.kill();
  const atTemporalKill = [...accepted.values()].map((a) => a.departureId);
  const revokedAtTemporalKill = await revoked(atTemporalKill);
  // Revocations were in flight when the server died.
  expect(revokedAtTemporalKill.size).toBeLessThan(atTemporalKill.length);
  const last = people.slice(N - 6);
  for (const p of last) {
    const r = await deliver(p.employeeId, 0);
    expect({ who: p.employeeId, action: r.json.action }).toEqual({ who: p.employeeId, action: 'queued' });
    accept(p.employeeId, r);
  }
  await sleep(3_000);
  standIns.scim.control.latencyMs = 0;
  await temporalServer.start();
  console.log(
    `[production] ${N} departures: ${[...accepted.values()].filter((a) => a.api === 'api-1').length} accepted ` +
      `by api-1, ${[...accepted.values()].filter((a) => a.api === 'api-2').length} by api-2 ` +
      `(${redirected.length} redelivered after api-2's death); revocations confirmed when worker-1 and ` +
      `api-2 died: ${revokedAtKill.size}/${inFlightAtKill.length}, when Temporal died: ` +
      `${revokedAtTemporalKill.size}/${atTemporalKill.length}; ${last.length} queued while it was down`,
  );

  // Every webhook was accepted once the HRIS retried; both APIs took some (API 2 before its death).
  expect([...accepted.keys()].sort()).toEqual(people.map((p) => p.employeeId).sort());
  expect(new Set([...accepted.values()].map((a) => a.api))).toEqual(new Set(['api-1', 'api-2']));

  // Nothing accepted lost, nothing twice: one departure per employee, the one the 202 named.
  const departures = await db.departure.findMany({
    where: { employeeId: { in: people.map((p) => p.employeeId) } },
  });
  expect(departures.map((d) => d.id).sort()).toEqual([...accepted.values()].map((a) => a.departureId).sort());

  // Every accepted departure has its workflow (the queued ones started by the surviving API's dispatcher).
  for (const p of people) {
    await eventually(
      async () => (await client.workflow.getHandle(offboardingWorkflowId(p.employeeId)).describe()).runId,
      120_000,
      `${p.employeeId} has a workflow`,
    ).catch((e: Error) => {
      throw new Error(`${e.message}${logs()}`);
    });
  }

  // Every revocation confirmed, by the surviving worker.
  const ids = departures.map((d) => d.id);
  await eventually(
    async () => (await revoked(ids)).size === ids.length,
    480_000,
    'every revocation confirmed',
  ).catch(async (e: Error) => {
    const done = await revoked(ids);
    const stuck = departures.filter((d) => !done.has(d.id)).map((d) => d.employeeId);
    throw new Error(`${e.message}: ${stuck.length} not revoked (${stuck.join(', ')})${logs()}`);
  });

  // Each target changed state exactly once for each person (the stand-ins count state changes).
  for (const p of people) {
    const g = standIns.graph.find(p.workEmail)!;
    expect({ who: p.employeeId, enabled: g.accountEnabled, disabled: g.disableCount }).toEqual({
      who: p.employeeId,
      enabled: false,
      disabled: 1,
    });
    for (const app of ['vpn', 'crm', 'wiki'] as const) {
      const u = standIns.scim.findUser(app, p.workEmail)!;
      expect({ who: p.employeeId, app, active: u.active, deactivations: u.deactivations }).toEqual({
        who: p.employeeId,
        app,
        active: false,
        deactivations: 1,
      });
    }
  }
}, 900_000);
