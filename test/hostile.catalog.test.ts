/**
 * Catalog files with every kind of mistake (PRODUCT.md: "A catalog error stops start-up with a message
 * that names the file, the entry and the field"), enumerated and as fast-check properties: broken
 * YAML, duplicate keys, alias tricks, unknown fields, wrong types and values in every section and in
 * every connector kind, missing secrets, a bad time zone, duplicate ids, a ticket integration without an
 * SLA, a red escalation before the report. `parseCatalog` must throw AppError `catalog_invalid` whose
 * message starts with the file and names `systems[i] (id "x")` (or `dataSources[i] (id "x")`) and the
 * field, never a raw zod or YAML error; and any text at all either parses or is refused that way.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { loadCatalog, parseCatalog } from '../config/catalog';
import { AppError } from '../lib/errors';

const FILE = 'catalog.yaml';
type Json = Record<string, unknown>;

const person = (who: string) => ({ name: `${who} owner`, email: `${who}@example.com` });
const retry = { maximumAttempts: 5, initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' };

/** A valid catalog with every section and every connector kind. */
function baseCatalog(): Json {
  const common = (id: string, tier: string) => ({
    id,
    name: `System ${id}`,
    category: tier === 'application' ? 'business' : 'identity',
    tier,
    integration: 'api',
    sso: false,
    privileged: tier !== 'application',
    owner: person(id),
    escalationOwner: person(`${id}-escalation`),
    timeout: '30s',
    retry,
  });
  return {
    version: 1,
    organization: {
      timeZone: 'Europe/Berlin',
      hr: person('hr'),
      it: person('it'),
      finance: person('finance'),
    },
    assets: {
      system: 'snipeit',
      snipeit: {
        baseUrl: 'https://assets.example.com',
        tokenEnv: 'SNIPEIT_TOKEN',
        returnInProgressStatusId: 3,
        checkedInStatusId: 4,
      },
      hybridRoute: 'in_office',
      returnWindowBusinessDays: 7,
      escalationWindowBusinessDays: 5,
      holidays: { country: 'DE', region: 'BE' },
      itOwner: person('assets'),
      itDesk: { name: 'IT Desk', email: 'desk@example.com', location: 'Berlin' },
    },
    documents: {
      nda: { reminderEveryHours: 24, deadlineDays: 7, linkValidHours: 72 },
      exitSurvey: { linkValidDays: 14 },
    },
    verification: { reportAfterHours: 24, redEscalationAfterHours: 48, reminderHour: 9 },
    dataSources: [
      {
        id: 'mailbox',
        name: 'Mailbox',
        retentionPolicy: 'email-7y',
        archiveLocation: 'archive://mail/',
        deleteAfterArchive: true,
        owner: person('mail'),
        connector: { kind: 'manual' },
      },
    ],
    systems: [
      {
        ...common('entra', 'identity'),
        rateLimit: { revocationsPerSecond: 20, maxConcurrent: 10 },
        ownedCredentials: { integration: 'api' },
        connector: {
          kind: 'entra',
          scope: 'account',
          graphBaseUrl: 'https://graph.example.com',
          authorityUrl: 'https://login.example.com',
          tenantId: 'tenant',
          clientId: 'client',
          clientSecretEnv: 'ENTRA_SECRET',
        },
      },
      {
        ...common('directory', 'directory'),
        ownedCredentials: { integration: 'ticket', ticketSlaHours: 24 },
        connector: {
          kind: 'ldap',
          url: 'ldaps://dc.example.com',
          bindDn: 'cn=offboard,dc=example,dc=com',
          bindPasswordEnv: 'LDAP_PASSWORD',
          userBaseDn: 'ou=people,dc=example,dc=com',
          userFilter: '(employeeNumber={employeeId})',
          groupBaseDn: 'ou=groups,dc=example,dc=com',
          disableMethod: 'ad-useraccountcontrol',
          ownedAccountFilter: '(&(objectClass=account)(owner={dn}))',
        },
      },
      {
        ...common('vpn', 'vpn'),
        connector: {
          kind: 'ldap-group',
          url: 'ldaps://dc.example.com',
          bindDn: 'cn=offboard,dc=example,dc=com',
          bindPasswordEnv: 'LDAP_PASSWORD',
          userBaseDn: 'ou=people,dc=example,dc=com',
          userFilter: '(uid={employeeId})',
          groups: ['cn=vpn,ou=groups,dc=example,dc=com'],
        },
      },
      {
        ...common('crm', 'application'),
        connector: { kind: 'scim', baseUrl: 'https://crm.example.com/scim/v2', tokenEnv: 'SCIM_TOKEN' },
      },
      {
        ...common('badges', 'application'),
        integration: 'ticket',
        ticketSlaHours: 24,
        connector: { kind: 'ticket' },
      },
      {
        ...common('chat', 'application'),
        integration: 'manual',
        sso: true,
        ticketSlaHours: 8,
        connector: { kind: 'ticket' },
      },
      {
        ...common('sso', 'identity'),
        connector: {
          kind: 'keycloak',
          baseUrl: 'https://sso.example.com',
          realm: 'staff',
          grant: 'password',
          username: 'offboard',
          secretEnv: 'KEYCLOAK_SECRET',
        },
      },
      {
        ...common('okta', 'identity'),
        connector: { kind: 'okta', orgUrl: 'https://example.okta.com', tokenEnv: 'OKTA_TOKEN' },
      },
    ],
  };
}
const ENV = {
  ENTRA_SECRET: 's',
  LDAP_PASSWORD: 's',
  SCIM_TOKEN: 's',
  SNIPEIT_TOKEN: 's',
  KEYCLOAK_SECRET: 's',
  OKTA_TOKEN: 's',
};
const SYSTEMS = (baseCatalog().systems as Json[]).map((s) => s.id as string);

