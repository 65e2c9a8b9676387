/**
 * The OpenAPI description (server/openapi.ts): valid OpenAPI 3.1, the same routes as the Express app
 * (adding a route without documenting it fails here), and the running API answering with documented
 * statuses and bodies that match the documented schemas.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { Db } from '../lib/db';
import { signDelivery } from '../lib/webhook-sign';
import { createApp } from '../server/app';
import type { Intake } from '../server/intake';
import type { RunningServer } from '../server/main';
import { OPENAPI_PATH, openApiDocument, openApiPath } from '../server/openapi';
import { operatorBody } from '../server/operator-start';
import type { Starter } from '../server/starter';
import {
  TOKENS,
  WEBHOOK_SECRET,
  createDeparture,
  hrisEvent,
  quietLogger,
  startApi,
  startStack,
  uniq,
  type Stack,
} from './support/harness';

type Json = Record<string, unknown>;
type Role = keyof typeof TOKENS;
const ROLES = Object.keys(TOKENS) as Role[];
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

const doc = openApiDocument() as {
  openapi: string;
  paths: Record<string, Record<string, Json>>;
  components: { schemas: Record<string, Json>; responses: Record<string, Json> };
};

interface Operation {
  method: string;
  path: string;
  op: Json & {
    operationId: string;
    responses: Record<string, Json>;
    parameters?: Json[];
    requestBody?: Json;
    'x-roles'?: Role[];
    'x-admin-refused'?: boolean;
  };
}

const operations: Operation[] = Object.entries(doc.paths).flatMap(([p, item]) =>
  METHODS.filter((m) => item[m]).map((m) => ({ method: m, path: p, op: item[m] as Operation['op'] })),
);

// ------------------------------------------------------------------ helpers

/**
 * Validates with @seriousme/openapi-schema-validator. It is ESM only and Jest runs this project as
 * CommonJS, so it runs in a child Node process that reads the document from stdin.
 */
