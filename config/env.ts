/**
 * Process configuration, parsed once at start-up. A bad value stops the process with the variable named.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { parseSigningKey, signingKeySeed } from '../lib/audit-key';
import { parseCodecKeys } from '../lib/codec';
import { AppError } from '../lib/errors';
import {
  auditExportProblems,
  generatedSecretProblems,
  metricsProblems,
  publicUrlProblems,
  readGeneratedSecrets,
  standInCatalogProblems,
  trustProxyProblems,
  type GuardProblem,
} from './production';

const duration = z.string().regex(/^\d+(ms|s|m|h|d)$/, 'a duration such as 500ms, 30s, 5m, 2h or 1d');

const secretSchema = z
  .string()
  .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, 'must be "whsec_" followed by a base64 key')
  .refine((s) => Buffer.from(s.slice(6), 'base64').length >= 24, 'the key must be at least 24 bytes');

/**
 * `mintedOnly` (set for every entry when NODE_ENV=production): the entry's token authenticates only in
 * the minted form (config/production.ts MINTED_TOKEN_PATTERN), since its strength cannot be read from
 * the hash.
 */
const operatorTokens = z.string().transform((s, ctx) => {
  const out: { name: string; role: string; sha256: string; mintedOnly?: boolean }[] = [];
  for (const [i, part] of s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .entries()) {
    const m = /^([A-Za-z0-9_.@-]+):(hr|it|itdesk|admin):([0-9a-f]{64})$/.exec(part);
    if (!m) {
      ctx.addIssue({
        code: 'custom',
        message: `entry ${i + 1} must be name:role:sha256hex with role one of hr, it, itdesk, admin`,
      });
      return z.NEVER;
    }
    out.push({ name: m[1]!, role: m[2]!, sha256: m[3]! });
  }
  return out;
});

/** `keyId:base64(32 bytes)`, comma-separated: the first key encrypts, all decrypt (rotation). */
const codecKeys = z.string().transform((s, ctx) => {
  const r = parseCodecKeys(s);
  if ('errors' in r) {
    for (const message of r.errors) ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  }
  return r.keys;
});

/** `keyId:base64` of an Ed25519 private key (lib/audit-key.ts); the error never repeats the value. */
const auditSigningKey = z.string().transform((s, ctx) => {
  const r = parseSigningKey(s);
  if ('error' in r) {
    ctx.addIssue({ code: 'custom', message: r.error });
    return z.NEVER;
  }
  return r;
});

/** Browser origins (scheme://host[:port]) allowed to call the codec endpoint, comma-separated. */
const origins = z.string().transform((s, ctx) => {
  const out: string[] = [];
  for (const part of s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    let origin: string | null = null;
    try {
      const u = new URL(part);
      if ((u.protocol === 'http:' || u.protocol === 'https:') && u.origin === part.replace(/\/$/, ''))
        origin = u.origin;
    } catch {
      /* reported below */
    }
    if (!origin) {
      ctx.addIssue({
        code: 'custom',
        message: `"${part}" is not an origin such as https://temporal.example.com`,
      });
      return z.NEVER;
    }
    out.push(origin);
  }
  return out;
});