/** The message of the refusal; fails unless it is AppError catalog_invalid naming the file, no stack. */
function refusal(text: string, env: NodeJS.ProcessEnv = ENV): string {
  let caught: unknown;
  try {
    parseCatalog(text, FILE, env);
  } catch (e) {
    caught = e;
  }
  if (caught === undefined) throw new Error(`accepted:\n${text.slice(0, 2000)}`);
  expectClearRefusal(caught);
  return (caught as AppError).message;
}

function expectClearRefusal(e: unknown): void {
  if (!(e instanceof AppError)) throw new Error(`not an AppError: ${String((e as Error)?.stack ?? e)}`);
  expect(e.code).toBe('catalog_invalid');
  expect(e.message.startsWith(`${FILE}: `)).toBe(true);
  // Never a raw zod dump or a stack, nor zod's messages that say nothing ("Invalid input") or the
  // opposite of the truth ("expected number, received number" for .inf).
  expect(e.message).not.toMatch(/\n\s+at |ZodError|"code":|"path":|\[object Object\]/);
  expect(e.message).not.toMatch(/: Invalid input$|expected number, received number/m);
}

const DELETE = Symbol('delete');
function mutate(doc: Json, at: (string | number)[], value: unknown): Json {
  const copy = structuredClone(doc);
  let target: Json = copy;
  // A missing section (e.g. a system without rateLimit) is created, so its fields can be broken too.
  for (const k of at.slice(0, -1)) target = (target[k] ??= {}) as Json;
  const last = at.at(-1)!;
  if (value === DELETE) delete target[last];
  else target[last] = value;
  return copy;
}

test('the base catalog of these tests is valid', () => {
  const c = parseCatalog(stringify(baseCatalog()), FILE, ENV);
  expect(c.systems.map((s) => s.id)).toEqual(SYSTEMS);
});

// ------------------------------------------------------------------ generators