function validateOpenApi(document: unknown): { valid: boolean; errors: unknown } {
  const script = `
    import { Validator } from '@seriousme/openapi-schema-validator';
    let text = '';
    for await (const chunk of process.stdin) text += chunk;
    const r = await new Validator().validate(JSON.parse(text));
    process.stdout.write(JSON.stringify({ valid: r.valid, errors: r.errors ?? null }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: path.resolve(__dirname, '..'),
    input: JSON.stringify(document),
    encoding: 'utf8',
  });
  return JSON.parse(out) as { valid: boolean; errors: unknown };
}

/** The routes an Express 5 app serves: method and full path of every route layer, mounted routers too. */
function expressRoutes(router: { stack: unknown[] }, prefix = ''): string[] {
  const out: string[] = [];
  for (const l of router.stack as {
    route?: { path: unknown; methods: Record<string, boolean> };
    handle?: { stack?: unknown[] };
    rawPath?: unknown;
  }[]) {
    if (l.route) {
      if (typeof l.route.path !== 'string')
        throw new Error(`route path ${String(l.route.path)} is not a string`);
      for (const [m, on] of Object.entries(l.route.methods)) {
        if (!on) continue;
        if (m === '_all') throw new Error(`app.all(${l.route.path}) cannot be described per method`);
        out.push(`${m.toUpperCase()} ${prefix}${l.route.path}`);
      }
    } else if (l.handle?.stack) {
      // A mounted router: Express 5's router layer keeps the mount path as `rawPath`.
      if (typeof l.rawPath !== 'string') throw new Error('mounted router without a string path');
      out.push(...expressRoutes({ stack: l.handle.stack }, prefix + (l.rawPath === '/' ? '' : l.rawPath)));
    }
  }
  return out;
}

/** An OpenAPI-level `$ref` (`#/components/responses/Error404`) resolved in the document. */
function deref<T = Json>(v: Json): T {
  const r = v.$ref;
  if (typeof r !== 'string') return v as T;
  let cur: unknown = doc;
  for (const part of r.replace(/^#\//, '').split('/')) cur = (cur as Json)[part];
  if (!cur) throw new Error(`unresolved ${r}`);
  return cur as T;
}

const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
const DOC_ID = 'https://offboard.invalid/openapi.json';
// Only the schemas are registered, where `#/components/schemas/…` references point.
ajv.addSchema({ $id: DOC_ID, components: { schemas: doc.components.schemas } } as object);
ajv.addKeyword('components');

const pointer = (...parts: string[]) =>
  parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

function schemaValidator(s: Json): ValidateFunction {
  if (typeof s.$ref === 'string') return ajv.getSchema(`${DOC_ID}${s.$ref}`)!;
  return ajv.compile({ $id: `urn:inline:${Math.random()}`, ...(rewriteRefs(s) as Json) });
}
function rewriteRefs(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(rewriteRefs);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [
        k,
        k === '$ref' && typeof x === 'string' && x.startsWith('#/') ? `${DOC_ID}${x}` : rewriteRefs(x),
      ]),
    );
  return v;
}

let stack: Stack;
let api: RunningServer;

beforeAll(async () => {
  stack = await startStack();
  api = await startApi(stack); // no worker: these requests never start an offboarding
});
afterAll(async () => {
  await api?.close();
  await stack?.stop();
});

interface Answer {
  status: number;
  contentType: string;
  text: string;
  json: Json | null;
  headers: Headers;
}

async function call(
  method: string,
  p: string,
  opts: { role?: Role; body?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.role) headers.authorization = `Bearer ${TOKENS[opts.role]}`;
  // Redirects are answers too (`GET /` is documented as a 302).
  const res = await fetch(`${api.url}${p}`, {
    method: method.toUpperCase(),
    headers,
    body: opts.body,
    redirect: 'manual',
  });
  const text = await res.text();
  let json: Json | null = null;
  try {
    json = JSON.parse(text) as Json;
  } catch {
    /* HTML or empty */
  }
  return {
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    text,
    json,
    headers: res.headers,
  };
}

/**
 * The answer's status is documented for the operation, and a JSON answer matches the documented schema
 * of that status (an HTML answer is documented as HTML).
 */
function expectDocumented(o: Operation, a: Answer, what = `${o.method.toUpperCase()} ${o.path}`) {
  const documented = Object.keys(o.op.responses);
  expect({ what, status: a.status, documented: documented.includes(String(a.status)) }).toEqual({
    what,
    status: a.status,
    documented: true,
  });
  const response = deref<{ content?: Record<string, { schema: Json }> }>(o.op.responses[String(a.status)]!);
  if (!response.content) return;
  const type = a.contentType.split(';')[0]!.trim();
  expect({ what, type, documented: Object.keys(response.content) }).toEqual({
    what,
    type,
    documented: expect.arrayContaining([type]),
  });
  if (type === 'application/json') {
    const validate = schemaValidator(response.content[type]!.schema);
    const valid = validate(a.json);
    expect({ what, status: a.status, errors: valid ? null : validate.errors }).toEqual({
      what,
      status: a.status,
      errors: null,
    });
  }
}

const op = (method: string, p: string): Operation => {
  const o = operations.find((x) => x.method === method && x.path === p);
  if (!o) throw new Error(`${method} ${p} is not documented`);
  return o;
};

// ------------------------------------------------------------------ the document

test('the document is valid OpenAPI 3.1 (@seriousme/openapi-schema-validator); a broken copy is refused', () => {
  expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
  const r = validateOpenApi(doc);
  expect(r).toEqual({ valid: true, errors: null });
  // The validator does validate: a response without its required description is refused.
  const broken = JSON.parse(JSON.stringify(doc)) as typeof doc;
  delete (broken.paths['/health']!.get!.responses as Record<string, Json>)['200']!.description;
  expect(validateOpenApi(broken).valid).toBe(false);
});

test('every schema of the document is a JSON Schema 2020-12 that compiles (strict ajv)', () => {
  for (const name of Object.keys(doc.components.schemas))
    expect(() => ajv.getSchema(`${DOC_ID}#/${pointer('components', 'schemas', name)}`)).not.toThrow();
  for (const o of operations) {
    for (const p of o.op.parameters ?? []) expect(() => schemaValidator(p.schema as Json)).not.toThrow();
    for (const r of Object.values(o.op.responses))
      for (const c of Object.values(deref<{ content?: Record<string, { schema: Json }> }>(r).content ?? {}))
        expect(() => schemaValidator(c.schema)).not.toThrow();
  }
});

test('every route of the Express app is documented with its method and path, and nothing else is', () => {
  const app = createApp({
    db: {} as Db,
    client: {} as Client,
    intake: {} as Intake,
    starter: {} as Starter,
    logger: quietLogger,
    operatorTokens: [],
    maxBodyBytes: 1024,
    codec: { codec: null, allowedOrigins: [], secureCookies: false },
  });
  const served = expressRoutes((app as unknown as { router: { stack: unknown[] } }).router)
    .map((r) => {
      const [m, p] = r.split(' ');
      return `${m} ${openApiPath(p!)}`;
    })
    // The dashboard's static files (scripts, styles) are not API routes: `/dashboard` itself is documented.
    .filter((r) => !/^GET \/dashboard\/./.test(r))
    .sort();
  const documented = operations.map((o) => `${o.method.toUpperCase()} ${o.path}`).sort();
  expect(served.length).toBeGreaterThan(15);
  expect(served).toEqual(documented);
  expect(new Set(served).size).toBe(served.length);
  // Path parameters are declared exactly as the path names them.
  for (const o of operations) {
    const inPath = [...o.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
    const declared = (o.op.parameters ?? [])
      .filter((p) => p.in === 'path')
      .map((p) => p.name)
      .sort();
    expect({ route: o.path, params: declared }).toEqual({ route: o.path, params: inPath });
  }
});

test('operation ids are unique; operator routes name their roles and bearer security', () => {
  const ids = operations.map((o) => o.op.operationId);
  expect(new Set(ids).size).toBe(ids.length);
  for (const o of operations) {
    const roles = o.op['x-roles'];
    if (!roles) {
      expect({ op: o.op.operationId, refused: o.op['x-admin-refused'] }).toEqual({
        op: o.op.operationId,
        refused: undefined,
      });
      continue;
    }
    // admin is admitted everywhere, unless the operation says it is not (and why).
    if (o.op['x-admin-refused']) {
      expect(roles).not.toContain('admin');
      expect(o.op.description).toMatch(new RegExp(`^Roles: ${roles.join(', ')}\\. Not admin: `));
    } else {
      expect(roles).toContain('admin');
      expect(o.op.description).toMatch(new RegExp(`^Roles: ${roles.join(', ')}\\.`));
    }
    expect(o.op.security).toEqual(expect.arrayContaining([{ bearerAuth: [] }]));
    expect(Object.keys(o.op.responses)).toEqual(expect.arrayContaining(['401', '403']));
  }
  // The roles of the routes (server/app.ts requireRole), as documented.
  const rolesOf = (m: string, p: string) => op(m, p).op['x-roles'];
  expect(rolesOf('post', '/departures')).toEqual(['hr', 'admin']);
  expect(rolesOf('post', '/departures/{id}/rescind')).toEqual(['hr', 'admin']);
  expect(rolesOf('post', '/departures/{id}/redrive')).toEqual(['it', 'admin']);
  expect(rolesOf('post', '/tickets/{id}/confirm')).toEqual(['it', 'admin']);
  expect(rolesOf('post', '/departures/{id}/assets/{tag}/received')).toEqual(['itdesk', 'admin']);
  expect(rolesOf('post', '/departures/{id}/acknowledge')).toEqual(['hr', 'it']);
  expect(op('post', '/departures/{id}/acknowledge').op['x-admin-refused']).toBe(true);
  expect(rolesOf('post', '/departures/{id}/resolutions')).toEqual(['hr', 'it', 'admin']);
  expect(rolesOf('get', '/departures/{id}/documents')).toEqual(['hr', 'it', 'admin']);
  expect(rolesOf('get', '/departures/{id}/documents/{type}')).toEqual(['hr', 'it', 'admin']);
  expect(rolesOf('get', '/me')).toEqual(['hr', 'it', 'itdesk', 'admin']);
  expect(rolesOf('get', '/departures/{id}')).toEqual(['hr', 'it', 'itdesk', 'admin']);
  expect(rolesOf('get', '/dashboard')).toBeUndefined();
  expect(op('get', '/dashboard').op.security).toEqual([]);
  expect(rolesOf('get', '/')).toBeUndefined();
  expect(rolesOf('get', '/openapi.json')).toBeUndefined();
  expect(op('get', '/openapi.json').op.security).toEqual([]);
});

test('request schemas come from the routes: the operator body has the route keys; the webhook its headers', () => {
  const documented = doc.components.schemas.OperatorDeparture as { properties: Json; required: string[] };
  expect(Object.keys(documented.properties).sort()).toEqual(Object.keys(operatorBody.shape).sort());
  const webhook = op('post', '/webhooks/hris');
  expect(
    (webhook.op.parameters ?? []).filter((p) => p.in === 'header' && p.required).map((p) => p.name),
  ).toEqual(['webhook-id', 'webhook-timestamp', 'webhook-signature']);
  expect(webhook.op.security).toEqual([]);
  const list = op('get', '/departures');
  expect((list.op.parameters ?? []).map((p) => p.name)).toEqual(
    expect.arrayContaining(['status', 'department', 'employeeId', 'red', 'from', 'to', 'workflow', 'limit']),
  );
});

// ------------------------------------------------------------------ against the running API

test('GET /openapi.json serves the document without a token', async () => {
  const a = await call('get', OPENAPI_PATH);
  expect(a.status).toBe(200);
  expect(a.json).toEqual(JSON.parse(JSON.stringify(doc)));
  expectDocumented(op('get', OPENAPI_PATH), a);
});

/** A request to an operation that changes nothing: unknown ids, empty bodies, no signature. */
function probe(o: Operation) {
  const p = o.path
    .replace('{token}', 'A'.repeat(43))
    .replace('{tag}', 'NO-SUCH-TAG')
    .replace(/\{[^}]+\}/g, `no-such-${uniq('id')}`);
  const content = Object.keys((o.op.requestBody?.content as Json | undefined) ?? {})[0];
  if (o.method === 'get' || !content) return { p, headers: {} as Record<string, string> };
  return {
    p,
    headers: { 'content-type': content },
    body: content === 'application/json' ? '{}' : '',
  };
}

test('every operation answers without a token, and with each role, only documented statuses', async () => {
  for (const o of operations) {
    const { p, headers, body } = probe(o);
    const roles = o.op['x-roles'];
    const anon = await call(o.method, p, { headers, body });
    expectDocumented(o, anon, `${o.method} ${o.path} without a token`);
    if (roles)
      expect({ op: o.op.operationId, status: anon.status }).toEqual({ op: o.op.operationId, status: 401 });
    for (const role of roles ? ROLES : []) {
      const a = await call(o.method, p, { headers, body, role });
      expectDocumented(o, a, `${o.method} ${o.path} as ${role}`);
      const allowed = roles!.includes(role);
      expect({ op: o.op.operationId, role, forbidden: a.status === 403 }).toEqual({
        op: o.op.operationId,
        role,
        forbidden: !allowed,
      });
      expect(a.status).not.toBe(401);
    }
  }
});

test('401 without a token, 403 for a wrong role: the documented codes and shape', async () => {
  const list = op('get', '/departures');
  const noToken = await call('get', '/departures');
  expect(noToken.status).toBe(401);
  expect(noToken.headers.get('www-authenticate')).toBe('Bearer');
  expect(noToken.json).toMatchObject({ error: { code: 'unauthenticated' } });
  expectDocumented(list, noToken);

  const badToken = await call('get', '/departures', { headers: { authorization: 'Bearer not-a-token' } });
  expect(badToken.status).toBe(401);
  expectDocumented(list, badToken);

  const rescind = op('post', '/departures/{id}/rescind');
  const wrongRole = await call('post', '/departures/dep_x/rescind', {
    role: 'it',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ reason: 'wrong role' }),
  });
  expect(wrongRole.status).toBe(403);
  expect(wrongRole.json).toMatchObject({ error: { code: 'forbidden' } });
  expectDocumented(rescind, wrongRole);
});

