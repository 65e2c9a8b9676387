/**
 * The Temporal Web UI part: the AES-256-GCM payload codec (round trip, key rotation, unknown keys and
 * altered data refused by name), an offboarding on the dev server whose history holds no personal data
 * in clear text, the codec endpoint the Web UI calls (operator token, CORS for the UI's origins only,
 * session cookie), and the search attributes operators filter on.
 */
import { randomBytes } from 'node:crypto';
import { Client } from '@temporalio/client';
import { METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import { loadConfig } from '../config/env';
import {
  SEARCH_ATTRIBUTES,
  statusQuery,
  type OffboardingSearchStatus,
  type OffboardingStatus,
} from '../contract';
import {
  AesGcmPayloadCodec,
  ENCRYPTED_ENCODING,
  KEY_ID_METADATA,
  PayloadDecryptionError,
  generateCodecKey,
  parseCodecKeys,
  type CodecKey,
} from '../lib/codec';
import { signDelivery } from '../lib/webhook-sign';
import type { RunningServer } from '../server/main';
import type { OffboardingWorkers } from '../workers/worker';
import {
  CODEC_KEYS,
  CODEC_KEYS_SPEC,
  TOKENS,
  WEBHOOK_SECRET,
  createTestWorker,
  eventually,
  hrisEvent,
  post,
  seedEmployee,
  startApi,
  startStack,
  uniq,
  type Stack,
  signNdaFromMail,
  signOff,
} from './support/harness';

const key = (id: string): CodecKey => ({ id, key: randomBytes(32) });
const json = (v: unknown): Payload => ({
  metadata: { [METADATA_ENCODING_KEY]: Buffer.from('json/plain') },
  data: Buffer.from(JSON.stringify(v)),
});
const utf8 = (b: Uint8Array | null | undefined) => Buffer.from(b ?? []).toString('utf8');

describe('payload codec', () => {
  test('round-trips several payloads; what it sends is encrypted and names its key id', async () => {
    const codec = new AesGcmPayloadCodec([key('k1')]);
    const payloads: Payload[] = [
      json({ name: 'Dana Reyes', workEmail: 'dana.reyes@example.com' }),
      json('Finance'),
      { metadata: { [METADATA_ENCODING_KEY]: Buffer.from('binary/null') } },
      { metadata: { [METADATA_ENCODING_KEY]: Buffer.from('binary/plain') }, data: randomBytes(70_000) },
    ];
    const encoded = await codec.encode(payloads);
    expect(encoded).toHaveLength(4);
    for (const e of encoded) {
      expect(utf8(e.metadata![METADATA_ENCODING_KEY])).toBe(ENCRYPTED_ENCODING);
      expect(utf8(e.metadata![KEY_ID_METADATA])).toBe('k1');
      expect(Object.keys(e.metadata!).sort()).toEqual([KEY_ID_METADATA, METADATA_ENCODING_KEY].sort());
    }
    expect(utf8(encoded[0]!.data)).not.toContain('Dana');
    expect(utf8(encoded[0]!.data)).not.toContain('json/plain');
    // A fresh IV every time: the same payload never encrypts to the same bytes.
    const again = await codec.encode([payloads[0]!]);
    expect(Buffer.from(again[0]!.data!).equals(Buffer.from(encoded[0]!.data!))).toBe(false);

    const decoded = await codec.decode(encoded);
    decoded.forEach((d, i) => {
      expect(utf8(d.metadata![METADATA_ENCODING_KEY])).toBe(
        utf8(payloads[i]!.metadata![METADATA_ENCODING_KEY]),
      );
      expect(Buffer.from(d.data ?? []).equals(Buffer.from(payloads[i]!.data ?? []))).toBe(true);
    });
    // Payloads written without a codec pass through decode untouched.
    expect(await codec.decode([payloads[1]!])).toEqual([payloads[1]]);
  });

  test('rotation: the new key encrypts, the old one still decrypts', async () => {
    const old = key('2024-01');
    const next = key('2025-06');
    const before = new AesGcmPayloadCodec([old]);
    const rotated = new AesGcmPayloadCodec([next, old]);
    const written = await before.encode([json({ employeeId: 'E-1' })]);
    expect(JSON.parse(utf8((await rotated.decode(written))[0]!.data))).toEqual({ employeeId: 'E-1' });
    const fresh = await rotated.encode([json({ employeeId: 'E-2' })]);
    expect(utf8(fresh[0]!.metadata![KEY_ID_METADATA])).toBe('2025-06');
    expect(rotated.encryptingKeyId).toBe('2025-06');
    // A process that has not been given the new key yet says which key it lacks.
    await expect(before.decode(fresh)).rejects.toThrow(/key id "2025-06", which is not configured/);
  });

  test('an unknown key id and altered ciphertext fail with a clear error', async () => {
    const codec = new AesGcmPayloadCodec([key('k1')]);
    const [enc] = await codec.encode([json({ secret: 'x' })]);
    const unknown = { ...enc!, metadata: { ...enc!.metadata, [KEY_ID_METADATA]: Buffer.from('k9') } };
    const err = await codec.decode([unknown]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PayloadDecryptionError);
    expect((err as PayloadDecryptionError).keyId).toBe('k9');
    expect((err as Error).message).toMatch(
      /key id "k9", which is not configured \(PAYLOAD_CODEC_KEYS has "k1"\)/,
    );

    const data = Buffer.from(enc!.data!);
    data[20] = data[20]! ^ 0x01;
    await expect(codec.decode([{ ...enc!, data }])).rejects.toThrow(
      /could not be decrypted with key id "k1": authentication failed/,
    );
    // Same id, different key material (a mix-up between environments): refused, not garbage.
    await expect(new AesGcmPayloadCodec([key('k1')]).decode([enc!])).rejects.toThrow(/authentication failed/);
    await expect(codec.decode([{ ...enc!, data: data.subarray(0, 10) }])).rejects.toThrow(/truncated/);
  });

  test('PAYLOAD_CODEC_KEYS: parsed, required in production, bad entries named without their key', () => {
    const spec = [generateCodecKey('new'), generateCodecKey('old')].join(',');
    const parsed = parseCodecKeys(spec);
    expect('keys' in parsed && parsed.keys.map((k) => k.id)).toEqual(['new', 'old']);
    const base = { DATABASE_URL: 'postgresql://x@127.0.0.1/x' };
    expect(loadConfig({ ...base, PAYLOAD_CODEC_KEYS: spec }).PAYLOAD_CODEC_KEYS?.[0]?.id).toBe('new');
    expect(loadConfig(base).PAYLOAD_CODEC_KEYS).toBeUndefined();
    expect(() => loadConfig({ ...base, NODE_ENV: 'production' })).toThrow(
      /PAYLOAD_CODEC_KEYS: is required when NODE_ENV=production/,
    );
    const short = `k1:${randomBytes(16).toString('base64')}`;
    expect(() => loadConfig({ ...base, PAYLOAD_CODEC_KEYS: short })).toThrow(
      /PAYLOAD_CODEC_KEYS: entry 1 \(key id "k1"\): the key must be 32 bytes/,
    );
    let message = '';
    try {
      loadConfig({ ...base, PAYLOAD_CODEC_KEYS: `${spec},bad key` });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/PAYLOAD_CODEC_KEYS: entry 3 must be keyId:base64key/);
    expect(message).not.toContain(spec.split(':')[1]!.slice(0, 12));
    expect(() =>
      loadConfig({ ...base, PAYLOAD_CODEC_KEYS: `${spec.split(',')[0]},${spec.split(',')[0]}` }),
    ).toThrow(/key id "new" appears twice/);
    expect(() => loadConfig({ ...base, CODEC_CORS_ORIGINS: 'http://ui.example.com/path' })).toThrow(
      /CODEC_CORS_ORIGINS: "http:\/\/ui.example.com\/path" is not an origin/,
    );
  });
});

describe('on the dev server', () => {
  let stack: Stack;
  let worker: OffboardingWorkers;
  let running: Promise<void>;
  let api: RunningServer;
  /** A client without the codec: what Temporal's database and anyone without the key see. */
  let raw: Client;

  beforeAll(async () => {
    stack = await startStack();
    worker = await createTestWorker(stack);
    running = worker.run();
    api = await startApi(stack);
    raw = new Client({ connection: stack.connection });
  });

  afterAll(async () => {
    await api?.close();
    worker?.shutdown();
    await running;
    await stack?.stop();
  });

  /** Workflows matching a visibility query (eventually consistent: polled). */
  async function findByQuery(query: string) {
    return eventually(
      async () => {
        const found = [];
        for await (const w of stack.client.workflow.list({ query })) found.push(w);
        return found.length > 0 ? found : null;
      },
      45_000, // visibility is eventually consistent, slower on a loaded machine
      `a workflow matching ${query}`,
    );
  }

  /** Every string and byte array (as UTF-8) in `node`, except under search attributes. */
  function texts(node: unknown, out: string[] = [], key = ''): string[] {
    if (key === 'searchAttributes') return out; // clear text by design: ids, department, status
    if (node instanceof Uint8Array) out.push(Buffer.from(node).toString('utf8'));
    else if (typeof node === 'string') out.push(node);
    else if (Array.isArray(node)) node.forEach((n) => texts(n, out));
    else if (node && typeof node === 'object')
      for (const [k, v] of Object.entries(node as Record<string, unknown>)) texts(v, out, k);
    return out;
  }

  test('an offboarding: searchable by its attributes, and its history unreadable without the key', async () => {
    const id = uniq('W');
    const person = seedEmployee(stack.standIns, id);
    const tag = randomBytes(3).toString('hex');
    const name = `Quinn Vasquez-${tag}`;
    const department = `Treasury-${tag}`;
    const event = hrisEvent(id);
    Object.assign(event.employee, { name, department, workLocation: 'hybrid' });
    // The CRM fails the leaver with an error that quotes their name, email and department, at every
    // attempt (the sweep's, then its own activity's retries): the failure message (and the step table
    // that carries it) must not reach the history in clear text.
    stack.standIns.scim.control.inject({
      method: 'PATCH',
      pathIncludes: `/crm/scim/v2/Users/${person.scimUsers.crm.id}`,
      status: 500,
      times: Infinity,
      body: { detail: `user ${name} <${person.workEmail}> of ${department} is locked` },
    });
    const d = signDelivery(WEBHOOK_SECRET, event);
    const res = await post(`${api.url}/webhooks/hris`, d.body, d.headers);
    expect(res.json.action).toBe('started');
    const departureId = res.json.departureId as string;
    const workflowId = `offboarding:${id}`;

    // Waiting for the ticket owners, one step red: the UI's filter finds it, with the right count.
    const waiting = await findByQuery(
      `OffboardingEmployeeId = '${id}' AND OffboardingStatus = 'awaiting_tickets' AND OffboardingRedSteps = 1`,
    );
    expect(waiting.map((w) => w.workflowId)).toEqual([workflowId]);
    const sa = waiting[0]!.typedSearchAttributes;
    expect(sa.get(SEARCH_ATTRIBUTES.department)).toBe(department);
    expect(sa.get(SEARCH_ATTRIBUTES.workLocation)).toBe('hybrid');
    expect(sa.get(SEARCH_ATTRIBUTES.redSteps)).toBe(1);

    const tickets = await eventually(async () => {
      const t = await stack.db.ticket.findMany({ where: { departureId } });
      return t.length === 2 ? t : null;
    });
    for (const t of tickets) {
      const r = await fetch(`${api.url}/tickets/${t.id}/confirm`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKENS.it}`, 'content-type': 'application/json' },
        body: JSON.stringify({ note: 'done by hand' }),
      });
      expect(r.status).toBe(202);
    }
    // The employee signs the NDA (the last thing the offboarding waits for here).
    expect((await signNdaFromMail(stack, api.url, id)).status).toBe(200);
    // IT disables the CRM account by hand (the target refused Offboard) and signs off with HR.
    stack.standIns.scim.findUser('crm', person.workEmail)!.active = false;
    await signOff(stack.client, workflowId);
    const completed: OffboardingSearchStatus = 'completed';
    const done = await findByQuery(
      `OffboardingDepartment = '${department}' AND OffboardingStatus = '${completed}'`,
    );
    expect(done.map((w) => w.workflowId)).toEqual([workflowId]);
    expect(done[0]!.typedSearchAttributes.get(SEARCH_ATTRIBUTES.redSteps)).toBe(1);
    expect(done[0]!.typedSearchAttributes.get(SEARCH_ATTRIBUTES.employeeId)).toBe(id);
    stack.standIns.scim.control.clearFaults();

    // With the key: the result and the status query read as usual, the error quoting the leaver included.
    const handle = stack.client.workflow.getHandle(workflowId);
    const result = (await handle.result()) as OffboardingStatus;
    expect(result).toMatchObject({ phase: 'completed', redSteps: 1 });
    const crm = (await handle.query(statusQuery)).steps.find((s) => s.systemId === 'crm')!;
    expect(crm.status).toBe('red');
    expect(crm.lastError).toContain(person.workEmail);

    // Without the key: every payload and failure in the history is ciphertext.
    const history = await raw.workflow.getHandle(workflowId).fetchHistory();
    const all = texts(history).join('\n');
    expect(history.events!.length).toBeGreaterThan(20);
    expect(all).toContain(ENCRYPTED_ENCODING);
    // Activity types are not personal data: the walk sees them.
    expect(all).toContain('sweepRevocations');
    expect(all).toContain('revokeAccess'); // the CRM's retries, after the sweep's attempt failed
    for (const secret of [name, person.workEmail, department, 'Quinn'])
      expect({ secret, inHistory: all.includes(secret) }).toEqual({ secret, inHistory: false });
    // The activity failure is there, its message and stack trace moved into the encrypted attributes.
    const failures = history.events!.map((e) => e.activityTaskFailedEventAttributes?.failure).filter(Boolean);
    expect(failures.length).toBeGreaterThan(0);
    for (const f of failures) {
      expect(f!.message).toBe('Encoded failure');
      expect(utf8(f!.encodedAttributes?.metadata?.[METADATA_ENCODING_KEY])).toBe(ENCRYPTED_ENCODING);
    }
    await expect(raw.workflow.getHandle(workflowId).result()).rejects.toThrow();

    // The codec endpoint decodes that failure for an operator, as the Web UI asks it to.
    const encoded = failures[0]!.encodedAttributes!;
    const body = JSON.stringify({
      payloads: [
        {
          metadata: Object.fromEntries(
            Object.entries(encoded.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
          ),
          data: Buffer.from(encoded.data!).toString('base64'),
        },
      ],
    });
    const decoded = await fetch(`${api.url}/codec/decode`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TOKENS.itdesk}`,
        'content-type': 'application/json',
        'x-namespace': 'default',
        origin: 'http://127.0.0.1:8233',
      },
      body,
    });
    expect(decoded.status).toBe(200);
    expect(decoded.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:8233');
    const out = (await decoded.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    expect(Buffer.from(out.payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
    const attrs = JSON.parse(Buffer.from(out.payloads[0]!.data, 'base64').toString()) as { message: string };
    expect(attrs.message).toContain(person.workEmail);
  });

  describe('codec endpoint', () => {
    const UI = 'http://localhost:8233';
    const call = (path: string, init: RequestInit = {}) => fetch(`${api.url}/codec${path}`, init);
    const payloadsBody = (payloads: Payload[]) =>
      JSON.stringify({
        payloads: payloads.map((p) => ({
          metadata: Object.fromEntries(
            Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')]),
          ),
          data: Buffer.from(p.data ?? []).toString('base64'),
        })),
      });

    test('needs an operator token (401 without, readable by the UI); any role may decode', async () => {
      const body = payloadsBody([json({ a: 1 })]);
      const none = await call('/decode', {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: UI },
        body,
      });
      expect(none.status).toBe(401);
      expect(none.headers.get('access-control-allow-origin')).toBe(UI);
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
      const wrong = await call('/decode', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer nope' },
        body,
      });
      expect(wrong.status).toBe(401);
      for (const token of Object.values(TOKENS)) {
        const ok = await call('/decode', {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body,
        });
        expect(ok.status).toBe(200);
      }
    });

    test('CORS: the UI origin passes the preflight with credentials; any other origin is refused', async () => {
      const preflight = (origin: string) =>
        call('/decode', {
          method: 'OPTIONS',
          headers: {
            origin,
            'access-control-request-method': 'POST',
            'access-control-request-headers': 'content-type,x-namespace,authorization',
          },
        });
      for (const origin of ['http://127.0.0.1:8233', UI]) {
        const ok = await preflight(origin);
        expect(ok.status).toBe(204);
        expect(ok.headers.get('access-control-allow-origin')).toBe(origin);
        expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
        expect(ok.headers.get('access-control-allow-headers')).toBe(
          'content-type, x-namespace, authorization',
        );
        expect(ok.headers.get('access-control-allow-methods')).toContain('POST');
        expect(ok.headers.get('vary')).toContain('Origin');
      }
      const evil = await preflight('https://evil.example.com');
      expect(evil.status).toBe(403);
      expect(evil.headers.get('access-control-allow-origin')).toBeNull();
      // A real request from that origin is refused too, token or not.
      const post = await call('/decode', {
        method: 'POST',
        headers: {
          origin: 'https://evil.example.com',
          authorization: `Bearer ${TOKENS.admin}`,
          'content-type': 'application/json',
        },
        body: payloadsBody([json(1)]),
      });
      expect(post.status).toBe(403);
      expect(post.headers.get('access-control-allow-origin')).toBeNull();
    });

    test('encode then decode returns the clear payload; bad bodies and unknown keys are 400', async () => {
      const auth = { authorization: `Bearer ${TOKENS.hr}`, 'content-type': 'application/json' };
      const clear = json({ employee: 'Dana Reyes' });
      const enc = await call('/encode', { method: 'POST', headers: auth, body: payloadsBody([clear]) });
      expect(enc.status).toBe(200);
      const encBody = (await enc.json()) as {
        payloads: { metadata: Record<string, string>; data: string }[];
      };
      const encrypted = encBody.payloads[0]!;
      expect(Buffer.from(encrypted.metadata['encryption-key-id']!, 'base64').toString()).toBe(
        CODEC_KEYS_SPEC.split(':')[0],
      );
      expect(Buffer.from(encrypted.data, 'base64').toString()).not.toContain('Dana');
      const dec = await call('/decode', { method: 'POST', headers: auth, body: JSON.stringify(encBody) });
      const decBody = (await dec.json()) as { payloads: { data: string }[] };
      expect(JSON.parse(Buffer.from(decBody.payloads[0]!.data, 'base64').toString())).toEqual({
        employee: 'Dana Reyes',
      });

      const foreign = await new AesGcmPayloadCodec([key('prod-7')]).encode([clear]);
      const unknown = await call('/decode', { method: 'POST', headers: auth, body: payloadsBody(foreign) });
      expect(unknown.status).toBe(400);
      expect(((await unknown.json()) as { error: { message: string } }).error.message).toContain(
        'key id "prod-7"',
      );
      const bad = await call('/decode', {
        method: 'POST',
        headers: auth,
        body: '{"payloads":[{"data":"%%"}]}',
      });
      expect(bad.status).toBe(400);
    });

    test('the Web UI path: sign in once, then the session cookie stands in for the token', async () => {
      const page = await call('/login');
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('Include cross-origin credentials');
      const refused = await call('/login', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'token=not-a-token',
      });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('set-cookie')).toBeNull();
      const login = await call('/login', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `token=${encodeURIComponent(TOKENS.itdesk)}`,
      });
      expect(login.status).toBe(200);
      const cookie = login.headers.get('set-cookie')!;
      expect(cookie).toMatch(/^offboard_codec=/);
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Strict/);
      expect(cookie).toMatch(/Path=\/codec/);
      const decoded = await call('/decode', {
        method: 'POST',
        headers: {
          cookie: cookie.split(';')[0]!,
          origin: UI,
          'content-type': 'application/json',
          'x-namespace': 'default',
        },
        body: payloadsBody(await new AesGcmPayloadCodec(CODEC_KEYS).encode([json('hello')])),
      });
      expect(decoded.status).toBe(200);
      expect(decoded.headers.get('access-control-allow-credentials')).toBe('true');
      const out = (await decoded.json()) as { payloads: { data: string }[] };
      expect(Buffer.from(out.payloads[0]!.data, 'base64').toString()).toBe('"hello"');
    });
  });
});