const ascii = (maxLength: number) => fc.string({ unit: 'grapheme-ascii', maxLength });
const notIn = (allowed: readonly string[]) => ascii(16).filter((s) => !allowed.includes(s));
const badEmail = fc.oneof(
  fc.constantFrom('nope', 'a@', '@example.com', 'a b@example.com', ''),
  ascii(20).filter((s) => !s.includes('@')),
);
const badDuration = fc.oneof(
  fc.constantFrom('soon', '30', '1y', '-5s', '5 s', '', '1.5s', 'PT30S'),
  fc.integer().map((n) => n), // a number, not a string
);
const badEnvName = fc.constantFrom('lowercase', '1ABC', 'WITH-DASH', 'WITH SPACE', '', '$HOME');
const wrongType = fc.oneof(fc.integer(), fc.boolean(), fc.constant([]), fc.constant({}), ascii(8));
/** Keys no part of the catalog has: typos and made-up names. */
const unknownKey = fc.oneof(
  fc.constantFrom(
    'ownr',
    'escalation_owner',
    'tiers',
    'Integration',
    'slaHours',
    'retries',
    'timeOut',
    'kindd',
  ),
  fc.stringMatching(/^x[A-Z][a-zA-Z]{2,8}$/),
);

interface Mistake {
  /** Path inside the entry (systems[i] / dataSources[i]) or in the document. */
  at: (string | number)[];
  value: unknown;
  /** The field the message must name (relative to the entry). */
  field: string;
  /** Something else the message must contain (e.g. the unknown key). */
  mentions?: string;
}
const at = (p: (string | number)[], value: fc.Arbitrary<unknown>, field = p.join('.')) =>
  value.map((v): Mistake => ({ at: p, value: v, field }));
const unknownIn = (p: (string | number)[]) =>
  unknownKey.map(
    (k): Mistake => ({ at: [...p, k], value: 'x', field: p.join('.') || '(entry)', mentions: k }),
  );

