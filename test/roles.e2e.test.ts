/**
 * The role matrix, against a running stack (worker, Temporal, PostgreSQL, the real API) and driven by
 * the OpenAPI document: every documented operation that takes an operator token is called without a
 * token, with an unknown or garbled one, and with each role's token. Nothing changes: ids are unknown
 * (a departure, a ticket, an asset tag), so an admitted role gets past authorization to the 404; bodies
 * are valid by the documented request schema, so a 400 cannot hide a 401 or 403.
 *
 * The matrix is also written out below (ROLE_MATRIX): the document's `x-roles` and the real answers must
 * both agree with it, so roles changed in a route and in its description together still fail here.
 */
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { openApiDocument } from '../server/openapi';
import type { RunningServer } from '../server/main';
import { TOKENS, hrisEvent, startRunningStack, uniq } from './support/harness';

type Json = Record<string, unknown>;
type Role = keyof typeof TOKENS;
const ROLES: Role[] = ['hr', 'it', 'itdesk', 'admin'];
const EVERY_ROLE: Role[] = [...ROLES];
const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

/** Who may call what (server/app.ts `requireRole`), written out independently of the document. */
const ROLE_MATRIX: Record<string, Role[]> = {
  'GET /me': EVERY_ROLE,
  'GET /departures': EVERY_ROLE,
  'GET /departures/{id}': EVERY_ROLE,
  'POST /departures': ['hr', 'admin'],
  'POST /departures/{id}/rescind': ['hr', 'admin'],
  'POST /departures/{id}/redrive': ['it', 'admin'],
  // A second operator approves a held departure: HR or IT (never the one who submitted it).
  'POST /departures/{id}/approve': ['hr', 'it', 'admin'],
  'POST /departures/{id}/accounts': ['it', 'admin'],
  'POST /tickets/{id}/confirm': ['it', 'admin'],
  'POST /departures/{id}/assets/{tag}/received': ['itdesk', 'admin'],
  'POST /departures/{id}/archives/{sourceId}/confirmed': ['it', 'admin'],
  // A sign-off is personal to its function: admin may not acknowledge for HR or IT.
  'POST /departures/{id}/acknowledge': ['hr', 'it'],
  'POST /departures/{id}/resolutions': ['hr', 'it', 'admin'],
  'GET /departures/{id}/documents': ['hr', 'it', 'admin'],
  'GET /departures/{id}/documents/{type}': ['hr', 'it', 'admin'],
  'POST /codec/decode': EVERY_ROLE,
  'POST /codec/encode': EVERY_ROLE,
};

/** Operations without an operator bearer token (their own credential, or none). */
const PUBLIC = [
  'GET /',
  'GET /dashboard',
  'GET /health',
  'GET /openapi.json',
  'POST /webhooks/hris',
  'POST /webhooks/desk/{systemId}', // a service desk's hint, verified by its signature or secret
  'POST /webhooks/hris/{vendor}', // the vendor's own signature (hris/)
  'GET /codec/login',
  'POST /codec/login',
  'POST /codec/logout',
  'GET /sign/{token}',
  'POST /sign/{token}',
  'GET /survey/{token}',
  'POST /survey/{token}',
];

/**
 * What an admitted role gets (ids are unknown, so mostly 404). `POST /departures` has no id: its body is
 * valid by the schema but names a status that starts nothing (`active`), refused with 400 on `status`
 * after authorization, so no departure is stored.
 */
const ADMITTED_STATUS: Record<string, number> = {
  'GET /me': 200,
  'GET /departures': 200,
  'POST /departures': 400,
  'POST /codec/decode': 200,
  'POST /codec/encode': 200,
};

/** A valid body for each operation that takes one (checked against the documented schema below). */
function validBody(key: string): unknown {
  switch (key) {
    case 'POST /departures': {
      const e = hrisEvent(uniq('ROLE'));
      return { employee: e.employee, termination: e.termination, status: 'active' };
    }
    case 'POST /departures/{id}/rescind':
      return { reason: 'role matrix test' };
    case 'POST /departures/{id}/redrive':
      return { reason: 'role matrix test' };
    case 'POST /departures/{id}/approve':
      return { note: 'role matrix test' };
    case 'POST /departures/{id}/accounts':
      return { systemId: 'crm', accountId: 'crm-user-1', note: 'role matrix test' };
    case 'POST /tickets/{id}/confirm':
      return { note: 'role matrix test' };
    case 'POST /departures/{id}/assets/{tag}/received':
      return { condition: 'good', inspectedBy: 'Desk' };
    case 'POST /departures/{id}/archives/{sourceId}/confirmed':
      return { items: 1, note: 'role matrix test' };
    case 'POST /departures/{id}/acknowledge':
      return { note: 'role matrix test' };
    case 'POST /departures/{id}/resolutions':
      return { itemId: 'step:crm', how: 'accepted_risk', note: 'role matrix test' };
    case 'POST /codec/decode':
    case 'POST /codec/encode':
      return { payloads: [] };
    default:
      throw new Error(`no valid body for ${key}: add one to validBody()`);
  }
}

