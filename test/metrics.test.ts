/**
 * The API's `/metrics` (server/metrics.ts): scraped from the running API over a database holding known
 * departures, steps and outbox rows, the exposition text parsed and its gauges, histogram and counters
 * checked; the bearer token; a listener of its own (METRICS_PORT); the production guard against an
 * unprotected endpoint on a public interface (config/production.ts).
 */
import { loadConfig } from '../config/env';
import { isPrivateAddress, metricsProblems } from '../config/production';
import { generateCodecKey } from '../lib/codec';
import { signDelivery } from '../lib/webhook-sign';
import type { RunningServer } from '../server/main';
import { metricsExposure } from '../server/metrics';
import { parseExposition, valueOf } from './support/observability';
import {
  WEBHOOK_SECRET,
  createDeparture,
  hrisEvent,
  post,
  startApi,
  startStack,
  uniq,
  type Stack,
} from './support/harness';

const TOKEN = 'metrics-token-for-tests-0123456789abcdef';
let stack: Stack;
let api: RunningServer;

beforeAll(async () => {
  stack = await startStack();
  // No dispatcher pass during the tests (the first comes after the interval): the queued departure and
  // the pending message below stay in the outbox.
  api = await startApi(stack, { METRICS_TOKEN: TOKEN, DISPATCH_INTERVAL: '1h' });
});
afterAll(async () => {
  await api?.close();
  await stack?.stop();
});