test('400 with field errors: bodies, queries and the signed webhook, as documented', async () => {
  const redrive = await call('post', '/departures/dep_x/redrive', {
    role: 'it',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ reason: 'x', extra: true }),
  });
  expect(redrive.status).toBe(400);
  expect(redrive.json).toMatchObject({ error: { code: 'validation_failed' } });
  const fields = (redrive.json!.error as { fields: { field: string }[] }).fields.map((f) => f.field);
  expect(fields).toEqual(expect.arrayContaining(['reason']));
  expectDocumented(op('post', '/departures/{id}/redrive'), redrive);

  // A body of another type is refused as such, before anything else reads it.
  const plain = await call('post', '/departures/dep_x/redrive', {
    role: 'it',
    headers: { 'content-type': 'text/plain' },
    body: JSON.stringify({ reason: 'not json typed' }),
  });
  expect(plain.status).toBe(415);
  expect(plain.json).toMatchObject({
    error: { code: 'unsupported_media_type', message: 'content-type must be application/json' },
  });
  expectDocumented(op('post', '/departures/{id}/redrive'), plain);

  const query = await call('get', '/departures?limit=0&red=maybe&status=bogus', { role: 'hr' });
  expect(query.status).toBe(400);
  expect((query.json!.error as { fields: { field: string }[] }).fields.map((f) => f.field).sort()).toEqual([
    'limit',
    'red',
    'status',
  ]);
  expectDocumented(op('get', '/departures'), query);

  const event = hrisEvent(uniq('OA')) as Json;
  (event.employee as Json).workEmail = 'not-an-email';
  const submitted = await call('post', '/departures', {
    role: 'hr',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ employee: event.employee, termination: event.termination }),
  });
  expect(submitted.status).toBe(400);
  expect(submitted.json).toMatchObject({ error: { fields: [{ field: 'employee.workEmail' }] } });
  expectDocumented(op('post', '/departures'), submitted);

  const d = signDelivery(WEBHOOK_SECRET, event);
  const webhook = await call('post', '/webhooks/hris', { headers: d.headers, body: d.body });
  expect(webhook.status).toBe(400);
  expect(webhook.json).toMatchObject({ error: { fields: [{ field: 'employee.workEmail' }] } });
  expectDocumented(op('post', '/webhooks/hris'), webhook);
});