/** Mistakes any system entry can have. */
const systemMistake = fc.oneof(
  at(['id'], fc.constantFrom('CRM', 'crm app', '-crm', '', 'crm_1', 'a'.repeat(64))),
  at(['name'], fc.oneof(fc.constant(''), fc.integer())),
  at(['category'], notIn(['identity', 'productivity', 'business', 'infrastructure', 'hardware'])),
  at(['tier'], notIn(['identity', 'directory', 'vpn', 'mfa', 'application'])),
  at(['integration'], notIn(['api', 'ticket', 'manual'])),
  at(['sso'], fc.constantFrom('yes', 'no', 'true', 1, 0, 'on')),
  at(['privileged'], fc.constantFrom('yes', 'no', 'true', 1, 0, 'on')),
  at(['owner'], fc.constant(DELETE)),
  at(
    ['escalationOwner'],
    fc.oneof(
      fc.constant(DELETE),
      wrongType.filter((v) => !(v && typeof v === 'object')),
    ),
  ),
  at(['owner', 'email'], badEmail),
  at(['escalationOwner', 'email'], badEmail),
  at(['owner', 'name'], fc.constantFrom('', 7)),
  unknownIn(['owner']),
  unknownIn([]),
  at(['timeout'], badDuration),
  at(['retry', 'maximumAttempts'], fc.constantFrom(0, 101, 1.5, 'three', -1)),
  at(['retry', 'backoffCoefficient'], fc.constantFrom(0.5, 11, 'double')),
  at(['retry', 'initialInterval'], badDuration),
  unknownIn(['retry']),
  at(['rateLimit', 'revocationsPerSecond'], fc.constantFrom(0, -1, 10_001, 'fast')),
  at(['rateLimit', 'maxConcurrent'], fc.constantFrom(0, 1.5, 1001)),
  at(['ticketSlaHours'], fc.constantFrom(0, -1, 721, 'a day')),
  at(
    ['connector', 'kind'],
    notIn([
      'entra',
      'ldap',
      'ldap-group',
      'scim',
      'keycloak',
      'aws-iam',
      'okta',
      'github',
      'slack',
      'google',
      'ticket',
    ]),
  ),
  at(['connector'], fc.constantFrom('scim', 42, null, [])),
  unknownIn(['connector']),
);
/** Mistakes of one connector kind. */
const connectorMistake: Record<string, fc.Arbitrary<Mistake>> = {
  entra: fc.oneof(
    at(['connector', 'graphBaseUrl'], fc.constantFrom('graph.example.com', 'not a url', '', 42)),
    at(['connector', 'clientSecretEnv'], badEnvName),
    at(['connector', 'scope'], notIn(['account', 'authentication-methods'])),
    at(['connector', 'tenantId'], fc.constantFrom('', DELETE)),
  ),
  ldap: fc.oneof(
    at(['connector', 'url'], fc.constantFrom('http://dc.example.com', 'dc.example.com', '')),
    at(['connector', 'userFilter'], fc.constantFrom('uid={employeeId}', '', '(uid={employeeId}')),
    at(['connector', 'disableMethod'], notIn(['openldap-ppolicy', 'ad-useraccountcontrol'])),
    at(['connector', 'bindPasswordEnv'], badEnvName),
    at(['connector', 'groupBaseDn'], fc.constantFrom('', DELETE)),
  ),
  'ldap-group': fc.oneof(
    at(['connector', 'groups'], fc.constantFrom([], 'cn=vpn')),
    at(['connector', 'groups'], fc.constantFrom([''], [3]), 'connector.groups.0'),
    at(['connector', 'url'], fc.constantFrom('https://dc.example.com', '')),
    at(['connector', 'timeout'], badDuration),
  ),
  scim: fc.oneof(
    at(['connector', 'baseUrl'], fc.constantFrom('crm.example.com', '', 'not a url')),
    at(['connector', 'tokenEnv'], badEnvName),
    at(['connector', 'userNameFrom'], notIn(['workEmail', 'employeeId'])),
  ),
  keycloak: fc.oneof(
    at(['connector', 'baseUrl'], fc.constantFrom('sso.example.com', '', 'not a url', 42)),
    at(['connector', 'realm'], fc.constantFrom('', 'a/b', 'x?y', DELETE)),
    at(['connector', 'grant'], notIn(['client_credentials', 'password'])),
    at(['connector', 'username'], fc.constantFrom(DELETE, '')),
    at(['connector', 'secretEnv'], badEnvName),
    at(['connector', 'scope'], notIn(['account', 'credentials'])),
  ),
  okta: fc.oneof(
    at(['connector', 'orgUrl'], fc.constantFrom('example.okta.com', '', 'not a url', 42, DELETE)),
    at(['connector', 'tokenEnv'], badEnvName),
    at(['connector', 'scope'], notIn(['account', 'factors'])),
  ),
  ticket: unknownIn(['connector']),
};

test('a mistake in any system entry names the file, the entry (index and id) and the field', () => {
  fc.assert(
    fc.property(
      fc.nat(SYSTEMS.length - 1).chain((i) => {
        const kind = ((baseCatalog().systems as Json[])[i]!.connector as Json).kind as string;
        return fc.tuple(fc.constant(i), fc.oneof(systemMistake, connectorMistake[kind]!));
      }),
      ([i, m]) => {
        const doc = mutate(baseCatalog(), ['systems', i, ...m.at], m.value);
        const id = ((doc.systems as Json[])[i] as Json).id;
        const message = refusal(stringify(doc));
        expect(message.startsWith(`${FILE}: invalid catalog:\n`)).toBe(true);
        const entry = typeof id === 'string' ? `systems[${i}] (id "${id}")` : `systems[${i}]`;
        expect(message).toContain(`${entry}, field "${m.field}": `);
        if (m.mentions) expect(message).toContain(m.mentions);
      },
    ),
    { numRuns: 150 },
  );
});

