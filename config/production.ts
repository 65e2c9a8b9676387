/**
 * Production guards (NODE_ENV=production): what `config/env.ts` refuses at start-up, beyond the shape
 * of each setting. Each check returns the problems it found as `{ field, message }`, the field being the
 * setting to change; none echoes a secret.
 *
 *  - a stand-in catalog: the demo catalog, or a catalog whose connectors point at the local stand-ins
 *    (`npm start` and the tests run them on this machine's loopback; their CA lives under
 *    `.data/standins`; the demo names them "(stand-in)");
 *  - generated secrets: the values `npm start` generated into its data folder (`.data/secrets.json`),
 *    and the stand-ins' published demo credentials;
 *  - an `http://` PUBLIC_URL (or none: links in emails would point at the API in clear);
 *  - operator tokens are checked where they can be: a token's strength cannot be read from its SHA-256,
 *    so in production only tokens of the minted form (`offboard token`, {@link MINTED_TOKEN_PATTERN}:
 *    32 random bytes) authenticate; the configuration's entries are checked for shape only.
 *  - payload encryption keys are required in production by `config/env.ts` itself;
 *  - an audit export (AUDIT_EXPORT_DIR) without its signing key: unsigned exports cannot show that a
 *    file was forged (lib/audit-export.ts).
 *  - a metrics endpoint without authentication on an interface that is not loopback or private: the
 *    API's own `/metrics` listener (METRICS_PORT on METRICS_BIND) without METRICS_TOKEN, or the worker's
 *    Temporal SDK endpoint (WORKER_METRICS_BIND, which has no authentication at all).
 *  - TRUST_PROXY=true: every X-Forwarded-For hop trusted, so any client names its own address and
 *    escapes the per-address rate limits.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { parse } from 'yaml';

export interface GuardProblem {
  field: string;
  message: string;
}

/** The catalog `npm start` runs: its connectors point at the local stand-ins. */
export const DEMO_CATALOG_BASENAME = 'catalog.demo.yaml';

/**
 * The stand-ins' fixed demo credentials (embedded/demo.ts DEMO_SECRETS; a test keeps them equal). They
 * guard only local stand-ins: a production setting holding one was copied from the demo.
 */
export const PUBLISHED_DEMO_SECRETS: readonly string[] = [
  'demo-stand-in-secret',
  'demo-crm-token',
  'demo-wiki-token',
  'demo-vpn-token',
  'demo-slack-token',
];

/**
 * Operator tokens as `offboard token` mints them: `offb_` and 43 base64url characters, the encoding of
 * 32 random bytes (256 bits). Only these authenticate when NODE_ENV=production.
 */
export const MINTED_TOKEN_PATTERN = /^offb_[A-Za-z0-9_-]{43}$/;

function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::1';
}

function loopbackUrl(value: string): boolean {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return false;
  try {
    return isLoopbackHost(new URL(value).hostname);
  } catch {
    return false;
  }
}

/** Every string in a parsed YAML document, with its path (`systems[0].connector.baseUrl`). */
function* strings(node: unknown, at: string): Generator<[string, string]> {
  if (typeof node === 'string') yield [at, node];
  else if (Array.isArray(node)) for (const [i, v] of node.entries()) yield* strings(v, `${at}[${i}]`);
  else if (node && typeof node === 'object')
    for (const [k, v] of Object.entries(node)) yield* strings(v, at ? `${at}.${k}` : k);
}

/**
 * Why the catalog in `file` is a stand-in catalog (empty: it is not). A file that cannot be read or
 * parsed is left to the catalog loader, which names the problem.
 */
export function standInCatalogProblems(file: string): string[] {
  if (path.basename(file) === DEMO_CATALOG_BASENAME)
    return [`"${file}" is the demo catalog: its systems are local stand-ins, not real services`];
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, 'utf8'));
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const [at, value] of strings(doc, '')) {
    const key = at.slice(at.lastIndexOf('.') + 1);
    if (loopbackUrl(value))
      out.push(
        `${at} points at this machine (${value}), where the local stand-ins run; use the real service`,
      );
    else if (/^caFile$/i.test(key) && /(^|[\\/])standins[\\/]/.test(value))
      out.push(`${at} is the stand-ins' CA (${value})`);
    else if (key === 'name' && /\bstand-?in\b/i.test(value)) out.push(`${at} names a stand-in ("${value}")`);
  }
  return out;
}