async function scrape(url = api.metricsUrl!, token: string | null = TOKEN) {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

/** A departure in `status`, created `ageMs` ago, with steps `[system, status, seconds to confirmation]`. */
async function departureWith(
  status: string,
  steps: [string, string, number | null][],
  opts: { redItems?: number; started?: boolean } = {},
) {
  const input = await createDeparture(stack.db, uniq('M'));
  const createdAt = new Date(Date.now() - 60_000);
  await stack.db.departure.update({
    where: { id: input.departureId },
    data: {
      status,
      createdAt,
      redItems: opts.redItems ?? 0,
      workflowStartedAt: opts.started === false ? null : createdAt,
    },
  });
  await stack.db.stepRecord.createMany({
    data: steps.map(([systemId, s, seconds], i) => ({
      departureId: input.departureId,
      systemId,
      systemName: systemId,
      action: 'revoke',
      tier: 'application',
      ordinal: i,
      status: s,
      executingSystem: 'test',
      confirmedAt: seconds === null ? null : new Date(createdAt.getTime() + seconds * 1000),
    })),
  });
  return input.departureId;
}

test('/metrics reports departures, open steps, red items, the outbox and revocation times from the database', async () => {
  await departureWith(
    'running',
    [
      ['entra', 'green', 0.4],
      ['ldap', 'red', null],
      ['crm', 'yellow', null],
      ['wiki', 'pending', null],
    ],
    { redItems: 2 },
  );
  // Over: its steps are history (not open), but its revocation time counts.
  await departureWith('completed', [['entra', 'green', 3]]);
  // Accepted, not started: waits in the outbox; and a message for the running one, 10 minutes old.
  const queued = await departureWith('accepted', [], { started: false });
  await stack.db.workflowMessage.create({
    data: {
      departureId: queued,
      kind: 'lastDayChanged',
      payload: {},
      createdAt: new Date(Date.now() - 600_000),
    },
  });

  const r = await scrape();
  expect(r.status).toBe(200);
  expect(r.type).toMatch(/^text\/plain; version=0\.0\.4/);
  const m = parseExposition(r.text);
  expect(valueOf(m, 'offboard_departures', { status: 'running' })).toBe(1);
  expect(valueOf(m, 'offboard_departures', { status: 'completed' })).toBe(1);
  expect(valueOf(m, 'offboard_departures', { status: 'accepted' })).toBe(1);
  expect(valueOf(m, 'offboard_departures', { status: 'rescinded' })).toBe(0);
  expect(valueOf(m, 'offboard_open_steps', { system: 'entra', status: 'green' })).toBe(1);
  expect(valueOf(m, 'offboard_open_steps', { system: 'ldap', status: 'red' })).toBe(1);
  expect(valueOf(m, 'offboard_open_steps', { system: 'crm', status: 'yellow' })).toBe(1);
  expect(valueOf(m, 'offboard_open_steps', { system: 'wiki', status: 'pending' })).toBe(1);
  expect(valueOf(m, 'offboard_red_items_open')).toBe(2);
  expect(valueOf(m, 'offboard_outbox_depth', { kind: 'start' })).toBe(1);
  expect(valueOf(m, 'offboard_outbox_depth', { kind: 'lastDayChanged' })).toBe(1);
  expect(valueOf(m, 'offboard_outbox_depth', { kind: 'rescind' })).toBe(0);
  expect(valueOf(m, 'offboard_outbox_oldest_seconds', { kind: 'lastDayChanged' })).toBeGreaterThanOrEqual(
    599,
  );
  expect(valueOf(m, 'offboard_outbox_oldest_seconds', { kind: 'start' })).toBeGreaterThanOrEqual(59);
  expect(valueOf(m, 'offboard_metrics_database_up')).toBe(1);
  // 0.4 s and 3 s from the trigger: one in the 0.5 s bucket, both by 5 s.
  const h = 'offboard_revocation_confirmation_seconds';
  expect(valueOf(m, `${h}_bucket`, { le: '0.25' })).toBe(0);
  expect(valueOf(m, `${h}_bucket`, { le: '0.5' })).toBe(1);
  expect(valueOf(m, `${h}_bucket`, { le: '2' })).toBe(1);
  expect(valueOf(m, `${h}_bucket`, { le: '5' })).toBe(2);
  expect(valueOf(m, `${h}_bucket`, { le: '+Inf' })).toBe(2);
  expect(valueOf(m, `${h}_count`)).toBe(2);
  expect(valueOf(m, `${h}_sum`)).toBeCloseTo(3.4, 3);
  // Process metrics ride along; no label carries a person.
  expect(valueOf(m, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  expect(r.text).not.toMatch(/@example\.com|Employee /);
});

test('refused webhook deliveries are counted by reason, accepted ones by status', async () => {
  const before = parseExposition((await scrape()).text);
  const count = (m: typeof before, labels: Record<string, string>) =>
    valueOf(m, 'offboard_webhook_rejected_total', labels) ?? 0;
  const url = `${api.url}/webhooks/hris`;
  // A forged signature, a stale one, and a signed body that is not JSON.
  const forged = signDelivery(
    `whsec_${Buffer.from('not-the-secret-0123456789abcdef').toString('base64')}`,
    hrisEvent(uniq('F')),
  );
  expect((await post(url, forged.body, forged.headers)).status).toBe(401);
  const stale = signDelivery(WEBHOOK_SECRET, hrisEvent(uniq('F')), {
    timestamp: new Date(Date.now() - 3_600_000),
  });
  expect((await post(url, stale.body, stale.headers)).status).toBe(401);
  const notJson = signDelivery(WEBHOOK_SECRET, '{"type":');
  expect((await post(url, notJson.body, notJson.headers)).status).toBe(400);
  // A good one (its workflow starts; no worker runs it here).
  const good = signDelivery(WEBHOOK_SECRET, hrisEvent(uniq('G')));
  expect((await post(url, good.body, good.headers)).status).toBe(202);
  // A vendor path no adapter serves: counted under "other", not under the path's name.
  expect(
    (await post(`${api.url}/webhooks/hris/acme-hr`, '{}', { 'content-type': 'application/json' })).status,
  ).toBe(404);

  const after = parseExposition((await scrape()).text);
  expect(
    count(after, { source: 'hris', reason: 'signature_invalid' }) -
      count(before, { source: 'hris', reason: 'signature_invalid' }),
  ).toBe(2);
  expect(
    count(after, { source: 'hris', reason: 'bad_request' }) -
      count(before, { source: 'hris', reason: 'bad_request' }),
  ).toBe(1);
  expect(count(after, { source: 'other', reason: 'not_found' })).toBe(1);
  expect(valueOf(after, 'offboard_webhook_deliveries_total', { source: 'hris', status: '401' })).toBe(2);
  expect(valueOf(after, 'offboard_webhook_deliveries_total', { source: 'hris', status: '202' })).toBe(1);
  expect(count(after, { source: 'hris', reason: 'http_202' })).toBe(0);
  expect(after.some((s) => Object.values(s.labels).includes('acme-hr'))).toBe(false);
});

test('/metrics asks for its token', async () => {
  expect((await scrape(api.metricsUrl!, null)).status).toBe(401);
  expect((await scrape(api.metricsUrl!, `${TOKEN}x`)).status).toBe(401);
  const res = await fetch(api.metricsUrl!, { headers: { authorization: `Basic ${TOKEN}` } });
  expect(res.status).toBe(401);
  expect(res.headers.get('www-authenticate')).toBe('Bearer');
  expect(api.metricsUrl).toBe(`${api.url}/metrics`);
});

test('METRICS_PORT serves /metrics on a listener of its own, and only there', async () => {
  const own = await startApi(stack, {
    METRICS_PORT: '0',
    METRICS_BIND: '127.0.0.1',
    DISPATCH_INTERVAL: '1h',
  });
  try {
    expect(own.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(own.metricsUrl!.startsWith(own.url)).toBe(false);
    const r = await scrape(own.metricsUrl!, null);
    expect(r.status).toBe(200);
    expect(valueOf(parseExposition(r.text), 'offboard_departures', { status: 'running' })).toBe(1);
    expect((await fetch(`${own.url}/metrics`)).status).toBe(404);
  } finally {
    await own.close();
  }
});

test('where /metrics is served, and what production refuses', () => {
  const cfg = { METRICS_BIND: '127.0.0.1', NODE_ENV: 'production' as const };
  expect(metricsExposure({ ...cfg })).toEqual({ on: 'off' });
  expect(metricsExposure({ ...cfg, METRICS_TOKEN: TOKEN })).toEqual({ on: 'api', token: TOKEN });
  expect(metricsExposure({ ...cfg, NODE_ENV: 'development' })).toEqual({ on: 'api', token: null });
  expect(metricsExposure({ ...cfg, METRICS_PORT: 9100 })).toEqual({
    on: 'own-port',
    bind: '127.0.0.1',
    port: 9100,
    token: null,
  });
  for (const a of ['127.0.0.1', '::1', 'localhost', '10.1.2.3', '172.20.0.5', '192.168.1.9', 'fd12:3456::1'])
    expect({ a, private: isPrivateAddress(a) }).toEqual({ a, private: true });
  for (const a of ['0.0.0.0', '::', '8.8.8.8', '172.32.0.1', '2001:db8::1', 'fc::1', 'metrics.example.com'])
    expect({ a, private: isPrivateAddress(a) }).toEqual({ a, private: false });
  expect(metricsProblems({ METRICS_PORT: 9100, METRICS_BIND: '0.0.0.0' })).toEqual([
    expect.objectContaining({ field: 'METRICS_BIND' }),
  ]);
  expect(metricsProblems({ METRICS_PORT: 9100, METRICS_BIND: '0.0.0.0', METRICS_TOKEN: TOKEN })).toEqual([]);
  expect(metricsProblems({ METRICS_PORT: 9100, METRICS_BIND: '10.0.0.5' })).toEqual([]);
  expect(metricsProblems({ METRICS_BIND: '0.0.0.0', WORKER_METRICS_BIND: '0.0.0.0:9464' })).toEqual([
    expect.objectContaining({ field: 'WORKER_METRICS_BIND' }),
  ]);
  expect(metricsProblems({ METRICS_BIND: '127.0.0.1', WORKER_METRICS_BIND: '[::1]:9464' })).toEqual([]);

  // Through the configuration: the field is named, other settings' refusals aside.
  const env = {
    NODE_ENV: 'production',
    DATABASE_URL: 'postgresql://offboard@db.example.com/offboard',
    PAYLOAD_CODEC_KEYS: generateCodecKey('prod-1'),
  };
  const refusal = (extra: Record<string, string>) => {
    try {
      loadConfig({ ...env, ...extra });
      return '';
    } catch (e) {
      return (e as Error).message;
    }
  };
  expect(refusal({ METRICS_PORT: '9100', METRICS_BIND: '0.0.0.0' })).toMatch(
    /^ {2}METRICS_BIND: "0\.0\.0\.0" is not a loopback/m,
  );
  expect(refusal({ METRICS_PORT: '9100', METRICS_BIND: '10.0.0.5' })).not.toMatch(/METRICS_BIND/);
  expect(refusal({ WORKER_METRICS_BIND: '0.0.0.0:9464' })).toMatch(/^ {2}WORKER_METRICS_BIND: /m);
  expect(refusal({ WORKER_METRICS_BIND: 'localhost:9464' })).toMatch(/WORKER_METRICS_BIND: must be ip:port/);
  expect(refusal({ METRICS_TOKEN: 'short' })).toMatch(/METRICS_TOKEN: must be 32 to 512/);
  // Outside production the same settings pass.
  expect(
    loadConfig({ DATABASE_URL: env.DATABASE_URL, METRICS_PORT: '9100', METRICS_BIND: '0.0.0.0' })
      .METRICS_PORT,
  ).toBe(9100);
});
