/**
 * The production guards (config/production.ts through config/env.ts `loadConfig`): with
 * NODE_ENV=production start-up refuses a stand-in catalog, generated secrets, an http PUBLIC_URL, a
 * missing payload encryption key and TRUST_PROXY=true, each naming the setting; only minted operator tokens authenticate;
 * and `npm start` refuses to run at all.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Request, Response } from 'express';
import { loadConfig } from '../config/env';
import { MINTED_TOKEN_PATTERN, PUBLISHED_DEMO_SECRETS } from '../config/production';
import { DEMO_SECRETS } from '../embedded/demo';
import { mintSigningKey } from '../lib/audit-key';
import { AesGcmPayloadCodec, generateCodecKey, parseCodecKeys } from '../lib/codec';
import { dataConverterFrom } from '../workers/temporal';
import { createAuth, hashToken } from '../server/auth';
import { mintToken } from '../cli/commands/token';

const ROOT = path.resolve(__dirname, '..');
let dir: string;

/** A catalog of real-looking services (nothing on this machine). */
const REAL_CATALOG = `version: 1
organization:
  timeZone: Europe/Berlin
  hr: { name: People Team, email: hr@example.com }
  it: { name: IT Operations, email: it-ops@example.com }
systems:
  - id: crm
    name: CRM
    category: application
    tier: application
    integration: api
    sso: false
    owner: { name: Sales Ops, email: sales-ops@example.com }
    connector: { kind: scim, baseUrl: 'https://crm.example.com/scim/v2', tokenEnv: SCIM_TOKEN_CRM }
`;

const adminToken = mintToken();

function goodEnv(): Record<string, string> {
  return {
    NODE_ENV: 'production',
    DATABASE_URL: 'postgresql://offboard_app@db.example.com/offboard',
    CATALOG_FILE: path.join(dir, 'catalog.yaml'),
    PUBLIC_URL: 'https://offboard.example.com',
    HRIS_WEBHOOK_SECRET: `whsec_${randomBytes(32).toString('base64')}`,
    PAYLOAD_CODEC_KEYS: generateCodecKey('prod-1'),
    OPERATOR_TOKENS: `ops:admin:${hashToken(adminToken)}`,
    SCIM_TOKEN_CRM: randomBytes(24).toString('hex'),
    OFFBOARD_DATA_DIR: path.join(dir, 'data'),
  };
}

function refusal(env: Record<string, string | undefined>): string {
  try {
    loadConfig(env);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('accepted');
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'offboard-guards-'));
  writeFileSync(path.join(dir, 'catalog.yaml'), REAL_CATALOG);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('a good production configuration passes; its operator tokens must then be of the minted form', () => {
  const cfg = loadConfig(goodEnv());
  expect(cfg.NODE_ENV).toBe('production');
  expect(cfg.OPERATOR_TOKENS).toEqual([expect.objectContaining({ name: 'ops', mintedOnly: true })]);
  // Outside production nothing of this is asked for.
  expect(loadConfig({ DATABASE_URL: 'postgresql://x@127.0.0.1/x' }).OPERATOR_TOKENS).toEqual([]);
});

test('the demo catalog, and a catalog left at its default, are refused naming CATALOG_FILE', () => {
  expect(refusal({ ...goodEnv(), CATALOG_FILE: path.join(ROOT, 'config', 'catalog.demo.yaml') })).toMatch(
    /CATALOG_FILE: is a stand-in catalog: .*is the demo catalog/,
  );
  expect(refusal({ ...goodEnv(), CATALOG_FILE: undefined })).toMatch(
    /CATALOG_FILE: is required when NODE_ENV=production/,
  );
});

