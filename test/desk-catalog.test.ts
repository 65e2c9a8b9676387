/**
 * Service desk settings in the catalog (`connector.desk`, config/desk.ts): each mistake names the file,
 * the entry and the field; credentials must be set in the environment at parse; the webhook secret is
 * checked where it is used (the API at start); the poll interval is the shortest desk's.
 */
import { parse, stringify } from 'yaml';
import { parseCatalog } from '../config/catalog';
import { AppError } from '../lib/errors';
import { deskPollIntervalMs } from '../server/desk-schedules';
import { deskWebhookTargets } from '../server/desk-webhooks';

const ENV = { JIRA_EMAIL: 'bot@example.com', JIRA_TOKEN: 't', SN_USER: 'u', SN_PASSWORD: 'p' };
const person = (n: string) => ({ name: n, email: `${n}@example.com` });

function base() {
  const system = (id: string, desk: Record<string, unknown> | undefined) => ({
    id,
    name: id,
    category: 'business',
    tier: 'application',
    integration: 'ticket',
    sso: false,
    owner: person(`${id}-owner`),
    escalationOwner: person(`${id}-lead`),
    ticketSlaHours: 24,
    connector: desk ? { kind: 'ticket', desk } : { kind: 'ticket' },
  });
  return {
    version: 1,
    organization: { hr: person('hr'), it: person('it') },
    systems: [
      system('payroll', {
        kind: 'jira',
        baseUrl: 'https://example.atlassian.net',
        serviceDeskId: 10,
        requestTypeId: '25',
        emailEnv: 'JIRA_EMAIL',
        tokenEnv: 'JIRA_TOKEN',
        webhookSecretEnv: 'JIRA_WEBHOOK_SECRET',
      }),
      system('erp', {
        kind: 'servicenow',
        instanceUrl: 'https://example.service-now.com',
        table: 'sc_task',
        userEnv: 'SN_USER',
        passwordEnv: 'SN_PASSWORD',
        pollEvery: '2m',
      }),
      system('badges', undefined),
    ],
  };
}

type Doc = ReturnType<typeof base>;

function refusal(doc: unknown, env: NodeJS.ProcessEnv = ENV): string {
  try {
    parseCatalog(stringify(doc), 'catalog.yaml', env);
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    return (e as Error).message;
  }
  throw new Error('expected the catalog to be refused');
}

const change = (fn: (d: Doc) => void) => {
  const d = parse(stringify(base())) as Doc;
  fn(d);
  return d;
};
const desk = (d: Doc, i: number) => (d.systems[i]!.connector as { desk: Record<string, unknown> }).desk;

test('a catalog with a Jira desk, a ServiceNow desk and the built-in queue parses, with defaults', () => {
  const c = parseCatalog(stringify(base()), 'catalog.yaml', ENV);
  const [jira, sn, builtin] = c.systems.map((s) => s.connector);
  expect(jira).toMatchObject({
    kind: 'ticket',
    desk: { kind: 'jira', serviceDeskId: '10', requestTypeId: '25', pollEvery: '5m' },
  });
  expect((jira as { desk: { notDoneResolutions: string[] } }).desk.notDoneResolutions).toContain("Won't Do");
  expect(sn).toMatchObject({ desk: { kind: 'servicenow', table: 'sc_task', pollEvery: '2m' } });
  expect(builtin).toEqual({ kind: 'ticket' });
  expect(deskPollIntervalMs(c)).toBe(120_000);
  expect(deskPollIntervalMs({ ...c, systems: [c.systems[2]!] })).toBeNull();
});

test.each([
  [
    'an unknown desk kind',
    (d: Doc) => (desk(d, 0).kind = 'zendesk'),
    0,
    'connector.desk.kind',
    'must be one of "jira", "servicenow"',
  ],
  [
    'a Jira site that is not a URL',
    (d: Doc) => (desk(d, 0).baseUrl = 'example.atlassian.net'),
    0,
    'connector.desk.baseUrl',
    '',
  ],
  [
    'a service desk id that is not numeric',
    (d: Doc) => (desk(d, 0).serviceDeskId = 'HR'),
    0,
    'connector.desk.serviceDeskId',
    'must be a numeric id',
  ],
  [
    'a token env that is not an env name',
    (d: Doc) => (desk(d, 0).tokenEnv = 'jira-token'),
    0,
    'connector.desk.tokenEnv',
    'environment variable',
  ],
  ['a Jira desk without its token', (d: Doc) => delete desk(d, 0).tokenEnv, 0, 'connector.desk.tokenEnv', ''],
  ['an unknown Jira field', (d: Doc) => (desk(d, 0).projectKey = 'HR'), 0, 'connector.desk', 'projectKey'],
  [
    'a ServiceNow table Offboard does not open',
    (d: Doc) => (desk(d, 1).table = 'sc_req_item'),
    1,
    'connector.desk.table',
    '',
  ],
  [
    'an assignment group that is not a sys_id',
    (d: Doc) => (desk(d, 1).assignmentGroup = 'Service Desk'),
    1,
    'connector.desk.assignmentGroup',
    'sys_id',
  ],
  [
    'a poll faster than 10s',
    (d: Doc) => (desk(d, 1).pollEvery = '1s'),
    1,
    'connector.desk.pollEvery',
    'between 10s and 1d',
  ],
  [
    'a poll interval that is no duration',
    (d: Doc) => (desk(d, 1).pollEvery = 'often'),
    1,
    'connector.desk.pollEvery',
    'duration',
  ],
  [
    'a desk on a manual task',
    (d: Doc) => (d.systems[1]!.integration = 'manual'),
    1,
    'connector.desk',
    'is for integration "ticket"',
  ],
])('%s is refused, naming the entry and the field', (_what, fn, i, field, mentions) => {
  const message = refusal(change(fn));
  const id = base().systems[i]!.id;
  expect(message).toContain(`catalog.yaml: invalid catalog:`);
  expect(message).toContain(`systems[${i}] (id "${id}"), field "${field}": `);
  expect(message).toContain(mentions);
});

test('a desk credential missing from the environment is named at parse; not needed with requireSecrets off', () => {
  const message = refusal(base(), { ...ENV, JIRA_TOKEN: undefined, SN_PASSWORD: '' });
  expect(message).toContain(
    'systems[0] (id "payroll"), field "connector.desk.tokenEnv": environment variable JIRA_TOKEN is not set',
  );
  expect(message).toContain(
    'systems[1] (id "erp"), field "connector.desk.passwordEnv": environment variable SN_PASSWORD is not set',
  );
  // The webhook secret is the API's, checked when the API starts, not by the worker's parse.
  expect(message).not.toContain('JIRA_WEBHOOK_SECRET');
  expect(() => parseCatalog(stringify(base()), 'catalog.yaml', {}, { requireSecrets: false })).not.toThrow();
});

test('the API takes the desk webhook secrets from the environment and refuses to start without one it names', () => {
  const c = parseCatalog(stringify(base()), 'catalog.yaml', ENV);
  expect(() => deskWebhookTargets(c, {})).toThrow(
    /system "payroll", connector.desk.webhookSecretEnv: environment variable JIRA_WEBHOOK_SECRET is not set/,
  );
  const targets = deskWebhookTargets(c, { JIRA_WEBHOOK_SECRET: 's3cret' });
  expect([...targets.entries()]).toEqual([['payroll', { kind: 'jira', secret: 's3cret' }]]);
});