/** What `npm start` generated into its data folder (embedded/start.ts `loadSecrets`). */
interface GeneratedSecrets {
  HRIS_WEBHOOK_SECRET?: unknown;
  adminToken?: unknown;
  roleTokens?: Record<string, unknown>;
  PAYLOAD_CODEC_KEYS?: unknown;
  AUDIT_EXPORT_SIGNING_KEY?: unknown;
}

/** The secrets file of `npm start`'s data folder, if there is one. */
export function readGeneratedSecrets(dataDir: string): GeneratedSecrets | null {
  const file = path.join(dataDir, 'secrets.json');
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as GeneratedSecrets;
  } catch {
    return null;
  }
}

export interface SecretSettings {
  HRIS_WEBHOOK_SECRET?: string;
  /** The configured payload encryption keys, base64. */
  codecKeys: string[];
  /** The configured SHA-256 hashes of operator tokens, with their names. */
  operatorTokenHashes: { name: string; sha256: string }[];
  /** The configured audit export signing key's raw private key, base64. */
  auditSigningKey?: string;
}

/**
 * Settings that hold a secret `npm start` generated (`generated`, from its data folder), or a published
 * demo credential (any variable of `env`: the catalog's `*Env` fields name them).
 */
export function generatedSecretProblems(
  s: SecretSettings,
  env: NodeJS.ProcessEnv,
  generated: GeneratedSecrets | null,
  hash: (token: string) => string,
): GuardProblem[] {
  const out: GuardProblem[] = [];
  const why = 'was generated by `npm start` (its data folder); production needs its own secret';
  if (generated) {
    if (s.HRIS_WEBHOOK_SECRET && s.HRIS_WEBHOOK_SECRET === generated.HRIS_WEBHOOK_SECRET)
      out.push({ field: 'HRIS_WEBHOOK_SECRET', message: why });
    const genKeys =
      typeof generated.PAYLOAD_CODEC_KEYS === 'string'
        ? generated.PAYLOAD_CODEC_KEYS.split(',').map((k) => k.trim().slice(k.trim().indexOf(':') + 1))
        : [];
    if (s.codecKeys.some((k) => genKeys.includes(k)))
      out.push({ field: 'PAYLOAD_CODEC_KEYS', message: `holds a key that ${why}` });
    const genAudit =
      typeof generated.AUDIT_EXPORT_SIGNING_KEY === 'string'
        ? generated.AUDIT_EXPORT_SIGNING_KEY.slice(generated.AUDIT_EXPORT_SIGNING_KEY.indexOf(':') + 1)
        : null;
    if (s.auditSigningKey && s.auditSigningKey === genAudit)
      out.push({ field: 'AUDIT_EXPORT_SIGNING_KEY', message: why });
    const tokens = [generated.adminToken, ...Object.values(generated.roleTokens ?? {})].filter(
      (t): t is string => typeof t === 'string' && t.length > 0,
    );
    const hashes = new Set(tokens.map(hash));
    for (const t of s.operatorTokenHashes)
      if (hashes.has(t.sha256))
        out.push({ field: 'OPERATOR_TOKENS', message: `the token of "${t.name}" ${why}` });
  }
  for (const [name, value] of Object.entries(env))
    if (value !== undefined && PUBLISHED_DEMO_SECRETS.includes(value))
      out.push({
        field: name,
        message: "is a stand-in's published demo credential (embedded/demo.ts); set the real system's secret",
      });
  return out;
}