/** A whole number written in decimal digits (an empty or fractional value is refused, not read as 0). */
const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `must be a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, `must be a whole number from ${min} to ${max}`)
        .max(max, `must be a whole number from ${min} to ${max}`),
    );

/** A decimal number ("20", "0.5") within bounds; `message` states them and is the error for any miss. */
const decimalNumber = (message: string, min: { above: number } | { from: number }, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, message)
    .transform(Number)
    .pipe(
      ('above' in min ? z.number().gt(min.above, message) : z.number().min(min.from, message)).max(
        max,
        message,
      ),
    );

/**
 * Defaults of the worker's tuning (docs/runbook.md, "Sizing the worker"). The cache bounds the worker's
 * memory: the SDK's own default (derived from the V8 heap limit: about 2,300 on a 4 GiB heap) let 1,000
 * open offboardings take the worker to 1.13 GiB; with 250 a worker holding 10,000 of them peaked at
 * 984 MiB (`npm run bench -- memory`). Concurrency defaults are the SDK's own.
 */
export const WORKER_TUNING_DEFAULTS = {
  WORKER_MAX_CACHED_WORKFLOWS: 250,
  WORKER_MAX_CONCURRENT_ACTIVITIES: 100,
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: 40,
  WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND: 20,
  WORKER_FOLLOWUP_PARTS_PER_SECOND_WHILE_REVOKING: 1,
  WORKER_FOLLOWUP_MAX_CONCURRENT: 8,
} as const;

/** A setting that no longer exists: set, it stops start-up saying so (it would do nothing). */
function removed() {
  return z
    .undefined({
      error: () =>
        'no longer exists: every worker now plans a local revocation sweep and a first follow-up round; unset it',
    })
    .optional();
}

/** `ip:port` with an IPv4 address or a bracketed IPv6 one (what the Temporal SDK's runtime binds). */
function isSocketAddress(s: string): boolean {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(s);
  if (!m || Number(m[3]) > 65535) return false;
  return m[1] !== undefined ? isIP(m[1]) === 6 : isIP(m[2]!) === 4;
}

/** A comma-separated list, trimmed, empty entries dropped. */
const list = () =>
  z.string().transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  );

/** A rate limit: at most `limit` requests per `windowMs` (fixed windows, counted per API process). */
export interface RateLimit {
  limit: number;
  windowMs: number;
}

const RATE_LIMIT_MESSAGE =
  'must be <requests>/<window> such as 600/1m (1 to 1000000 requests, a window from 1s to 1h), or off';

/** `<requests>/<window>` (e.g. `10/1m`), or `off` (null: not limited here, e.g. limited by the proxy). */
const rateLimit = z
  .string()
  .trim()
  .transform((s, ctx): RateLimit | null => {
    if (s === 'off') return null;
    const m = /^(\d{1,7})\/(\d{1,4})(s|m|h)$/.exec(s);
    const limit = m ? Number(m[1]) : 0;
    const windowMs = m ? Number(m[2]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[3] as 's'] : 0;
    if (!m || limit < 1 || limit > 1_000_000 || windowMs < 1000 || windowMs > 3_600_000) {
      ctx.addIssue({ code: 'custom', message: RATE_LIMIT_MESSAGE });
      return z.NEVER;
    }
    return { limit, windowMs };
  });

/** Defaults of the rate limits (docs/operations.md, "Rate limits"). */
export const RATE_LIMIT_DEFAULTS = {
  /** Per sender address: twice the intake bar (500 events/s) from one HR system, every minute. */
  WEBHOOK_RATE_LIMIT: '60000/1m',
  /** Per client address: sign-in attempts that fail (a wrong or missing token). */
  SIGN_IN_RATE_LIMIT: '10/1m',
  /** Per client address, over every leaver's page (NDA signing, exit survey). */
  PUBLIC_PAGE_RATE_LIMIT: '60/1m',
  /** Per link (its token), whoever opens it. */
  PUBLIC_LINK_RATE_LIMIT: '20/1m',
} as const;

/** Express's named ranges `trust proxy` accepts besides addresses and CIDR ranges. */
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/** An IP address or a CIDR range (`10.0.0.0/8`, `fd00::/8`). */
function isAddressOrRange(s: string): boolean {
  const [ip, bits, ...rest] = s.split('/');
  const v = isIP(ip ?? '');
  if (v === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (v === 4 ? 32 : 128);
}

/**
 * Express's `trust proxy` (whose X-Forwarded-For names the client): `false` (no proxy: the socket's
 * address is the client), a number of proxy hops in front of the API, or the proxies' addresses, CIDR
 * ranges or Express's names (loopback, linklocal, uniquelocal), comma-separated. `true` trusts every
 * hop (any client can then choose its own address): refused with NODE_ENV=production.
 */
export type TrustProxy = boolean | number | string[];

const trustProxy = z
  .string()
  .trim()
  .transform((s, ctx): TrustProxy => {
    if (s === 'false' || s === '' || s === '0') return false;
    if (s === 'true') return true;
    if (/^\d+$/.test(s)) {
      if (Number(s) <= 10) return Number(s);
      ctx.addIssue({ code: 'custom', message: 'a hop count must be from 0 to 10' });
      return z.NEVER;
    }
    const entries = s
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    const bad = entries.find((e) => !PROXY_RANGE_NAMES.includes(e) && !isAddressOrRange(e));
    if (bad !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `"${bad.slice(0, 60)}" is not an IP address, a CIDR range or one of ${PROXY_RANGE_NAMES.join(', ')}; TRUST_PROXY is false, a hop count (e.g. 1) or a comma-separated list of the proxies' addresses`,
      });
      return z.NEVER;
    }
    return entries;
  });

