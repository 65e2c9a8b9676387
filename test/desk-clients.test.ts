/**
 * The desk clients (activities/desk/) against the Jira and ServiceNow stand-ins: what goes to the desk
 * (the leaver's name and id, the marker, no address), finding a ticket again by its marker, reading
 * back by status category (Jira) and state (ServiceNow, Closed Skipped from sys_choice), and the
 * desks' errors: 401, 404, 429 with Retry-After or X-RateLimit-Reset. Plus the webhook checks.
 */
import { parseCatalog } from '../config/catalog';
import type { JiraDeskConfig, ServiceNowDeskConfig } from '../config/desk';
import { createJiraDesk } from '../activities/desk/jira';
import { createServiceNowDesk } from '../activities/desk/servicenow';
import type { DeskClient } from '../activities/desk/types';
import { TargetAuthError, TargetRejectedError, TargetThrottledError } from '../activities/errors';
import { deskRefOf, verifyJiraSignature, verifySharedSecret } from '../server/desk-webhooks';
import { JiraStandIn, hubSignature } from '../standins/jira';
import { ServiceNowStandIn } from '../standins/servicenow';

const jira = new JiraStandIn('bot@example.com', 'jira-token-for-tests');
const sn = new ServiceNowStandIn('offboard.integration', 'sn-password-for-tests');
let jiraCfg: JiraDeskConfig;
const snCfg = (table: 'sc_task' | 'incident'): ServiceNowDeskConfig => {
  const c = parseCatalog(
    `version: 1
organization: { hr: { name: HR, email: hr@example.com }, it: { name: IT, email: it@example.com } }
systems:
  - { id: erp, name: ERP, category: business, tier: application, integration: ticket, sso: false,
      owner: { name: O, email: o@example.com }, escalationOwner: { name: E, email: e@example.com }, ticketSlaHours: 24,
      connector: { kind: ticket, desk: { kind: servicenow, instanceUrl: "${sn.url}", table: ${table}, userEnv: U, passwordEnv: P } } }
`,
    'c.yaml',
    { U: 'u', P: 'p' },
  );
  return (c.systems[0]!.connector as { desk: ServiceNowDeskConfig }).desk;
};
const input = (ticketId: string) => ({
  ticketId,
  summary: 'Revoke all access of Dana Reyes (E-1042) in Payroll',
  description: 'Offboard asks for every access of Dana Reyes (employee id E-1042) in Payroll to be revoked.',
  dueAt: new Date('2026-11-26T14:00:00Z'),
});
const clients: DeskClient[] = [];
const track = <T extends DeskClient>(c: T) => (clients.push(c), c);

beforeAll(async () => {
  await jira.start();
  await sn.start();
  jiraCfg = {
    kind: 'jira',
    baseUrl: jira.url,
    serviceDeskId: '10',
    requestTypeId: '25',
    emailEnv: 'JIRA_EMAIL',
    tokenEnv: 'JIRA_TOKEN',
    notDoneResolutions: ["Won't Do", 'Declined'],
    pollEvery: '5m',
  };
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await jira.stop();
  await sn.stop();
});
beforeEach(() => {
  jira.reset();
  sn.reset();
});