/** Mistakes outside the systems: the message names the field by its full path. */
const documentMistake = fc.oneof(
  at(['version'], fc.constantFrom(2, '1', 0, DELETE)),
  at(
    ['organization', 'timeZone'],
    fc
      .oneof(
        fc.constantFrom('Mars/Olympus_Mons', 'Europe/Berlinn', 'UTC+1', '', 'Central European Time'),
        ascii(20),
      )
      .filter((tz) => {
        try {
          new Intl.DateTimeFormat('en-US', { timeZone: tz });
          return false; // a zone this runtime knows: not a mistake
        } catch {
          return true;
        }
      }),
  ),
  at(['organization', 'hr', 'email'], badEmail),
  at(['organization', 'it'], fc.constant(DELETE)),
  unknownIn(['organization', 'finance']).map((m) => ({ ...m, field: 'organization.finance' })),
  at(['assets', 'system'], notIn(['builtin', 'snipeit'])),
  at(['assets', 'snipeit'], fc.constant(DELETE)),
  at(['assets', 'snipeit', 'baseUrl'], fc.constantFrom('assets.example.com', '')),
  at(['assets', 'snipeit', 'tokenEnv'], badEnvName),
  at(['assets', 'returnWindowBusinessDays'], fc.constantFrom(4, 11, 7.5, 'seven')),
  at(['assets', 'escalationWindowBusinessDays'], fc.constantFrom(0, 11)),
  at(['assets', 'holidays', 'country'], fc.constantFrom('de', 'DEU', '', 49)),
  at(['assets', 'hybridRoute'], notIn(['in_office', 'remote'])),
  at(['documents', 'nda', 'linkValidHours'], fc.constantFrom(0, 721, 1.5)),
  at(['documents', 'nda', 'provider'], notIn(['builtin'])),
  at(['documents', 'exitSurvey', 'linkValidDays'], fc.constantFrom(0, 91)),
  at(['verification', 'reportAfterHours'], fc.constantFrom(-1, 337, 'a day')),
  at(['verification', 'acknowledgmentBusinessDays'], fc.constantFrom(0, 6, 1.5)),
  at(['verification', 'reminderHour'], fc.constantFrom(-1, 24, 9.5)),
  at(['verification', 'continueAsNewAfterEvents'], fc.constantFrom(99, 40_001)),
  unknownIn(['verification']).map((m) => ({ ...m, field: 'verification' })),
  unknownIn([]).map((m) => ({ ...m, field: '(root)' })),
  at(['systems'], fc.constantFrom([], 'entra', null)),
);

test('a mistake outside the systems names the file and the field by its path', () => {
  fc.assert(
    fc.property(documentMistake, (m) => {
      const message = refusal(stringify(mutate(baseCatalog(), m.at, m.value)));
      expect(message).toContain(`field "${m.field}": `);
      if (m.mentions) expect(message).toContain(m.mentions);
    }),
    { numRuns: 100 },
  );
});

test('a red escalation earlier than the report: named at verification.redEscalationAfterHours', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 336 }).chain((report) => fc.tuple(fc.constant(report), fc.nat(report - 1))),
      ([report, red]) => {
        const doc = mutate(baseCatalog(), ['verification'], {
          reportAfterHours: report,
          redEscalationAfterHours: red,
        });
        expect(refusal(stringify(doc))).toContain(
          'field "verification.redEscalationAfterHours": must not be earlier than reportAfterHours',
        );
      },
    ),
    { numRuns: 50 },
  );
});

test('a mistake in a data source names dataSources[i] (id "x") and the field', () => {
  const mistake = fc.oneof(
    at(['owner', 'email'], badEmail),
    at(['id'], fc.constantFrom('Mail Box', '', '-mail')),
    at(['connector', 'kind'], notIn(['manual'])),
    at(['retentionPolicy'], fc.constantFrom('', 7, DELETE)),
    at(['deleteAfterArchive'], fc.constantFrom('yes', 1)),
    unknownIn([]),
  );
  fc.assert(
    fc.property(mistake, (m) => {
      const doc = mutate(baseCatalog(), ['dataSources', 0, ...m.at], m.value);
      const id = ((doc.dataSources as Json[])[0] as Json).id as string;
      expect(refusal(stringify(doc))).toContain(`dataSources[0] (id "${id}"), field "${m.field}": `);
    }),
    { numRuns: 50 },
  );
});