test('404 for unknown departures and links, as documented (JSON for the API, HTML for the pages)', async () => {
  const show = await call('get', '/departures/dep_does-not-exist', { role: 'itdesk' });
  expect(show.status).toBe(404);
  expect(show.json).toMatchObject({ error: { code: 'not_found' } });
  expectDocumented(op('get', '/departures/{id}'), show);

  const asset = await call('post', '/departures/dep_does-not-exist/assets/LT-1/received', {
    role: 'itdesk',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ condition: 'good', inspectedBy: 'Desk' }),
  });
  expect(asset.status).toBe(404);
  expectDocumented(op('post', '/departures/{id}/assets/{tag}/received'), asset);

  const page = await call('get', `/sign/${'B'.repeat(43)}`);
  expect(page.status).toBe(404);
  expect(page.contentType).toMatch(/^text\/html/);
  expectDocumented(op('get', '/sign/{token}'), page);
});

test('real answers match the documented response schemas: health, list and one departure', async () => {
  const employeeId = uniq('OA');
  const input = await createDeparture(stack.db, employeeId, { lastDay: '2026-11-25' });

  const health = await call('get', '/health');
  expectDocumented(op('get', '/health'), health);

  const list = await call('get', `/departures?employeeId=${employeeId}`, { role: 'hr' });
  expect(list.status).toBe(200);
  expect((list.json!.departures as unknown[]).length).toBe(1);
  expectDocumented(op('get', '/departures'), list);

  const show = await call('get', `/departures/${input.departureId}`, { role: 'it' });
  expect(show.status).toBe(200);
  expect(show.json).toMatchObject({ departure: { id: input.departureId, lastDay: '2026-11-25' } });
  expectDocumented(op('get', '/departures/{id}'), show);
});