/** An API base URL (http or https; the stand-ins answer on http). */
const apiUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s):// URL' });

/** An HTTP header name. */
const headerName = z.string().regex(/^[A-Za-z0-9-]{1,100}$/, 'must be an HTTP header name');

/** What each HR system's adapter needs when it is listed in HRIS_VENDORS (docs/hris.md). */
export const HRIS_VENDOR_SETTINGS = {
  bamboohr: ['BAMBOOHR_API_URL', 'BAMBOOHR_API_KEY', 'BAMBOOHR_WEBHOOK_KEY'],
  hibob: ['HIBOB_API_URL', 'HIBOB_SERVICE_USER_ID', 'HIBOB_SERVICE_USER_TOKEN', 'HIBOB_WEBHOOK_SECRET'],
  personio: ['PERSONIO_API_URL', 'PERSONIO_CLIENT_ID', 'PERSONIO_CLIENT_SECRET', 'PERSONIO_WEBHOOK_SECRET'],
} as const;

const envFields = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('127.0.0.1'),
  /**
   * Metrics (docs/operations.md, "Metrics"). The API's `GET /metrics` is served on its own listener at
   * METRICS_BIND:METRICS_PORT when METRICS_PORT is set, else on the API's port; with METRICS_TOKEN it
   * asks for `Authorization: Bearer <token>`. With NODE_ENV=production an unprotected `/metrics` is
   * served only on a loopback or private address (config/production.ts `metricsProblems`).
   */
  METRICS_TOKEN: z
    .string()
    .regex(/^[\x21-\x7e]{32,512}$/, 'must be 32 to 512 printable characters without spaces')
    .optional(),
  METRICS_PORT: wholeNumber(0, 65535).optional(),
  METRICS_BIND: z.string().trim().min(1, 'must be an address to listen on').default('127.0.0.1'),
  /**
   * The worker's Temporal SDK metrics for Prometheus (`ip:port`, e.g. 127.0.0.1:9464): served by the
   * SDK's runtime without authentication. Unset: off.
   */
  WORKER_METRICS_BIND: z
    .string()
    .trim()
    .refine(isSocketAddress, 'must be ip:port, e.g. 127.0.0.1:9464 or [::1]:9464')
    .optional(),
  /**
   * OpenTelemetry traces over OTLP/HTTP (lib/tracing.ts): the collector's base URL, the standard
   * variable (the exporter reads the other OTEL_EXPORTER_OTLP_* itself). Unset: no traces.
   */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http(s):// URL' }).optional(),
  /** Public base URL of the API, used in emails and printed links. */
  PUBLIC_URL: z.url().optional(),
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// URL'),
  /**
   * The hot-path statements run as prepared statements, parsed and planned once per connection
   * (lib/db.ts `sql`). `false` for a database whose connections share one session (PGlite over its
   * socket, which `npm start` sets itself) or a pooler that cannot keep them (PgBouncer in transaction
   * mode before 1.21).
   */
  DATABASE_PREPARED_STATEMENTS: z
    .enum(['true', 'false'], 'must be true or false')
    .default('true')
    .transform((v) => v === 'true'),
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TASK_QUEUE: z.string().default('offboarding'),
  TEMPORAL_API_KEY: z.string().optional(),
  TEMPORAL_TLS: z.enum(['true', 'false']).default('false'),
  TEMPORAL_TLS_CERT_FILE: z.string().optional(),
  TEMPORAL_TLS_KEY_FILE: z.string().optional(),
  HRIS_WEBHOOK_SECRET: secretSchema.optional(),
  /** HRIS statuses that confirm a departure and start an offboarding. */
  TRIGGER_STATUSES: z
    .string()
    .default('terminated,resigned_confirmed')
    .transform((s) => s.split(',').map((x) => x.trim()))
    .pipe(z.array(z.enum(['terminated', 'resigned_confirmed'])).min(1)),
  /**
   * HR systems with a native adapter (docs/hris.md), comma-separated: each gets `POST
   * /webhooks/hris/<vendor>` and a reconciliation schedule. Empty: the canonical webhook only.
   */
  HRIS_VENDORS: list()
    .pipe(z.array(z.enum(['bamboohr', 'hibob', 'personio'], 'must be bamboohr, hibob or personio')))
    .default([]),
  /** A vendor delivery whose signed timestamp is further than this from now is refused as stale. */
  HRIS_WEBHOOK_TOLERANCE: duration.default('5m'),
  /** How often each vendor's reconciliation runs (a Temporal schedule per vendor). */
  HRIS_RECONCILE_INTERVAL: duration.default('1h'),
  /**
   * Audit evidence outside the database (lib/audit-export.ts, docs/operations.md): the directory, on
   * write-once storage, the worker writes a signed export of the audit chain's head into every
   * AUDIT_EXPORT_INTERVAL (a Temporal schedule the worker creates). Unset: no export.
   */
  AUDIT_EXPORT_DIR: z.string().trim().min(1, 'must be a directory path').optional(),
  AUDIT_EXPORT_INTERVAL: duration
    .refine((d) => !/^\d+(ms|s|m|h|d)$/.test(d) || durationMs(d) >= 60_000, 'must be at least 1m')
    .default('1h'),
  /** `keyId:base64` of the Ed25519 private key signing the exports (`offboard audit-key` mints one). */
  AUDIT_EXPORT_SIGNING_KEY: auditSigningKey.optional(),
  /** Work locations (as the HR system names them) that mean the employee works remotely. */
  HRIS_REMOTE_LOCATIONS: list().default(['Remote']),
  /** Where HR reads the reconciliation's data-quality report (default: the catalog's HR owner). */
  HRIS_REPORT_TO: z.email().optional(),
  /** e.g. https://api.bamboohr.com/api/gateway.php/<company>/ (the part before `v1/`). */
  BAMBOOHR_API_URL: apiUrl.optional(),
  /** A BambooHR API key (HTTP Basic user name, password `x`). */
  BAMBOOHR_API_KEY: z.string().min(1).optional(),
  /** The webhook's private key BambooHR showed once when the webhook was created. */
  BAMBOOHR_WEBHOOK_KEY: z.string().min(1).optional(),
  /** The employee-files section (category id) the certificate is uploaded to; unset: no write-back. */
  BAMBOOHR_FILE_CATEGORY: z.string().regex(/^\d+$/, 'must be a section (category) id').optional(),
  HIBOB_API_URL: apiUrl.optional(),
  HIBOB_SERVICE_USER_ID: z.string().min(1).optional(),
  HIBOB_SERVICE_USER_TOKEN: z.string().min(1).optional(),
  HIBOB_WEBHOOK_SECRET: z.string().min(1).optional(),
  /**
   * HiBob signs no timestamp: a delivery whose signed `triggeredAt` is older than this is refused as
   * stale. Longer than HiBob's 3 days of retries, so that its own retries are accepted.
   */
  HIBOB_WEBHOOK_MAX_AGE: duration.default('4d'),
  PERSONIO_API_URL: apiUrl.optional(),
  PERSONIO_CLIENT_ID: z.string().min(1).optional(),
  PERSONIO_CLIENT_SECRET: z.string().min(1).optional(),
  PERSONIO_WEBHOOK_SECRET: z.string().min(1).optional(),
  /**
   * Personio documents an HMAC-SHA256 over the request timestamp and body but not the headers that
   * carry them (docs/hris.md): their names, should a delivery show other ones.
   */
  PERSONIO_WEBHOOK_SIGNATURE_HEADER: headerName.default('X-Personio-Signature'),
  PERSONIO_WEBHOOK_TIMESTAMP_HEADER: headerName.default('X-Personio-Timestamp'),
  /** The webhook's `token` (Personio sends it as the `Authorization` header); set: required on every delivery. */
  PERSONIO_WEBHOOK_TOKEN: z.string().min(1).optional(),
  /** The custom attribute holding the private email, e.g. `dynamic_1234567`; unset: none is read. */
  PERSONIO_PERSONAL_EMAIL_ATTRIBUTE: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,63}$/, 'must be an attribute name such as dynamic_1234567')
    .optional(),
  /** The document category (id) the completion certificate is uploaded to; unset: no write-back. */
  PERSONIO_DOCUMENT_CATEGORY: z.string().regex(/^\d+$/, 'must be a document category id').optional(),
  WEBHOOK_MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(10_000_000).default(262_144),
  /**
   * Rate limits (docs/operations.md, "Rate limits"), each `<requests>/<window>` or `off`, counted per
   * client address (see TRUST_PROXY) in each API process. A refused request gets 429 with Retry-After.
   */
  WEBHOOK_RATE_LIMIT: rateLimit.prefault(RATE_LIMIT_DEFAULTS.WEBHOOK_RATE_LIMIT),
  SIGN_IN_RATE_LIMIT: rateLimit.prefault(RATE_LIMIT_DEFAULTS.SIGN_IN_RATE_LIMIT),
  PUBLIC_PAGE_RATE_LIMIT: rateLimit.prefault(RATE_LIMIT_DEFAULTS.PUBLIC_PAGE_RATE_LIMIT),
  PUBLIC_LINK_RATE_LIMIT: rateLimit.prefault(RATE_LIMIT_DEFAULTS.PUBLIC_LINK_RATE_LIMIT),
  /**
   * The proxies in front of the API (e.g. Caddy in temporal-docker), so that the client address rate
   * limits count by is the real one: false (default, none), a hop count, or their addresses/ranges.
   */
  TRUST_PROXY: trustProxy.default(false),
  /**
   * Refused webhook deliveries (bad signature, stale, replayed, unreadable, unknown sender) are counted
   * per sender, reason and hour (RejectedDelivery); only the first this many of each hour are also kept
   * as TriggerEvent rows (without their body) for forensics. 0: none.
   */
  REJECTED_SAMPLES_PER_HOUR: wholeNumber(0, 10_000).default(20),
  CATALOG_FILE: z.string().default('config/catalog.demo.yaml'),
  /**
   * A workflow bundle built ahead of time (bundleWorkflowCode, with `failureConverterPath` from
   * lib/codec.ts); otherwise the worker bundles at start.
   */
  WORKFLOW_BUNDLE: z.string().optional(),
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL')
    .default('smtp://127.0.0.1:1025'),
  MAIL_FROM: z.string().default('Offboard <offboard@localhost>'),
  OPERATOR_TOKENS: operatorTokens.default([]),
  /** How often the dispatcher retries starting accepted-but-not-started departures. */
  DISPATCH_INTERVAL: duration.default('2s'),
  /**
   * Workflow starts intake makes while answering, at once. Beyond that (a burst) an accepted departure
   * is answered "queued" at once and the dispatcher, woken, starts it in the background.
   */
  INTAKE_MAX_INLINE_STARTS: wholeNumber(0, 1_000).default(8),
  /** Workflow starts one dispatcher pass makes at once. */
  DISPATCH_CONCURRENCY: wholeNumber(1, 1_000).default(16),
  /**
   * Payload encryption keys (see lib/codec.ts). Required in production; without them (development,
   * tests that opt out) payloads go to Temporal unencrypted. `npm start` generates one.
   */
  PAYLOAD_CODEC_KEYS: codecKeys.optional(),
  /** Origins of the Temporal Web UI allowed to call `/codec/*` from the browser. */
  CODEC_CORS_ORIGINS: origins.default(['http://127.0.0.1:8233', 'http://localhost:8233']),
  /**
   * Offboardings whose workflow state the worker keeps in memory between tasks (Temporal
   * `maxCachedWorkflows`): 0 turns the cache off (every task replays the history), otherwise at least 2.
   * Bounds the worker's memory whatever the number of open offboardings; one evicted is replayed from
   * its history at its next task.
   */
  WORKER_MAX_CACHED_WORKFLOWS: wholeNumber(0, 100_000)
    .refine((n) => n !== 1, 'must be 0 (no cache) or at least 2')
    .default(WORKER_TUNING_DEFAULTS.WORKER_MAX_CACHED_WORKFLOWS),
  /**
   * Activities the worker runs at once on the main task queue (`maxConcurrentActivityTaskExecutions`).
   * Systems with a catalog `rateLimit` run on their own queues with limits derived from it.
   */
  WORKER_MAX_CONCURRENT_ACTIVITIES: wholeNumber(1, 10_000).default(
    WORKER_TUNING_DEFAULTS.WORKER_MAX_CONCURRENT_ACTIVITIES,
  ),
  /**
   * Workflow tasks the worker runs at once (`maxConcurrentWorkflowTaskExecutions`): at least 2, and
   * no more than WORKER_MAX_CACHED_WORKFLOWS while the cache is on.
   */
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: wholeNumber(2, 10_000).default(
    WORKER_TUNING_DEFAULTS.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
  ),
  /**
   * Follow-up activities (asset recovery, documents, notifications) this worker starts per second at
   * most; the parts of a first round take their turns at the same pace. Revocations are not paced; in a burst of departures (a layoff) the paperwork queues in
   * Temporal and catches up afterwards, instead of taking the CPU the revocations need.
   */
  WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND: decimalNumber(
    'must be a number above 0, up to 10000 (e.g. 20 or 0.5)',
    { above: 0 },
    10_000,
  ).default(WORKER_TUNING_DEFAULTS.WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND),
  /**
   * Revocations first: while this worker has revocation work in flight (and for 2 s after), the parts of
   * first follow-up rounds take their turns at this pace instead (the lower of this and
   * WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND applies). In a layoff the paperwork then leaves the machine to
   * the revocations and catches up after them; a lone departure's paperwork starts after its own
   * revocations anyway. At least 0.5, so that a round (about ten parts, eight rounds at once) stays
   * well inside its 10-minute limit. Set it to the follow-up pace to turn the priority off.
   */
  WORKER_FOLLOWUP_PARTS_PER_SECOND_WHILE_REVOKING: decimalNumber(
    'must be a number from 0.5 up to 10000 (e.g. 1 or 2.5)',
    { from: 0.5 },
    10_000,
  ).default(WORKER_TUNING_DEFAULTS.WORKER_FOLLOWUP_PARTS_PER_SECOND_WHILE_REVOKING),
  /** Follow-up activities this worker runs at once. */
  WORKER_FOLLOWUP_MAX_CONCURRENT: wholeNumber(1, 10_000).default(
    WORKER_TUNING_DEFAULTS.WORKER_FOLLOWUP_MAX_CONCURRENT,
  ),
  // Removed 2026-12-07: every worker plans one way (a local sweep per pass, then the first follow-up
  // round); offboardings planned otherwise by older workers still run their way (docs/versioning.md).
  WORKER_LOCAL_REVOCATION: removed(),
  WORKER_REVOCATION_SWEEP: removed(),
  WORKER_REVOCATION_SWEEP_LOCAL: removed(),
  WORKER_FOLLOWUP_FIRST_ROUND: removed(),
  /**
   * The SDK's workflow stack traces (the Web UI's "Stack Trace" tab, `temporal workflow stack`). Their
   * promise hook builds an Error and a source-mapped stack for every promise of workflow code: about
   * half the workflow thread's CPU (temporalio/sdk-typescript#1587; patches/@temporalio+worker*.patch).
   * Off by default; `true` while looking into a stuck offboarding (restart the worker).
   */
  WORKER_WORKFLOW_STACK_TRACES: z
    .enum(['true', 'false'], 'must be true or false')
    .default('false')
    .transform((v) => v === 'true'),
});

