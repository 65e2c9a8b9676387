/**
 * Abuse (docs/operations.md "Rate limits", docs/api.md "Refused deliveries"): the webhook endpoints, the
 * sign-in endpoints and the leavers' pages answer 429 with Retry-After past their limits, counted per
 * client address (behind a trusted proxy, the address X-Forwarded-For names) and, for the pages, per
 * link; a flood of forged webhook deliveries is counted (metrics and one RejectedDelivery row per
 * sender, reason and hour), not stored row by row; every bad limit setting is refused naming it.
 */
import { loadConfig } from '../config/env';
import { signDelivery } from '../lib/webhook-sign';
import type { RunningServer } from '../server/main';
import { TOKENS, WEBHOOK_SECRET, hrisEvent, startApi, startStack, uniq, type Stack } from './support/harness';

let stack: Stack;
/** Small limits, behind a proxy on loopback (the test's own requests name their address). */
let api: RunningServer;

const FORGER = `whsec_${Buffer.from('forger-key-forger-key-forger-key').toString('base64')}`;

beforeAll(async () => {
  stack = await startStack();
  api = await startApi(stack, {
    WEBHOOK_RATE_LIMIT: '5/1m',
    SIGN_IN_RATE_LIMIT: '3/1m',
    PUBLIC_PAGE_RATE_LIMIT: '4/1m',
    PUBLIC_LINK_RATE_LIMIT: '2/1m',
    TRUST_PROXY: 'loopback',
  });
});
afterAll(async () => {
  await api?.close();
  await stack?.stop();
});

type Answer = {
  status: number;
  retryAfter: string | null;
  json: Record<string, unknown> | null;
  text: string;
};

async function request(
  base: string,
  path: string,
  init: { method?: string; ip?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  const res = await fetch(`${base}${path}`, {
    method: init.method ?? 'GET',
    headers: { ...(init.ip ? { 'x-forwarded-for': init.ip } : {}), ...init.headers },
    body: init.body,
  });
  const text = await res.text();
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    /* a page */
  }
  return { status: res.status, retryAfter: res.headers.get('retry-after'), json, text };
}

/** A forged delivery (signed with another key) of a confirmed termination. */
function forged(id = `forged-${uniq('F')}`) {
  return signDelivery(FORGER, hrisEvent(uniq('AB')), { id });
}

function expect429(a: Answer, what: RegExp) {
  expect(a.status).toBe(429);
  expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
  expect(Number(a.retryAfter)).toBeLessThanOrEqual(60);
  if (a.json) {
    expect(a.json).toEqual({
      error: {
        code: 'rate_limited',
        message: expect.stringMatching(what),
        retryAfterSeconds: expect.any(Number),
      },
    });
  }
}

test('1,000 forged deliveries: counted (metrics and one row per sender, reason and hour), a bounded number of sample rows, no body', async () => {
  const counting = await startApi(stack, { REJECTED_SAMPLES_PER_HOUR: '5' });
  try {
    // First in this file: the hour's samples are still to be taken.
    const before = await stack.db.triggerEvent.count();
    const ids: string[] = [];
    for (let batch = 0; batch < 50; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => {
          const d = forged();
          ids.push(d.headers['webhook-id']!);
          return request(counting.url, '/webhooks/hris', {
            method: 'POST',
            headers: d.headers,
            body: d.body,
          });
        }),
      );
      expect(answers.map((a) => a.status)).toEqual(Array(20).fill(401));
    }
    expect(ids).toHaveLength(1000);
    // Rows: at most the samples of each hour the flood touched (two if it crossed an hour).
    const samples = await stack.db.triggerEvent.findMany({ where: { webhookId: { in: ids } } });
    expect(samples.length).toBeGreaterThanOrEqual(5);
    expect(samples.length).toBeLessThanOrEqual(10);
    expect((await stack.db.triggerEvent.count()) - before).toBe(samples.length);
    for (const s of samples)
      expect(s).toMatchObject({
        outcome: 'rejected',
        signatureResult: 'invalid',
        payload: null,
        idempotencyKey: null,
        departureId: null,
      });
    const counted = await stack.db.rejectedDelivery.findMany({
      where: { source: 'hris', reason: 'signature_invalid' },
    });
    expect(counted.length).toBeLessThanOrEqual(2);
    expect(counted.reduce((n, r) => n + r.count, 0)).toBe(1000);
    // The metrics counter of this API process saw every one of them.
    const metrics = await (await fetch(counting.metricsUrl!)).text();
    expect(metrics).toMatch(
      /^offboard_webhook_rejected_total\{source="hris",reason="signature_invalid"\} 1000$/m,
    );

    // An unknown sender's path: counted, never stored.
    const unknown = await request(counting.url, '/webhooks/hris/nosuchvendor', {
      method: 'POST',
      body: '{}',
    });
    expect(unknown.status).toBe(404);
    expect(
      await stack.db.rejectedDelivery.findMany({ where: { source: 'other', reason: 'unknown_vendor' } }),
    ).toEqual([expect.objectContaining({ count: 1 })]);

    // Accepted deliveries are stored as before, with their body.
    const genuine = signDelivery(WEBHOOK_SECRET, hrisEvent(uniq('AB'), { status: 'active' }));
    const ok = await request(counting.url, '/webhooks/hris', {
      method: 'POST',
      headers: genuine.headers,
      body: genuine.body,
    });
    expect(ok.status).toBe(200);
    const row = await stack.db.triggerEvent.findUniqueOrThrow({
      where: { idempotencyKey: genuine.headers['webhook-id']! },
    });
    expect(row.payload).not.toBeNull();
  } finally {
    await counting.close();
  }
});