test('the dashboard: / redirects to it, /dashboard is an HTML page without a token, as documented', async () => {
  const root = await call('get', '/');
  expect(root.status).toBe(302);
  expect(root.headers.get('location')).toBe('/dashboard');
  expectDocumented(op('get', '/'), root);

  const page = await call('get', '/dashboard');
  expect(page.status).toBe(200);
  expect(page.contentType).toMatch(/^text\/html/);
  expectDocumented(op('get', '/dashboard'), page);
});

test('GET /me names the operator and role of each token, as documented', async () => {
  for (const role of ROLES) {
    const a = await call('get', '/me', { role });
    expect(a.status).toBe(200);
    expect(a.json).toEqual({ name: `${role}-user`, role });
    expectDocumented(op('get', '/me'), a);
  }
});

test('documents: the list and the download of stored documents, and 404s, as documented', async () => {
  const employeeId = uniq('OA');
  const input = await createDeparture(stack.db, employeeId);
  const pdf = Buffer.from('%PDF-1.7\n% a certificate for the test\n%%EOF\n');
  const text = Buffer.from('The NDA text.\n', 'utf8');
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const at = new Date();
  await stack.db.document.create({
    data: {
      departureId: input.departureId,
      type: 'completion_certificate',
      status: 'generated',
      content: new Uint8Array(pdf),
      contentType: 'application/pdf',
      sha256: sha(pdf),
      storageLocation: 'db:Document/x',
      issuedAt: at,
      completedAt: at,
    },
  });
  await stack.db.document.create({
    data: {
      departureId: input.departureId,
      type: 'nda_acknowledgment',
      status: 'sent',
      content: new Uint8Array(text),
      contentType: 'text/plain; charset=utf-8',
      sha256: sha(text),
    },
  });
  await stack.db.document.create({
    data: { departureId: input.departureId, type: 'exit_survey', status: 'pending' },
  });

  const list = await call('get', `/departures/${input.departureId}/documents`, { role: 'it' });
  expect(list.status).toBe(200);
  expectDocumented(op('get', '/departures/{id}/documents'), list);
  expect(list.json).toMatchObject({
    departureId: input.departureId,
    documents: [
      {
        type: 'completion_certificate',
        downloadable: true,
        sha256: sha(pdf),
        href: `/departures/${input.departureId}/documents/completion_certificate`,
      },
      { type: 'exit_survey', downloadable: false, href: null, sha256: null },
      { type: 'nda_acknowledgment', downloadable: true },
    ],
  });

  const download = op('get', '/departures/{id}/documents/{type}');
  const res = await fetch(`${api.url}/departures/${input.departureId}/documents/completion_certificate`, {
    headers: { authorization: `Bearer ${TOKENS.hr}` },
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/pdf');
  expect(res.headers.get('x-content-sha256')).toBe(sha(pdf));
  expect(res.headers.get('content-disposition')).toBe(
    `attachment; filename="completion_certificate-${employeeId}.pdf"`,
  );
  expect(Buffer.from(await res.arrayBuffer()).equals(pdf)).toBe(true);
  const documented200 = download.op.responses['200'] as { content: Json; headers: Json };
  expect(Object.keys(documented200.content)).toContain('application/pdf');
  expect(Object.keys(documented200.headers)).toEqual(
    expect.arrayContaining(['X-Content-SHA256', 'Content-Disposition']),
  );

  const nda = await call('get', `/departures/${input.departureId}/documents/nda_acknowledgment`, {
    role: 'admin',
  });
  expect(nda.status).toBe(200);
  expect(nda.text).toBe(text.toString('utf8'));
  expectDocumented(download, nda);

  for (const p of [
    `/departures/${input.departureId}/documents/exit_survey`, // nothing stored
    `/departures/${input.departureId}/documents/no_such_type`,
    '/departures/dep_does-not-exist/documents/completion_certificate',
    '/departures/dep_does-not-exist/documents',
  ]) {
    const a = await call('get', p, { role: 'hr' });
    expect({ p, status: a.status, code: (a.json?.error as Json | undefined)?.code }).toEqual({
      p,
      status: 404,
      code: 'not_found',
    });
    expectDocumented(p.endsWith('/documents') ? op('get', '/departures/{id}/documents') : download, a);
  }
});

test('a departure with a recorded verification report answers the documented view (from the database)', async () => {
  const input = await createDeparture(stack.db, uniq('OA'));
  const compiledAt = new Date(Date.now() - 3_600_000);
  const items = [
    {
      itemId: 'step:crm',
      kind: 'step',
      label: 'CRM',
      reportColour: 'red',
      colour: 'red',
      detail: 'SCIM 503',
    },
    {
      itemId: 'access:entra',
      kind: 'access',
      label: 'Entra',
      reportColour: 'green',
      colour: 'green',
      detail: null,
    },
  ];
  await stack.db.verificationReport.create({
    data: {
      departureId: input.departureId,
      compiledAt,
      items,
      accessAudit: {
        at: compiledAt.toISOString(),
        rows: [{ systemId: 'entra', systemName: 'Entra', active: 'no', detail: null }],
      },
      green: 1,
      yellow: 0,
      red: 1,
      ackDueAt: new Date(compiledAt.getTime() + 86_400_000),
      hrAcknowledgedAt: new Date(),
      hrAcknowledgedBy: 'hr-user',
    },
  });
  await stack.db.resolution.create({
    data: {
      departureId: input.departureId,
      itemId: 'step:crm',
      how: 'fixed_by_hand',
      note: 'removed by hand',
      resolvedBy: 'it-user',
      role: 'it',
      resolvedAt: new Date(),
    },
  });
  await stack.db.document.create({
    data: { departureId: input.departureId, type: 'exit_survey', status: 'pending' },
  });

  const show = await call('get', `/departures/${input.departureId}`, { role: 'itdesk' });
  expect(show.status).toBe(200);
  expectDocumented(op('get', '/departures/{id}'), show);
  expect(show.json).toMatchObject({
    assets: [],
    documents: [{ type: 'exit_survey', status: 'pending' }],
    verification: {
      report: { items },
      acknowledgments: { hr: { role: 'hr', by: 'hr-user', note: null }, it: null },
      resolutions: [{ itemId: 'step:crm', how: 'fixed_by_hand', by: 'it-user', role: 'it' }],
      finalAudit: null,
      done: false,
    },
    source: 'database',
  });
});

test('acknowledge and resolutions: 404 unknown departure, 400 invalid body, 409 no running offboarding', async () => {
  const ack = op('post', '/departures/{id}/acknowledge');
  const resolve = op('post', '/departures/{id}/resolutions');
  const json = { 'content-type': 'application/json' };
  const validResolution = JSON.stringify({ itemId: 'step:crm', how: 'accepted_risk', note: 'risk accepted' });

  // The body of an acknowledgment is optional.
  const noBody = await call('post', '/departures/dep_does-not-exist/acknowledge', { role: 'hr' });
  expect(noBody.status).toBe(404);
  expectDocumented(ack, noBody);
  const unknown = await call('post', '/departures/dep_does-not-exist/resolutions', {
    role: 'admin',
    headers: json,
    body: validResolution,
  });
  expect(unknown.status).toBe(404);
  expectDocumented(resolve, unknown);

  const badAck = await call('post', '/departures/dep_x/acknowledge', {
    role: 'it',
    headers: json,
    body: JSON.stringify({ note: 'x', by: 'someone else' }),
  });
  expect(badAck.status).toBe(400);
  expectDocumented(ack, badAck);
  const badResolution = await call('post', '/departures/dep_x/resolutions', {
    role: 'hr',
    headers: json,
    body: JSON.stringify({ itemId: 'step:crm', how: 'ignored', note: 'x' }),
  });
  expect(badResolution.status).toBe(400);
  expect(
    (badResolution.json!.error as { fields: { field: string }[] }).fields.map((f) => f.field).sort(),
  ).toEqual(['how', 'note']);
  expectDocumented(resolve, badResolution);

  // A departure whose workflow has finished: nothing to sign off. (Marked started, so the API's
  // dispatcher does not start an offboarding for it during the test: an update to a running workflow
  // without a worker waits for its deadline and answers 503.)
  const input = await createDeparture(stack.db, uniq('OA'));
  await stack.db.departure.update({
    where: { id: input.departureId },
    data: { status: 'completed', workflowStartedAt: new Date() },
  });
  const notRunning = await call('post', `/departures/${input.departureId}/acknowledge`, {
    role: 'hr',
    headers: json,
    body: JSON.stringify({ note: 'looked at it' }),
  });
  // The whole answer, so a failure shows what came back instead.
  expect({ status: notRunning.status, json: notRunning.json }).toMatchObject({
    status: 409,
    json: { error: { code: 'conflict' } },
  });
  expectDocumented(ack, notRunning);
  const notRunning2 = await call('post', `/departures/${input.departureId}/resolutions`, {
    role: 'it',
    headers: json,
    body: validResolution,
  });
  expect({ status: notRunning2.status, json: notRunning2.json }).toMatchObject({
    status: 409,
    json: { error: { code: 'conflict' } },
  });
  expectDocumented(resolve, notRunning2);
});