describe('Jira Service Management', () => {
  const desk = () => track(createJiraDesk(jiraCfg, jira.email, jira.token));

  test('opens a request with the marker label and finds it again by the marker', async () => {
    const d = desk();
    const made = await d.create(input('t-1'));
    expect(made).toEqual({ ref: made.key, key: made.key, url: `${jira.url}/browse/${made.key}` });
    const issue = jira.issues.get(made.key)!;
    expect(issue.request).toMatchObject({
      serviceDeskId: '10',
      requestTypeId: '25',
      requestFieldValues: { summary: input('t-1').summary, labels: ['offboard-t-1'] },
    });
    expect(JSON.stringify(issue.request)).not.toMatch(/@/);
    expect(await d.find('t-1')).toEqual(made);
    expect(await d.find('t-2')).toBeNull();
  });

  test('reads back by status category, never by status name; the resolution says done or not', async () => {
    const d = desk();
    const { key } = await d.create(input('t-3'));
    expect(await d.read(key)).toEqual({ state: 'open', key, status: 'Waiting for support' });
    // A status named "Done" in the In Progress category is not closed.
    jira.transition(key, { status: 'Done', category: 'indeterminate' });
    expect((await d.read(key)).state).toBe('open');
    jira.transition(key, { status: 'Erledigt', category: 'done', resolution: 'Done', by: 'Alex Agent' });
    expect(await d.read(key)).toEqual({
      state: 'done',
      key,
      words: 'Done (status "Erledigt")',
      by: 'Alex Agent',
    });
    jira.transition(key, { status: 'Closed', category: 'done', resolution: "won't do", by: 'Kim Lead' });
    expect(await d.read(key)).toMatchObject({
      state: 'not_done',
      by: 'Kim Lead',
      words: expect.stringContaining("won't do"),
    });
  });

  test('an unknown issue is missing; a bad token is an auth error naming the env vars, not the token', async () => {
    const before = jira.issues.size;
    expect(await desk().read('HR-999')).toEqual({ state: 'missing', key: 'HR-999' });
    await expect(desk().read('not a key')).rejects.toThrow(TargetRejectedError);
    const bad = track(createJiraDesk(jiraCfg, jira.email, 'wrong'));
    const err = await bad.create(input('t-4')).catch((e: Error) => e);
    expect(err).toBeInstanceOf(TargetAuthError);
    expect((err as Error).message).toMatch(/401 You are not authenticated.*JIRA_EMAIL.*JIRA_TOKEN/);
    expect((err as Error).message).not.toContain('wrong');
    jira.serviceDesks.delete('10');
    await expect(desk().create(input('t-5'))).rejects.toThrow(/404: no service desk 10/);
    jira.serviceDesks.set('10', { projectKey: 'HR', requestTypes: new Set(['25']) });
    expect(jira.issues.size).toBe(before);
  });

  test('429 waits as Retry-After says, else until X-RateLimit-Reset (ISO 8601)', async () => {
    jira.throttle(1, 2);
    const a = await desk()
      .create(input('t-6'))
      .catch((e: unknown) => e);
    expect(a).toBeInstanceOf(TargetThrottledError);
    expect((a as TargetThrottledError).retryAfterMs).toBe(2000);
    jira.throttle(1, 3, { retryAfter: false });
    const b = await desk()
      .find('t-6')
      .catch((e: unknown) => e);
    expect(b).toBeInstanceOf(TargetThrottledError);
    // Measured against the answer's Date header (whole seconds): up to a second more, never less.
    expect((b as TargetThrottledError).retryAfterMs).toBeGreaterThan(1000);
    expect((b as TargetThrottledError).retryAfterMs).toBeLessThanOrEqual(4000);
    expect(await desk().find('t-6')).toBeNull();
  });
});