const doc = openApiDocument() as {
  paths: Record<string, Record<string, Json>>;
  components: { schemas: Record<string, Json> };
};

interface Operation {
  key: string;
  method: string;
  path: string;
  op: Json & {
    operationId: string;
    security?: Json[];
    parameters?: { name: string; in: string; schema?: { enum?: string[] } }[];
    requestBody?: { required?: boolean; content: Record<string, { schema: Json }> };
    responses: Record<string, Json>;
    'x-roles'?: Role[];
    'x-admin-refused'?: boolean;
  };
}

const operations: Operation[] = Object.entries(doc.paths).flatMap(([p, item]) =>
  METHODS.filter((m) => item[m]).map((m) => ({
    key: `${m.toUpperCase()} ${p}`,
    method: m.toUpperCase(),
    path: p,
    op: item[m] as Operation['op'],
  })),
);
const bearerOperations = operations.filter((o) =>
  (o.op.security ?? []).some((s) => Object.keys(s).includes('bearerAuth')),
);

const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
const DOC_ID = 'https://offboard.invalid/openapi.json';
ajv.addSchema({ $id: DOC_ID, components: { schemas: doc.components.schemas } } as object);
ajv.addKeyword('components');

/** The documented request body schema of an operation (a `$ref` into components). */
function bodyValidator(o: Operation) {
  const s = o.op.requestBody?.content['application/json']?.schema;
  if (!s || typeof s.$ref !== 'string') throw new Error(`${o.key}: no JSON request body schema`);
  return ajv.getSchema(`${DOC_ID}${s.$ref}`)!;
}

/** The path with every parameter filled: unknown ids, or the first documented value of an enum. */
function concretePath(o: Operation): string {
  return o.path.replace(/\{([^}]+)\}/g, (_m, name: string) => {
    const p = (o.op.parameters ?? []).find((x) => x.in === 'path' && x.name === name);
    const allowed = p?.schema?.enum;
    return allowed?.[0] ?? `no-such-${name}-${uniq('x')}`;
  });
}

let api: RunningServer;
let stop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  const running = await startRunningStack();
  api = running.api;
  stop = running.stop;
});
afterAll(async () => {
  await stop?.();
});

interface Answer {
  status: number;
  code: string | undefined;
  message: string | undefined;
  fields: string[] | undefined;
  wwwAuthenticate: string | null;
}

async function call(o: Operation, authorization: string | undefined, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (authorization !== undefined) headers.authorization = authorization;
  let payload: string | undefined;
  if (o.op.requestBody) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body === undefined ? validBody(o.key) : body);
  }
  const res = await fetch(`${api.url}${concretePath(o)}`, {
    method: o.method,
    headers,
    body: payload,
    redirect: 'manual',
  });
  const text = await res.text();
  type ErrorBody = { code?: string; message?: string; fields?: { field: string }[] };
  let error: ErrorBody | undefined;
  try {
    error = (JSON.parse(text) as { error?: ErrorBody }).error;
  } catch {
    /* not JSON */
  }
  return {
    status: res.status,
    code: error?.code,
    message: error?.message,
    fields: error?.fields?.map((f) => f.field),
    wwwAuthenticate: res.headers.get('www-authenticate'),
  };
}

const bearer = (role: Role) => `Bearer ${TOKENS[role]}`;

/** Authorization headers that name no operator. */
const NOT_AN_OPERATOR: [string, string | undefined][] = [
  ['no Authorization header', undefined],
  ['an unknown token', `Bearer unknown-${uniq('token')}`],
  ['a revoked-looking token (one character off)', `Bearer ${TOKENS.admin}x`],
  ['Basic credentials', `Basic ${Buffer.from('admin:secret').toString('base64')}`],
  ['the Basic scheme with garbage', 'Basic x'],
  ['Bearer with no token', 'Bearer'],
  ['Bearer with two tokens', `Bearer ${TOKENS.admin} ${TOKENS.hr}`],
  ['a valid token without its scheme', TOKENS.admin],
  ['a valid token under another scheme', `Token ${TOKENS.admin}`],
  ['an empty header', ''],
];

// ------------------------------------------------------------------ the matrix itself