test('webhooks: 429 with Retry-After past the limit, per sender address behind a trusted proxy', async () => {
  const ip = '203.0.113.7';
  for (let i = 0; i < 5; i++) {
    const d = forged();
    const a = await request(api.url, '/webhooks/hris', {
      method: 'POST',
      ip,
      headers: d.headers,
      body: d.body,
    });
    expect(a.status).toBe(401);
  }
  // Past the limit even a genuine delivery waits: the HR system retries after Retry-After.
  const genuine = signDelivery(WEBHOOK_SECRET, hrisEvent(uniq('AB'), { status: 'active' }));
  const limited = await request(api.url, '/webhooks/hris', {
    method: 'POST',
    ip,
    headers: genuine.headers,
    body: genuine.body,
  });
  expect429(limited, /too many webhook deliveries from this address: at most 5 per 60 s; retry after \d+ s/);
  // The vendors' routes share the sender's budget.
  expect429(await request(api.url, '/webhooks/hris/bamboohr', { method: 'POST', ip, body: '{}' }), /webhook/);
  // Nothing of the refused delivery was stored.
  expect(await stack.db.triggerEvent.count({ where: { webhookId: genuine.headers['webhook-id']! } })).toBe(0);
  // Another sender is not limited: its genuine delivery is accepted.
  const other = await request(api.url, '/webhooks/hris', {
    method: 'POST',
    ip: '203.0.113.8',
    headers: genuine.headers,
    body: genuine.body,
  });
  expect(other.status).toBe(200);
  expect(other.json).toMatchObject({ action: 'ignored' });
});

test('without TRUST_PROXY, X-Forwarded-For is not believed: every request counts for the socket address', async () => {
  const direct = await startApi(stack, { WEBHOOK_RATE_LIMIT: '3/1m' });
  try {
    const answers: number[] = [];
    for (let i = 0; i < 4; i++) {
      const d = forged();
      const a = await request(direct.url, '/webhooks/hris', {
        method: 'POST',
        ip: `198.51.100.${i + 1}`,
        headers: d.headers,
        body: d.body,
      });
      answers.push(a.status);
    }
    expect(answers).toEqual([401, 401, 401, 429]);
  } finally {
    await direct.close();
  }
});

test('codec sign-in: failed attempts are limited per address (429 even for the right token), successes are not counted', async () => {
  const form = (token: string) => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  });
  // An operator signing in again and again is never locked out by their own successes.
  for (let i = 0; i < 5; i++)
    expect((await request(api.url, '/codec/login', { ...form(TOKENS.it), ip: '192.0.2.10' })).status).toBe(
      200,
    );
  const ip = '192.0.2.11';
  for (let i = 0; i < 3; i++)
    expect((await request(api.url, '/codec/login', { ...form(`guess-${i}`), ip })).status).toBe(401);
  expect429(
    await request(api.url, '/codec/login', { ...form(TOKENS.it), ip }),
    /too many failed sign-in attempts from this address: at most 3 per 60 s/,
  );
  // The dashboard's sign-in (`GET /me`) shares the budget.
  expect429(
    await request(api.url, '/me', { ip, headers: { authorization: `Bearer ${TOKENS.it}` } }),
    /failed sign-in/,
  );
  // Another address signs in.
  expect((await request(api.url, '/codec/login', { ...form(TOKENS.it), ip: '192.0.2.12' })).status).toBe(200);
});