test('a catalog whose connectors point at the stand-ins is refused, naming each field', () => {
  const file = path.join(dir, 'standins.yaml');
  // The demo catalog under another name, as `npm start` writes it into its data folder.
  writeFileSync(file, readFileSync(path.join(ROOT, 'config', 'catalog.demo.yaml'), 'utf8'));
  const msg = refusal({ ...goodEnv(), CATALOG_FILE: file });
  expect(msg).toMatch(/CATALOG_FILE: is a stand-in catalog: systems\[0\]\.name names a stand-in/);
  expect(msg).toMatch(
    /systems\[0\]\.connector\.graphBaseUrl points at this machine \(https:\/\/localhost:7441\)/,
  );
  expect(msg).toMatch(/systems\[0\]\.connector\.caFile is the stand-ins' CA/);
  // One loopback URL is enough, whatever the name says.
  writeFileSync(file, REAL_CATALOG.replace('https://crm.example.com', 'http://127.0.0.1:7442/crm'));
  expect(refusal({ ...goodEnv(), CATALOG_FILE: file })).toMatch(
    /CATALOG_FILE: is a stand-in catalog: systems\[0\]\.connector\.baseUrl points at this machine/,
  );
});

test('secrets `npm start` generated into its data folder are refused, naming each setting', () => {
  const env = goodEnv();
  const data = env.OFFBOARD_DATA_DIR!;
  rmSync(data, { recursive: true, force: true });
  mkdirSync(data, { recursive: true });
  const hr = randomBytes(24).toString('base64url');
  writeFileSync(
    path.join(data, 'secrets.json'),
    JSON.stringify({
      HRIS_WEBHOOK_SECRET: env.HRIS_WEBHOOK_SECRET,
      adminToken: 'generated-admin',
      roleTokens: { hr, it: 'x', itdesk: 'y' },
      PAYLOAD_CODEC_KEYS: `local-1:${env.PAYLOAD_CODEC_KEYS!.split(':')[1]}`,
    }),
  );
  const msg = refusal({
    ...env,
    OPERATOR_TOKENS: `ops:admin:${hashToken(adminToken)},hr-demo:hr:${hashToken(hr)}`,
  });
  expect(msg).toMatch(/HRIS_WEBHOOK_SECRET: was generated by `npm start`/);
  expect(msg).toMatch(/PAYLOAD_CODEC_KEYS: holds a key that was generated by `npm start`/);
  expect(msg).toMatch(/OPERATOR_TOKENS: the token of "hr-demo" was generated by `npm start`/);
  expect(msg).not.toMatch(/"ops"/);
  rmSync(data, { recursive: true, force: true });
});

test("the stand-ins' published demo credentials are refused in any variable", () => {
  expect([...PUBLISHED_DEMO_SECRETS].sort()).toEqual(
    Object.entries(DEMO_SECRETS)
      .filter(([k]) => /SECRET|TOKEN/.test(k))
      .map(([, v]) => v)
      .sort(),
  );
  expect(refusal({ ...goodEnv(), SCIM_TOKEN_CRM: DEMO_SECRETS.SCIM_TOKEN_CRM })).toMatch(
    /SCIM_TOKEN_CRM: is a stand-in's published demo credential/,
  );
});

test.each([
  [undefined, /PUBLIC_URL: is required when NODE_ENV=production/],
  ['http://offboard.example.com', /PUBLIC_URL: must be an https:\/\/ URL when NODE_ENV=production/],
])('PUBLIC_URL %s is refused', (value, error) => {
  expect(refusal({ ...goodEnv(), PUBLIC_URL: value })).toMatch(error);
});

test("TRUST_PROXY=true (every hop trusted) is refused naming the field; a hop count or the proxies' addresses pass", () => {
  expect(refusal({ ...goodEnv(), TRUST_PROXY: 'true' })).toMatch(
    /TRUST_PROXY: must not be true when NODE_ENV=production: every client could choose its own address/,
  );
  expect(loadConfig({ ...goodEnv(), TRUST_PROXY: '1' }).TRUST_PROXY).toBe(1);
  expect(loadConfig({ ...goodEnv(), TRUST_PROXY: '10.0.0.5, fd00::/8,loopback' }).TRUST_PROXY).toEqual([
    '10.0.0.5',
    'fd00::/8',
    'loopback',
  ]);
  expect(loadConfig(goodEnv()).TRUST_PROXY).toBe(false);
  // Outside production `true` is allowed (a development machine behind a local proxy).
  expect(loadConfig({ DATABASE_URL: 'postgresql://x@127.0.0.1/x', TRUST_PROXY: 'true' }).TRUST_PROXY).toBe(
    true,
  );
});

test('payloads must be encrypted: PAYLOAD_CODEC_KEYS is required', () => {
  expect(refusal({ ...goodEnv(), PAYLOAD_CODEC_KEYS: undefined })).toMatch(
    /PAYLOAD_CODEC_KEYS: is required when NODE_ENV=production/,
  );
});

test('an audit export needs its signing key; one `npm start` generated is refused', () => {
  const exportDir = { AUDIT_EXPORT_DIR: path.join(dir, 'audit-exports') };
  expect(refusal({ ...goodEnv(), ...exportDir })).toMatch(
    /AUDIT_EXPORT_SIGNING_KEY: is required when NODE_ENV=production and AUDIT_EXPORT_DIR is set/,
  );
  const { signingKey } = mintSigningKey('prod-1');
  const cfg = loadConfig({ ...goodEnv(), ...exportDir, AUDIT_EXPORT_SIGNING_KEY: signingKey });
  expect(cfg.AUDIT_EXPORT_SIGNING_KEY?.keyId).toBe('prod-1');
  // No export configured: no key asked for.
  expect(loadConfig(goodEnv()).AUDIT_EXPORT_DIR).toBeUndefined();
  // The same key under another id, as `npm start` wrote it into its data folder.
  const env = goodEnv();
  const data = env.OFFBOARD_DATA_DIR!;
  mkdirSync(data, { recursive: true });
  const generated = `local-1:${signingKey.slice(signingKey.indexOf(':') + 1)}`;
  writeFileSync(path.join(data, 'secrets.json'), JSON.stringify({ AUDIT_EXPORT_SIGNING_KEY: generated }));
  try {
    const msg = refusal({ ...env, ...exportDir, AUDIT_EXPORT_SIGNING_KEY: signingKey });
    expect(msg).toMatch(/AUDIT_EXPORT_SIGNING_KEY: was generated by `npm start`/);
    expect(msg).not.toContain(generated.slice(8));
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});

test('in production an unencrypted inbound payload is refused by every client and worker', async () => {
  const cfg = loadConfig(goodEnv());
  const plain = { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('{"role":"hr"}') };
  const [codec] = dataConverterFrom(cfg).payloadCodecs ?? [];
  expect(codec).toBeInstanceOf(AesGcmPayloadCodec);
  await expect(codec!.decode([plain])).rejects.toThrow(/payload is not encrypted: refused/);
  // What its own clients encrypted still decodes.
  const encrypted = await codec!.encode([plain]);
  expect(await codec!.decode(encrypted)).toEqual([plain]);
  // Outside production (and histories from before the codec) plain payloads pass through.
  const keys = parseCodecKeys(generateCodecKey('dev-1'));
  if (!('keys' in keys)) throw new Error('bad key');
  const [dev] =
    dataConverterFrom({ PAYLOAD_CODEC_KEYS: keys.keys, NODE_ENV: 'development' }).payloadCodecs ?? [];
  expect(await dev!.decode([plain])).toEqual([plain]);
});

test('in production only minted operator tokens authenticate (strength cannot be read from a hash)', () => {
  expect(MINTED_TOKEN_PATTERN.test(adminToken)).toBe(true);
  expect(Buffer.from(adminToken.slice('offb_'.length), 'base64url')).toHaveLength(32);
  const weak = 'password123';
  const cfg = loadConfig({
    ...goodEnv(),
    OPERATOR_TOKENS: `ops:admin:${hashToken(adminToken)},weak:admin:${hashToken(weak)}`,
  });
  const guard = createAuth(cfg.OPERATOR_TOKENS)('hr');
  const call = (token: string) => {
    const req = { headers: { authorization: `Bearer ${token}` } } as unknown as Request;
    const next = jest.fn();
    guard(req, {} as Response, next);
    return { next, req };
  };
  expect(call(adminToken).next).toHaveBeenCalled();
  expect(() => call(weak)).toThrow(/not of the minted form/);
  // Outside production the configured hash is enough.
  const dev = loadConfig({
    DATABASE_URL: 'postgresql://x@127.0.0.1/x',
    OPERATOR_TOKENS: `weak:admin:${hashToken(weak)}`,
  });
  const devGuard = createAuth(dev.OPERATOR_TOKENS)('hr');
  const next = jest.fn();
  devGuard({ headers: { authorization: `Bearer ${weak}` } } as unknown as Request, {} as Response, next);
  expect(next).toHaveBeenCalled();
});

test('`offboard token` prints a minted token and its OPERATOR_TOKENS entry', async () => {
  const { run } = await import('../cli/main');
  const out: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((s) => {
    out.push(String(s));
    return true;
  });
  try {
    expect(await run(['token', '--name', 'hr-lead', '--role', 'hr'])).toBe(0);
  } finally {
    spy.mockRestore();
  }
  const text = out.join('');
  const token = /^token\s+(\S+)$/m.exec(text)?.[1] ?? '';
  expect(token).toMatch(MINTED_TOKEN_PATTERN);
  expect(text).toContain(`OPERATOR_TOKENS hr-lead:hr:${hashToken(token)}`);
});

test('`npm start` refuses NODE_ENV=production before it starts anything', () => {
  const data = path.join(dir, 'start-data');
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'embedded', 'start.ts')], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production', OFFBOARD_DATA_DIR: data },
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/could not start: NODE_ENV=production: `npm start` runs the embedded demo/);
  expect(existsSync(data)).toBe(false);
  // Its prestart step (the tool set-up) stops first, before fetching anything.
  const pre = spawnSync(process.execPath, [path.join(ROOT, 'embedded', 'setup-tools.mjs')], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production', npm_lifecycle_event: 'prestart' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(pre.status).toBe(1);
  expect(pre.stderr).toMatch(/NODE_ENV=production: `npm start` runs the embedded demo/);
}, 90_000);