test('the matrix covers exactly the operations the document gives a bearer token; the rest are listed as public', () => {
  expect(bearerOperations.map((o) => o.key).sort()).toEqual(Object.keys(ROLE_MATRIX).sort());
  expect(
    operations
      .filter((o) => !bearerOperations.includes(o))
      .map((o) => o.key)
      .sort(),
  ).toEqual([...PUBLIC].sort());
  // An operation that is not public names its roles; a public one names none.
  for (const o of operations)
    expect({ op: o.key, roles: Boolean(o.op['x-roles']) }).toEqual({
      op: o.key,
      roles: bearerOperations.includes(o),
    });
});

test('the document names the roles of the matrix (x-roles), and says where admin is refused', () => {
  for (const o of bearerOperations) {
    const roles = ROLE_MATRIX[o.key]!;
    expect({ op: o.key, roles: [...(o.op['x-roles'] ?? [])].sort() }).toEqual({
      op: o.key,
      roles: [...roles].sort(),
    });
    const adminRefused = !roles.includes('admin');
    expect({ op: o.key, adminRefused: o.op['x-admin-refused'] === true }).toEqual({
      op: o.key,
      adminRefused,
    });
    expect(Object.keys(o.op.responses)).toEqual(expect.arrayContaining(['401', '403']));
  }
  expect(bearerOperations.filter((o) => o.op['x-admin-refused']).map((o) => o.key)).toEqual([
    'POST /departures/{id}/acknowledge',
  ]);
});

test('the bodies sent are valid by the documented request schemas', () => {
  for (const o of bearerOperations.filter((x) => x.op.requestBody)) {
    const validate = bodyValidator(o);
    const ok = validate(validBody(o.key));
    expect({ op: o.key, errors: ok ? null : validate.errors }).toEqual({ op: o.key, errors: null });
  }
});

// ------------------------------------------------------------------ against the running API

describe.each(bearerOperations.map((o) => [o.key, o] as const))('%s', (_key, o) => {
  test('without an operator: 401 with WWW-Authenticate: Bearer', async () => {
    for (const [what, authorization] of NOT_AN_OPERATOR) {
      const a = await call(o, authorization);
      expect({ what, status: a.status, code: a.code, wwwAuthenticate: a.wwwAuthenticate }).toEqual({
        what,
        status: 401,
        code: 'unauthenticated',
        wwwAuthenticate: 'Bearer',
      });
    }
  });

  test('each role: the admitted ones get past authorization, the others 403 forbidden', async () => {
    const admitted: Role[] = [];
    for (const role of ROLES) {
      const a = await call(o, bearer(role));
      expect(Object.keys(o.op.responses)).toContain(String(a.status));
      if (a.status === 403) {
        expect({ role, code: a.code, message: a.message }).toEqual({
          role,
          code: 'forbidden',
          message: expect.stringContaining(`"${role}"`),
        });
        // It names every role that may (admin too where admin may: it named the route's own only).
        const needs = /needs (.+)$/.exec(a.message ?? '')?.[1]?.split(' or ') ?? [];
        expect({ role, needs: needs.sort() }).toEqual({ role, needs: [...o.op['x-roles']!].sort() });
        continue;
      }
      admitted.push(role);
      const status = ADMITTED_STATUS[o.key] ?? 404;
      expect({ role, status: a.status, code: a.code, fields: a.fields }).toEqual({
        role,
        status,
        code: status === 404 ? 'not_found' : status === 400 ? 'validation_failed' : undefined,
        fields: status === 400 ? ['status'] : undefined,
      });
    }
    expect(admitted).toEqual(ROLES.filter((r) => ROLE_MATRIX[o.key]!.includes(r)));
    expect(admitted).toEqual(ROLES.filter((r) => o.op['x-roles']!.includes(r)));
  });
});

describe.each(bearerOperations.filter((o) => o.op.requestBody).map((o) => [o.key, o] as const))(
  '%s with an invalid body',
  (_key, o) => {
    test('authorization comes before validation: 401 without a token, 403 for a refused role, 400 for the others', async () => {
      const invalid = { surely: 'not a field of any body' };
      expect((await call(o, undefined, invalid)).status).toBe(401);
      for (const role of ROLES.filter((r) => !ROLE_MATRIX[o.key]!.includes(r)))
        expect({ role, status: (await call(o, bearer(role), invalid)).status }).toEqual({
          role,
          status: 403,
        });
      for (const role of ROLE_MATRIX[o.key]!)
        expect({ role, status: (await call(o, bearer(role), invalid)).status }).toEqual({
          role,
          status: 400,
        });
    });
  },
);

test('the scheme name is case-insensitive (RFC 9110): "bearer <token>" is accepted', async () => {
  const me = operations.find((o) => o.key === 'GET /me')!;
  const res = await fetch(`${api.url}/me`, { headers: { authorization: `bearer ${TOKENS.itdesk}` } });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ name: 'itdesk-user', role: 'itdesk' });
  expect((await call(me, `BEARER ${TOKENS.hr}`)).status).toBe(200);
});