describe('ServiceNow', () => {
  test('opens a catalog task with the marker as correlation id and finds it again', async () => {
    const d = track(createServiceNowDesk(snCfg('sc_task'), sn.user, sn.password));
    const made = await d.create(input('t-10'));
    const rec = sn.records.get(made.ref)!;
    expect(made).toEqual({
      ref: rec.sys_id,
      key: rec.number,
      url: `${sn.url}/sc_task.do?sys_id=${rec.sys_id}`,
    });
    expect(rec).toMatchObject({
      correlation_id: 'offboard-t-10',
      short_description: input('t-10').summary,
      due_date: '2026-11-26 14:00:00',
    });
    expect(JSON.stringify(rec)).not.toMatch(/@/);
    expect(await d.find('t-10')).toEqual(made);
    expect(await d.find('t-11')).toBeNull();
  });

  test('sc_task: Closed Complete and inactive is done; Closed Incomplete and Closed Skipped are not', async () => {
    const d = track(createServiceNowDesk(snCfg('sc_task'), sn.user, sn.password));
    const one = (await d.create(input('t-12'))).ref;
    expect(await d.read(one)).toMatchObject({ state: 'open', status: 'Open' });
    sn.records.get(one)!.state = '3'; // Closed Complete but a business rule has not made it inactive yet
    expect((await d.read(one)).state).toBe('open');
    sn.closeRecord(one, { state: '3', closeNotes: 'badge disabled', by: 'Sam Servicedesk' });
    expect(await d.read(one)).toMatchObject({
      state: 'done',
      by: 'Sam Servicedesk',
      words: 'Closed Complete: badge disabled',
    });
    const two = (await d.create(input('t-13'))).ref;
    sn.closeRecord(two, { state: '4', closeNotes: 'badge not found' });
    expect(await d.read(two)).toMatchObject({
      state: 'not_done',
      words: 'Closed Incomplete: badge not found',
    });
  });

  test('Closed Skipped is read from sys_choice: an instance that gives it 5 is understood', async () => {
    sn.skippedValue = '5';
    const d = track(createServiceNowDesk(snCfg('sc_task'), sn.user, sn.password));
    const id = (await d.create(input('t-14'))).ref;
    sn.records.get(id)!.state = '5'; // skipped, still active: only sys_choice says it is closed
    expect(await d.read(id)).toMatchObject({ state: 'not_done', words: 'Closed Skipped' });
    expect(sn.control.count('/sys_choice')).toBe(1);
  });

  test('incident: Resolved is done unless its close code says not; Canceled is not done', async () => {
    const d = track(createServiceNowDesk(snCfg('incident'), sn.user, sn.password));
    const a = (await d.create(input('t-15'))).ref;
    sn.closeRecord(a, { state: '6', closeCode: 'Solution provided', by: 'Ana Agent' });
    expect(await d.read(a)).toMatchObject({ state: 'done', by: 'Ana Agent' });
    const b = (await d.create(input('t-16'))).ref;
    sn.closeRecord(b, { state: '6', closeCode: 'No resolution provided' });
    expect((await d.read(b)).state).toBe('not_done');
    const c = (await d.create(input('t-17'))).ref;
    sn.closeRecord(c, { state: '8' });
    expect(await d.read(c)).toMatchObject({ state: 'not_done', words: 'Canceled' });
  });

  test('401, 404 and 429 (Retry-After, else X-RateLimit-Reset in Unix seconds)', async () => {
    const bad = track(createServiceNowDesk(snCfg('sc_task'), sn.user, 'wrong'));
    const err = await bad.find('x').catch((e: Error) => e);
    expect(err).toBeInstanceOf(TargetAuthError);
    expect((err as Error).message).toMatch(
      /401 User Not Authenticated: Required to provide Auth information.*U and its password in P/,
    );
    const d = track(createServiceNowDesk(snCfg('sc_task'), sn.user, sn.password));
    expect(await d.read('0'.repeat(32))).toEqual({ state: 'missing', key: '0'.repeat(32) });
    sn.throttle(1, 4);
    const a = await d.find('x').catch((e: unknown) => e);
    expect((a as TargetThrottledError).retryAfterMs).toBe(4000);
    expect((a as Error).message).toContain('429 Rate limit exceeded: Rate limit of 100 requests per hour');
    sn.throttle(1, 3, { retryAfter: false });
    const b = await d.find('x').catch((e: unknown) => e);
    expect(b).toBeInstanceOf(TargetThrottledError);
    expect((b as TargetThrottledError).retryAfterMs).toBeGreaterThan(1000);
    expect((b as TargetThrottledError).retryAfterMs).toBeLessThanOrEqual(4000);
  });
});

describe('webhook checks', () => {
  const body = Buffer.from(JSON.stringify({ webhookEvent: 'jira:issue_updated', issue: { key: 'HR-7' } }));

  test('Jira: only sha256=<HMAC-SHA256 of the raw body with the secret> passes', () => {
    const good = hubSignature('s3cret', body.toString());
    expect(verifyJiraSignature('s3cret', body, good)).toBe(true);
    expect(verifyJiraSignature('other', body, good)).toBe(false);
    expect(verifyJiraSignature('s3cret', Buffer.from(`${body.toString()} `), good)).toBe(false);
    expect(verifyJiraSignature('s3cret', body, good.replace('sha256=', 'sha1='))).toBe(false);
    expect(verifyJiraSignature('s3cret', body, good.slice(0, -2))).toBe(false);
    expect(verifyJiraSignature('s3cret', body, undefined)).toBe(false);
  });

  test('ServiceNow: the shared secret, compared whatever its length', () => {
    expect(verifySharedSecret('s3cret', 's3cret')).toBe(true);
    expect(verifySharedSecret('s3cret', 's3cre')).toBe(false);
    expect(verifySharedSecret('s3cret', '')).toBe(false);
    expect(verifySharedSecret('s3cret', undefined)).toBe(false);
  });

  test('the body names one desk ticket, else a specific error', () => {
    expect(deskRefOf('jira', body)).toBe('HR-7');
    expect(() => deskRefOf('jira', Buffer.from('{'))).toThrow('the body is not JSON');
    expect(() => deskRefOf('jira', Buffer.from('{"issue":{"key":"../x"}}'))).toThrow(
      'the delivery names no issue',
    );
    const sysId = 'a'.repeat(32);
    expect(deskRefOf('servicenow', Buffer.from(JSON.stringify({ sys_id: sysId })))).toBe(sysId);
    expect(() => deskRefOf('servicenow', Buffer.from('{"sys_id":"1; drop"}'))).toThrow(
      'the delivery names no record',
    );
  });
});