/** PUBLIC_URL in production: required, and https. */
export function publicUrlProblems(publicUrl: string | undefined): GuardProblem[] {
  if (!publicUrl)
    return [
      {
        field: 'PUBLIC_URL',
        message:
          'is required when NODE_ENV=production: the https:// address operators and leavers reach the API at',
      },
    ];
  if (!publicUrl.startsWith('https://'))
    return [
      {
        field: 'PUBLIC_URL',
        message: 'must be an https:// URL when NODE_ENV=production (links in emails and sign-in cookies)',
      },
    ];
  return [];
}

/**
 * The audit export in production: configured (AUDIT_EXPORT_DIR) means signed. An unsigned export pins
 * the chain against a database superuser, but anyone who can add a file to the directory could forge one.
 */
export function auditExportProblems(dir: string | undefined, signingKey: unknown): GuardProblem[] {
  if (dir && !signingKey)
    return [
      {
        field: 'AUDIT_EXPORT_SIGNING_KEY',
        message:
          'is required when NODE_ENV=production and AUDIT_EXPORT_DIR is set: the exports are signed with it (keyId:base64 of an Ed25519 private key; `offboard audit-key` mints one)',
      },
    ];
  return [];
}

/**
 * A loopback or private address (RFC 1918, IPv6 unique-local or link-local): not reachable from the
 * internet by itself. A wildcard (0.0.0.0, ::) listens on every interface, public ones included, and a
 * host name cannot be judged: neither is private.
 */
export function isPrivateAddress(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (isLoopbackHost(h)) return true;
  if (isIP(h) === 4) {
    const [a, b] = h.split('.').map(Number) as [number, number];
    return (
      a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254)
    );
  }
  // fc00::/7 and fe80::/10: the first group written out in four digits.
  if (isIP(h) === 6) return /^f[cd][0-9a-f]{2}:/.test(h) || /^fe[89ab][0-9a-f]:/.test(h);
  return false;
}

/** The host of an `ip:port` (`[v6]:port` included). */
function hostOf(socketAddress: string): string {
  return socketAddress.slice(0, socketAddress.lastIndexOf(':'));
}

/**
 * Metrics endpoints in production: none without authentication on a public interface. The API's
 * `/metrics` on its own port (METRICS_PORT) needs METRICS_TOKEN unless METRICS_BIND is loopback or
 * private (on the API's own port, which the proxy publishes, it is served only with METRICS_TOKEN:
 * server/metrics.ts `metricsExposure`); the worker's Temporal SDK endpoint has no authentication, so
 * WORKER_METRICS_BIND must be loopback or private.
 */
export function metricsProblems(c: {
  METRICS_TOKEN?: string;
  METRICS_PORT?: number;
  METRICS_BIND: string;
  WORKER_METRICS_BIND?: string;
}): GuardProblem[] {
  const out: GuardProblem[] = [];
  if (c.METRICS_PORT !== undefined && !c.METRICS_TOKEN && !isPrivateAddress(c.METRICS_BIND))
    out.push({
      field: 'METRICS_BIND',
      message: `"${c.METRICS_BIND}" is not a loopback or private address: /metrics would be served there without authentication when NODE_ENV=production; bind a loopback or private address, or set METRICS_TOKEN`,
    });
  if (c.WORKER_METRICS_BIND && !isPrivateAddress(hostOf(c.WORKER_METRICS_BIND)))
    out.push({
      field: 'WORKER_METRICS_BIND',
      message: `"${c.WORKER_METRICS_BIND}" is not a loopback or private address: the Temporal SDK's metrics endpoint has no authentication; bind a loopback or private address (e.g. the container's own)`,
    });
  return out;
}

/**
 * TRUST_PROXY in production: never `true`. Trusting every hop lets any client write its own address into
 * X-Forwarded-For, so the per-address rate limits (and logged addresses) count what the client chose.
 */
export function trustProxyProblems(trustProxy: boolean | number | string[]): GuardProblem[] {
  if (trustProxy === true)
    return [
      {
        field: 'TRUST_PROXY',
        message:
          'must not be true when NODE_ENV=production: every client could choose its own address (X-Forwarded-For) and escape the rate limits; set the number of proxies in front of the API (e.g. 1) or their addresses',
      },
    ];
  return [];
}