test('two systems with the same id: the later one is named, with the earlier one', () => {
  fc.assert(
    fc.property(
      fc
        .nat(SYSTEMS.length - 2)
        .chain((i) => fc.tuple(fc.constant(i), fc.integer({ min: i + 1, max: SYSTEMS.length - 1 }))),
      ([i, j]) => {
        const doc = mutate(baseCatalog(), ['systems', j, 'id'], SYSTEMS[i]);
        expect(refusal(stringify(doc))).toContain(
          `systems[${j}] (id "${SYSTEMS[i]!}"), field "id": duplicates systems[${i}]; ids must be unique`,
        );
      },
    ),
    { numRuns: 30 },
  );
});

test('a ticket or manual integration without ticketSlaHours: named, whichever system', () => {
  fc.assert(
    fc.property(fc.nat(SYSTEMS.length - 1), fc.constantFrom('ticket', 'manual'), (i, integration) => {
      const system: Json = {
        ...(baseCatalog().systems as Json[])[i]!,
        integration,
        connector: { kind: 'ticket' },
      };
      delete system.ticketSlaHours;
      delete system.ownedCredentials;
      const doc = mutate(baseCatalog(), ['systems', i], system);
      expect(refusal(stringify(doc))).toContain(
        `systems[${i}] (id "${SYSTEMS[i]!}"), field "ticketSlaHours": is required for integration "${integration}"`,
      );
    }),
    { numRuns: 30 },
  );
});

test('any set of missing secrets: each entry that refers to one is named with its field and variable', () => {
  const uses: Record<string, string[]> = {
    ENTRA_SECRET: ['systems[0] (id "entra"), field "connector.clientSecretEnv"'],
    LDAP_PASSWORD: [
      'systems[1] (id "directory"), field "connector.bindPasswordEnv"',
      'systems[2] (id "vpn"), field "connector.bindPasswordEnv"',
    ],
    SCIM_TOKEN: ['systems[3] (id "crm"), field "connector.tokenEnv"'],
    SNIPEIT_TOKEN: ['field "assets.snipeit.tokenEnv"'],
    KEYCLOAK_SECRET: ['systems[6] (id "sso"), field "connector.secretEnv"'],
    OKTA_TOKEN: ['systems[7] (id "okta"), field "connector.tokenEnv"'],
  };
  fc.assert(
    fc.property(
      fc.subarray(Object.keys(ENV), { minLength: 1 }),
      fc.constantFrom(undefined, ''),
      (missing, as) => {
        const env: Record<string, string | undefined> = { ...ENV };
        for (const k of missing) env[k] = as;
        const message = refusal(stringify(baseCatalog()), env);
        const problems = message.split('\n').slice(1);
        const expected = missing.flatMap((k) =>
          uses[k]!.map((u) => `${u}: environment variable ${k} is not set`),
        );
        expect(problems.map((p) => p.trim()).sort()).toEqual(expected.sort());
      },
    ),
    { numRuns: 30 },
  );
});

// ------------------------------------------------------------------ any text

const yamlBits = fc.constantFrom(
  '&a ',
  '*a',
  '*undefined',
  '<<: *a\n',
  '<<: 1\n',
  '<<: [1, 2]\n',
  '!!binary ',
  '!!int ',
  '!!map ',
  '!custom ',
  '---\n',
  '...\n',
  '? ',
  ': ',
  '\t',
  '"',
  "'",
  '{',
  '}',
  '[',
  ']',
  '|',
  '>',
  '- ',
  '\n',
  '  ',
  '#',
  '%YAML 1.1\n',
  '%TAG ! tag:example.com,2000:\n',
  '&x [*x]',
  '\u0000',
  '\ufeff',
  '.inf',
  '.nan',
  '0x1F',
  '1e999',
  '~',
  'null',
  '__proto__: {}\n',
);
const edit = fc.record({
  at: fc.nat(),
  remove: fc.nat(12),
  insert: fc.oneof(yamlBits, fc.string({ unit: 'grapheme', maxLength: 8 })),
});

