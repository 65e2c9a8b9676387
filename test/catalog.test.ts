/** The system catalog: a wrong entry stops start-up with the file, the entry and the field named. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { buildPlan } from '../activities/plan';
import { loadCatalog, parseCatalog } from '../config/catalog';
import { loadConfig } from '../config/env';
import { AppError } from '../lib/errors';

const demoFile = path.resolve(__dirname, '..', 'config', 'catalog.demo.yaml');
const demoEnv = {
  ENTRA_CLIENT_SECRET: 'x',
  SCIM_TOKEN_CRM: 'x',
  SCIM_TOKEN_WIKI: 'x',
  SCIM_TOKEN_VPN: 'x',
};

function mutated(fn: (doc: { systems: Record<string, unknown>[] }) => void): string {
  const doc = parse(readFileSync(demoFile, 'utf8')) as { systems: Record<string, unknown>[] };
  fn(doc);
  return stringify(doc);
}

function errorOf(text: string, env: NodeJS.ProcessEnv = demoEnv): string {
  try {
    parseCatalog(text, 'catalog.yaml', env);
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).code).toBe('catalog_invalid');
    return (e as Error).message;
  }
  throw new Error('expected the catalog to be refused');
}

test('the demo catalog is valid and plans identity, VPN, then applications', () => {
  const c = loadCatalog(demoFile, demoEnv);
  expect(c.systems.map((s) => s.id)).toEqual(['entra', 'vpn', 'crm', 'wiki', 'badges', 'chat']);
  const plan = buildPlan(c, new Map(), 'offboarding');
  expect(plan.map((p) => `${p.tier}:${p.systemId}`)).toEqual([
    'identity:entra',
    'vpn:vpn',
    'application:crm',
    'application:wiki',
    'application:badges',
  ]);
  expect(plan.find((p) => p.systemId === 'badges')).toMatchObject({ action: 'service_ticket', slaHours: 24 });
});

test.each([
  [
    'a bad owner email',
    (d: { systems: Record<string, unknown>[] }) =>
      ((d.systems[2]!.owner as Record<string, string>).email = 'nope'),
    /systems\[2\] \(id "crm"\), field "owner.email"/,
  ],
  [
    'an unknown tier',
    (d: { systems: Record<string, unknown>[] }) => (d.systems[1]!.tier = 'vpnn'),
    /systems\[1\] \(id "vpn"\), field "tier"/,
  ],
  [
    'a missing escalation owner',
    (d: { systems: Record<string, unknown>[] }) => delete d.systems[0]!.escalationOwner,
    /systems\[0\] \(id "entra"\), field "escalationOwner"/,
  ],
  [
    'a ticket system without SLA',
    (d: { systems: Record<string, unknown>[] }) => delete d.systems[4]!.ticketSlaHours,
    /systems\[4\] \(id "badges"\), field "ticketSlaHours": is required/,
  ],
  [
    'an API system with a ticket connector',
    (d: { systems: Record<string, unknown>[] }) => (d.systems[3]!.connector = { kind: 'ticket' }),
    /systems\[3\] \(id "wiki"\), field "integration"/,
  ],
  [
    'a duplicate id',
    (d: { systems: Record<string, unknown>[] }) => (d.systems[3]!.id = 'crm'),
    /systems\[3\] \(id "crm"\), field "id": duplicates systems\[2\]/,
  ],
  [
    'a typo in a field name',
    (d: { systems: Record<string, unknown>[] }) => (d.systems[2]!.ownr = {}),
    /systems\[2\] \(id "crm"\), field "\(entry\)".*ownr/,
  ],
  [
    'a bad duration',
    (d: { systems: Record<string, unknown>[] }) => (d.systems[0]!.timeout = 'soon'),
    /field "timeout": must be a duration/,
  ],
  [
    'a non-URL SCIM base',
    (d: { systems: Record<string, unknown>[] }) =>
      ((d.systems[2]!.connector as Record<string, string>).baseUrl = 'crm.example.com'),
    /field "connector.baseUrl"/,
  ],
])('%s is named with file, entry and field', (_name, fn, expected) => {
  const msg = errorOf(mutated(fn));
  expect(msg).toMatch(/^catalog\.yaml: invalid catalog:/);
  expect(msg).toMatch(expected);
});

test('a secret the catalog refers to must be set', () => {
  const msg = errorOf(readFileSync(demoFile, 'utf8'), { ...demoEnv, SCIM_TOKEN_WIKI: '' });
  expect(msg).toMatch(
    /systems\[3\] \(id "wiki"\), field "connector.tokenEnv": environment variable SCIM_TOKEN_WIKI is not set/,
  );
});

test('broken YAML and unreadable files are refused with the file named', () => {
  expect(errorOf('version: 1\nsystems: [\n')).toMatch(/^catalog\.yaml: not valid YAML/);
  expect(() => loadCatalog('/nonexistent/catalog.yaml')).toThrow(
    /\/nonexistent\/catalog\.yaml: cannot read catalog/,
  );
  expect(errorOf('version: 2\nsystems: []\n')).toMatch(/field "version"/);
});

test('process config fails fast with the variable named', () => {
  expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(
    /DATABASE_URL: must be a postgresql:\/\/ URL/,
  );
  expect(() => loadConfig({ DATABASE_URL: 'postgresql://x', HRIS_WEBHOOK_SECRET: 'plain' })).toThrow(
    /HRIS_WEBHOOK_SECRET: must be "whsec_"/,
  );
  expect(() => loadConfig({ DATABASE_URL: 'postgresql://x', OPERATOR_TOKENS: 'bob:root:abc' })).toThrow(
    /OPERATOR_TOKENS: entry 1 must be name:role:sha256hex/,
  );
  expect(() =>
    loadConfig({ DATABASE_URL: 'postgresql://x', TRIGGER_STATUSES: 'terminated,pending_resignation' }),
  ).toThrow(/TRIGGER_STATUSES/);
  expect(loadConfig({ DATABASE_URL: 'postgresql://x' }).TRIGGER_STATUSES).toEqual([
    'terminated',
    'resigned_confirmed',
  ]);
});