/** The configuration schema: the fields, plus what depends on more than one of them. */
export const envSchema = envFields.superRefine((c, ctx) => {
  if (c.NODE_ENV === 'production' && !c.PAYLOAD_CODEC_KEYS)
    ctx.addIssue({
      code: 'custom',
      path: ['PAYLOAD_CODEC_KEYS'],
      message: 'is required when NODE_ENV=production (keyId:base64 of 32 bytes, comma-separated)',
    });
  for (const vendor of Array.isArray(c.HRIS_VENDORS) ? c.HRIS_VENDORS : [])
    for (const field of HRIS_VENDOR_SETTINGS[vendor])
      if (!c[field])
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `is required when HRIS_VENDORS lists ${vendor}`,
        });
  // Only when both are valid on their own (zod runs this refinement after field issues too).
  const cache = c.WORKER_MAX_CACHED_WORKFLOWS;
  if (Number.isInteger(cache) && cache >= 2 && c.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS > cache)
    ctx.addIssue({
      code: 'custom',
      path: ['WORKER_MAX_CONCURRENT_WORKFLOW_TASKS'],
      message: `must not exceed WORKER_MAX_CACHED_WORKFLOWS (${c.WORKER_MAX_CACHED_WORKFLOWS}) while the cache is on`,
    });
});