test('any edit of a valid catalog text: either still a valid catalog, or refused naming the file (never another error)', () => {
  const valid = stringify(baseCatalog());
  fc.assert(
    fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
      let text = valid;
      for (const e of edits) {
        const i = e.at % (text.length + 1);
        text = text.slice(0, i) + e.insert + text.slice(i + e.remove);
      }
      try {
        parseCatalog(text, FILE, ENV);
      } catch (e) {
        expectClearRefusal(e);
      }
    }),
    { numRuns: 200 },
  );
});

test('arbitrary text and arbitrary YAML values: refused naming the file, never another error', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.array(yamlBits, { maxLength: 12 }).map((bits) => bits.join('')),
        fc.anything({ maxDepth: 3, withNullPrototype: true }).map((v) => {
          try {
            return stringify(v) ?? String(v); // undefined stringifies to nothing
          } catch {
            return String(v);
          }
        }),
      ),
      (text) => {
        try {
          parseCatalog(text, FILE, ENV);
        } catch (e) {
          expectClearRefusal(e);
          return;
        }
        throw new Error(`accepted as a catalog: ${JSON.stringify(text)}`);
      },
    ),
    { numRuns: 300 },
  );
});

test.each<[string, string, RegExp]>([
  ['an unclosed flow sequence', 'version: 1\nsystems: [\n', /^catalog\.yaml: not valid YAML: /],
  ['a tab as indentation', 'version: 1\norganization:\n\thr: x\n', /not valid YAML: Tabs are not allowed/],
  ['a duplicate key', 'version: 1\nversion: 1\n', /not valid YAML: Map keys must be unique at line 2/],
  ['two documents', 'version: 1\n---\nversion: 1\n', /not valid YAML: Source contains multiple documents/],
  ['an empty file', '', /field "\(root\)": Invalid input: expected object, received null/],
  ['a list at the top', '- version: 1\n', /field "\(root\)": Invalid input: expected object, received array/],
  // Found by the text properties: these threw a raw ReferenceError/Error out of YAML's toJS().
  [
    'an alias bomb (billion laughs)',
    'a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n',
    /^catalog\.yaml: not valid YAML: Excessive alias count/,
  ],
  [
    'an alias to no anchor',
    'version: 1\norganization: *nope\n',
    /^catalog\.yaml: not valid YAML: Unresolved alias/,
  ],
  [
    'a merge of a scalar',
    'version: 1\norganization:\n  <<: 3\n',
    /^catalog\.yaml: not valid YAML: Merge sources must be maps/,
  ],
  // Found by the system property: zod said "Invalid input" / "expected number, received number".
  [
    'an unknown connector kind',
    stringify(mutate(baseCatalog(), ['systems', 3, 'connector', 'kind'], 'scimm')),
    /systems\[3\] \(id "crm"\), field "connector.kind": must be one of "entra", "ldap", "ldap-group", "scim", "keycloak", "aws-iam", "okta", "github", "slack", "google", "ticket"/,
  ],
  [
    'an infinite number',
    stringify(baseCatalog()).replace('reportAfterHours: 24', 'reportAfterHours: .inf'),
    /field "verification.reportAfterHours": must be a finite number/,
  ],
])('%s: refused with a clear message', (_name, text, expected) => {
  expect(refusal(text)).toMatch(expected);
});

test('an unreadable catalog file (a directory, a missing file) is refused naming it', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'offboard-catalog-'));
  for (const f of [dir, path.join(dir, 'missing.yaml')]) {
    let caught: unknown;
    try {
      loadCatalog(f, ENV);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(AppError);
    expect((caught as AppError).message.startsWith(`${f}: cannot read catalog: `)).toBe(true);
  }
});