test("leavers' pages: limited per link whoever opens it, and per address over every link; a 429 is a page", async () => {
  const link = `/sign/${'a'.repeat(43)}`;
  for (let i = 0; i < 2; i++) expect((await request(api.url, link, { ip: '192.0.2.20' })).status).toBe(404);
  // The same link from another address: the link's budget is spent.
  const perLink = await request(api.url, link, { ip: '192.0.2.21' });
  expect429(perLink, /too many requests for this link/);
  expect(perLink.text).toMatch(/<h1>Too many requests<\/h1>/);
  expect(perLink.text).toMatch(/too many requests for this link: at most 2 per 60 s/);
  // One address going through links: limited after 4 requests, whatever the link.
  const ip = '192.0.2.22';
  for (let i = 0; i < 4; i++)
    expect((await request(api.url, `/survey/${String(i).repeat(43)}`, { ip })).status).toBe(404);
  expect429(
    await request(api.url, `/survey/${'9'.repeat(43)}`, { ip }),
    /too many requests from this address/,
  );
  // The POST of a form counts too.
  const post = await request(api.url, `/sign/${'9'.repeat(43)}`, {
    method: 'POST',
    ip,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'fullName=X&acknowledge=yes',
  });
  expect(post.status).toBe(429);
});

describe('bad limit settings are refused naming the setting', () => {
  const base = { DATABASE_URL: 'postgresql://x@127.0.0.1/x' };
  const refusal = (env: Record<string, string>) => {
    try {
      loadConfig({ ...base, ...env });
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error('accepted');
  };

  test.each([
    ['WEBHOOK_RATE_LIMIT', 'lots'],
    ['WEBHOOK_RATE_LIMIT', '0/1m'],
    ['SIGN_IN_RATE_LIMIT', '10/2d'],
    ['PUBLIC_PAGE_RATE_LIMIT', '10/500ms'],
    ['PUBLIC_LINK_RATE_LIMIT', '10'],
  ])('%s=%s', (field, value) => {
    expect(refusal({ [field]: value })).toMatch(
      new RegExp(`${field}: must be <requests>/<window> such as 600/1m .*, or off`),
    );
  });

  test.each([
    ['TRUST_PROXY', 'yes', /TRUST_PROXY: "yes" is not an IP address, a CIDR range or one of loopback/],
    ['TRUST_PROXY', '10.0.0.0/33', /TRUST_PROXY: "10.0.0.0\/33" is not an IP address/],
    ['TRUST_PROXY', '11', /TRUST_PROXY: a hop count must be from 0 to 10/],
    ['REJECTED_SAMPLES_PER_HOUR', '-1', /REJECTED_SAMPLES_PER_HOUR: must be a whole number from 0 to 10000/],
  ])('%s=%s', (field, value, error) => {
    expect(refusal({ [field]: value })).toMatch(error);
  });

  test('the defaults, and off', () => {
    const c = loadConfig(base);
    expect(c.WEBHOOK_RATE_LIMIT).toEqual({ limit: 60_000, windowMs: 60_000 });
    expect(c.SIGN_IN_RATE_LIMIT).toEqual({ limit: 10, windowMs: 60_000 });
    expect(c.PUBLIC_PAGE_RATE_LIMIT).toEqual({ limit: 60, windowMs: 60_000 });
    expect(c.PUBLIC_LINK_RATE_LIMIT).toEqual({ limit: 20, windowMs: 60_000 });
    expect(c.TRUST_PROXY).toBe(false);
    expect(c.REJECTED_SAMPLES_PER_HOUR).toBe(20);
    expect(loadConfig({ ...base, WEBHOOK_RATE_LIMIT: 'off' }).WEBHOOK_RATE_LIMIT).toBeNull();
  });
});