export type AppConfig = z.infer<typeof envSchema>;

/**
 * The production guards (config/production.ts): with NODE_ENV=production, refuse a stand-in catalog,
 * secrets `npm start` generated or the stand-ins' demo credentials, a PUBLIC_URL that is not https, and
 * an audit export without its signing key.
 * (PAYLOAD_CODEC_KEYS is required by the schema itself.)
 */
function productionProblems(c: AppConfig, env: NodeJS.ProcessEnv): GuardProblem[] {
  const problems: GuardProblem[] = [];
  if (env.CATALOG_FILE === undefined || env.CATALOG_FILE.trim() === '')
    problems.push({
      field: 'CATALOG_FILE',
      message: 'is required when NODE_ENV=production (the default is the demo catalog of stand-ins)',
    });
  else
    for (const m of standInCatalogProblems(c.CATALOG_FILE))
      problems.push({ field: 'CATALOG_FILE', message: `is a stand-in catalog: ${m}` });
  // `npm start`'s data folders: the one it was told to use, and the repository's own.
  const dataDirs = new Set([
    path.resolve(env.OFFBOARD_DATA_DIR ?? '.data'),
    path.resolve(__dirname, '..', '.data'),
  ]);
  const settings = {
    HRIS_WEBHOOK_SECRET: c.HRIS_WEBHOOK_SECRET,
    codecKeys: (c.PAYLOAD_CODEC_KEYS ?? []).map((k) => k.key.toString('base64')),
    operatorTokenHashes: c.OPERATOR_TOKENS,
    auditSigningKey: c.AUDIT_EXPORT_SIGNING_KEY ? signingKeySeed(c.AUDIT_EXPORT_SIGNING_KEY) : undefined,
  };
  const sha256 = (t: string) => createHash('sha256').update(t, 'utf8').digest('hex');
  for (const dir of dataDirs)
    problems.push(...generatedSecretProblems(settings, {}, readGeneratedSecrets(dir), sha256));
  problems.push(...generatedSecretProblems(settings, env, null, sha256));
  problems.push(...publicUrlProblems(c.PUBLIC_URL));
  problems.push(...auditExportProblems(c.AUDIT_EXPORT_DIR, c.AUDIT_EXPORT_SIGNING_KEY));
  problems.push(...metricsProblems(c));
  problems.push(...trustProxyProblems(c.TRUST_PROXY));
  // One line per problem, even when two data folders hold the same secrets.
  return problems.filter(
    (p, i) => problems.findIndex((q) => q.field === p.field && q.message === p.message) === i,
  );
}

/** Parses the environment; throws an AppError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const r = envSchema.safeParse(env);
  const lines = r.success ? [] : r.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
  if (r.success && r.data.NODE_ENV === 'production')
    for (const p of productionProblems(r.data, env)) lines.push(`  ${p.field}: ${p.message}`);
  if (!r.success || lines.length > 0)
    throw new AppError('config_invalid', `Invalid configuration:\n${lines.join('\n')}`);
  if (r.data.NODE_ENV === 'production')
    return { ...r.data, OPERATOR_TOKENS: r.data.OPERATOR_TOKENS.map((t) => ({ ...t, mintedOnly: true })) };
  return r.data;
}

/** Milliseconds of a duration string such as "30s". */
export function durationMs(d: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(d);
  if (!m) throw new AppError('config_invalid', `not a duration: ${d}`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms'];
  return n * unit;
}
