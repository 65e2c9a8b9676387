/**
 * The OpenAPI 3.1 description of every route the API serves, at `GET /openapi.json` (no token: it
 * describes the API, it holds no data).
 *
 * Request bodies, query parameters and headers are converted from the very zod schemas the routes
 * validate with (`z.toJSONSchema`, input side), so the description cannot drift from the validation.
 * Response bodies are written here with zod too; those mirroring a TypeScript type of the server
 * (`DepartureView`, `StepView`, `VerificationView`, `IntakeAnswer`, ...) are checked against it at
 * compile time. Error answers take their codes from `httpStatusFor`, the one place codes become
 * statuses. test/openapi.test.ts holds the description against the Express app: every route documented,
 * every documented operation served, and the real answers carrying documented statuses and shapes.
 * test/roles.e2e.test.ts calls every operator operation with each role against the documented `x-roles`.
 *
 * Built lazily on first use (server/app.ts imports this module and this module imports its schemas).
 */
import { z } from 'zod';
import {
  ARCHIVE_STATUSES,
  ASSET_RECOVERY_STATUSES,
  ASSET_ROUTES,
  DOCUMENT_STATUSES,
  DOCUMENT_TYPES,
  REVOCATION_TIERS,
  RESOLUTION_KINDS,
  SIGNOFF_ROLES,
  STEP_KINDS,
  type AcknowledgeResult,
  type Acknowledgment,
  type AccessAudit,
  type AssetView,
  type DocumentView,
  type ReportItem,
  type Resolution,
  type StepView,
  type MatchEvidence,
  type VerificationView,
} from '../contract';
import { CONSENT_KINDS, type ConsentRow } from '../contract/consents';
import { httpStatusFor, type ErrorCode } from '../lib/errors';
import {
  acknowledgeBody,
  archiveConfirmedBody,
  assetReceivedBody,
  departureListQuery,
  redriveBody,
  rescindBody,
  resolveBody,
  ticketConfirmBody,
  accountBody,
  approveBody,
} from './schemas';
import { codecBody } from './codec';
import type { DepartureView } from './departures';
import { hrisEventSchema } from './hris';
import type { IntakeAnswer } from './intake';
import { idempotencyKeyHeader } from './operator-start';
import { LEAVING_REASONS, signForm, surveyForm } from './public-pages';
import type { Operator, Role } from './auth';
import { WORKFLOW_STATES } from './workflow-state';

export const OPENAPI_PATH = '/openapi.json';

type Json = Record<string, unknown>;
type Method = 'get' | 'post';

// ------------------------------------------------------------------ errors

/** Every error code, exhaustively (a new `ErrorCode` fails to compile until it is listed here). */
const ERROR_CODES = [
  'config_invalid',
  'catalog_invalid',
  'bad_request',
  'validation_failed',
  'payload_too_large',
  'unsupported_media_type',
  'signature_invalid',
  'unauthenticated',
  'forbidden',
  'not_found',
  'method_not_allowed',
  'conflict',
  'unprocessable',
  'gone',
  'rate_limited',
  'unavailable',
  'internal',
] as const satisfies readonly ErrorCode[];
const _everyErrorCode: Exclude<ErrorCode, (typeof ERROR_CODES)[number]> extends never ? true : never = true;

/** The error codes answered with an HTTP status (from `httpStatusFor`). */
export function errorCodesFor(status: number): ErrorCode[] {
  return ERROR_CODES.filter((c) => httpStatusFor(c) === status);
}

const ERROR_STATUSES = [...new Set(ERROR_CODES.map(httpStatusFor))].sort((a, b) => a - b);

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad request: the body, query or a header is invalid (`fields` names each one)',
  401: 'Unauthenticated',
  403: 'Forbidden',
  404: 'Not found',
  405: 'Method not allowed on this path (`Allow` names those that are)',
  409: 'Conflict with the current state',
  410: 'Gone',
  413: 'Body too large',
  415: 'Unsupported media type',
  422: 'Unprocessable: well-formed, but the current state cannot accept it (reason in `message`)',
  429: 'Too many requests from this client (or for this link): retry after `Retry-After` seconds',
  500: 'Internal error',
  503: 'Unavailable; retry later',
};

const fieldErrorSchema = z
  .object({
    field: z.string().meta({ description: 'Path of the field (`employee.workEmail`), or `(body)`' }),
    message: z.string(),
  })
  .meta({ title: 'FieldError' });

/** `{ "error": { "code", "message", "fields"? } }`, the one error shape of every JSON route. */
const errorSchema = (codes: readonly ErrorCode[]) =>
  z.object({
    error: z
      .object({
        code: z.enum(codes as [ErrorCode, ...ErrorCode[]]),
        message: z.string(),
        fields: z.array(fieldErrorSchema).optional(),
      })
      .loose(),
  });

// ------------------------------------------------------------------ response bodies

const instant = z.iso.datetime({ offset: true });
const healthSchema = z.object({
  status: z.enum(['ok', 'degraded']),
  database: z.string().meta({ description: '`ok`, or `unreachable: <reason>`' }),
  temporal: z.string().meta({ description: '`ok`, or `unreachable: <reason>`' }),
});

const intakeAccepted = z.object({
  departureId: z.string(),
  workflowId: z.string(),
  action: z.enum(['started', 'duplicate', 'queued', 'updated', 'rescinded', 'held']),
  reason: z
    .string()
    .optional()
    .meta({ description: '`held`: why a second operator must approve it before anything starts' }),
});
const intakeIgnored = z.object({ action: z.literal('ignored'), reason: z.string() });
const _intakeAnswers: [
  Same<z.output<typeof intakeAccepted>, Extract<IntakeAnswer, { status: 202 }>['body']>,
  Same<z.output<typeof intakeIgnored>, Extract<IntakeAnswer, { status: 200 }>['body']>,
] = [true, true];

const departureSummary = z.object({
  id: z.string(),
  employeeId: z.string(),
  employeeName: z.string(),
  department: z.string(),
  status: z.string(),
  redSteps: z.number().int(),
  redItems: z.number().int().meta({
    description: 'Red verification-report items nobody has resolved (e.g. an account still active)',
  }),
  workflowId: z.string(),
  createdAt: instant,
});

const accountRef = z.object({ id: z.string(), name: z.string() });
const matchEvidence = z
  .object({
    outcome: z.enum(['found', 'not_found', 'ambiguous', 'protected']).meta({
      description:
        '`found`: one account, acted on; `not_found`: no key found one; `ambiguous`: two or more accounts ' +
        '(nothing changed); `protected`: a protected account (nothing changed)',
    }),
    by: z.string().nullable().meta({ description: 'The key that found the account (`known account id`)' }),
    account: accountRef.nullable(),
    keys: z
      .array(z.object({ key: z.string(), value: z.string(), found: z.array(accountRef) }))
      .meta({ description: 'Every key searched, in order, with what it found' }),
    candidates: z.array(accountRef),
    protectedBy: z.string().nullable(),
  })
  .meta({ title: 'MatchEvidence' });
const _matchEvidence: Same<z.output<typeof matchEvidence>, MatchEvidence> = true;

const stepView = z.object({
  stepId: z.string(),
  kind: z.enum(STEP_KINDS),
  systemId: z.string(),
  systemName: z.string(),
  tier: z.enum(REVOCATION_TIERS),
  action: z.string(),
  integration: z.enum(['api', 'ticket', 'manual']),
  executingSystem: z.string(),
  status: z.enum(['pending', 'running', 'green', 'yellow', 'red', 'halted']),
  attempts: z.number().int(),
  startedAt: instant.nullable(),
  actedAt: instant.nullable(),
  confirmedAt: instant.nullable(),
  finishedAt: instant.nullable(),
  lastError: z.string().nullable(),
  detail: z.string().nullable(),
  ticketId: z.string().nullable(),
  privileged: z.boolean(),
  scheduledFor: instant.nullable().meta({ description: 'For a step held back by a notice period' }),
  match: matchEvidence
    .nullable()
    .optional()
    .meta({ description: "How the leaver's account was found (API steps that have run)" }),
});
const _stepView: Same<z.output<typeof stepView>, StepView> = true;

const assetView = z.object({
  recoveryId: z.string(),
  assetTag: z.string(),
  assetName: z.string(),
  route: z.enum(ASSET_ROUTES),
  status: z.enum([...ASSET_RECOVERY_STATUSES, 'failed']),
  dueAt: instant.meta({ description: 'End of the return window: then the IT owner is told' }),
  secondDueAt: instant.meta({ description: 'End of the second window: then the department head is told' }),
  receivedAt: instant.nullable(),
  lastError: z.string().nullable(),
});
const _assetView: Same<z.output<typeof assetView>, AssetView> = true;

const documentStatus = z.enum([...DOCUMENT_STATUSES, 'failed']);
const _documentStatus: Same<z.output<typeof documentStatus>, DocumentView['status']> = true;

/** A document as `GET /departures/{id}` shows it. */
const documentState = z.object({
  type: z.enum(DOCUMENT_TYPES),
  status: documentStatus,
  updatedAt: instant,
  sha256: z
    .string()
    .optional()
    .meta({ description: 'SHA-256 (hex) of the stored document, once there is one' }),
});
const _documentState: Same<
  z.output<typeof documentState>,
  Pick<DocumentView, 'type' | 'status' | 'updatedAt' | 'sha256'>
> = true;

const reportColour = z.enum(['green', 'yellow', 'red']);
const reportItem = z.object({
  itemId: z
    .string()
    .meta({ description: '`step:<stepId>`, `asset:<tag>`, `document:<type>` or `access:<systemId>`' }),
  kind: z.enum(['step', 'asset', 'document', 'access']),
  label: z.string(),
  reportColour: reportColour.meta({ description: 'Colour when the report was compiled' }),
  colour: reportColour.meta({ description: 'Colour now' }),
  detail: z.string().nullable(),
});
const _reportItem: Same<z.output<typeof reportItem>, ReportItem> = true;

const acknowledgment = z.object({
  role: z.enum(SIGNOFF_ROLES),
  by: z.string(),
  at: instant,
  note: z.string().nullable(),
});
const _acknowledgment: Same<z.output<typeof acknowledgment>, Acknowledgment> = true;

const resolution = z.object({
  itemId: z.string(),
  how: z.enum(RESOLUTION_KINDS),
  note: z.string(),
  by: z.string(),
  role: z.string(),
  at: instant,
});
const _resolution: Same<z.output<typeof resolution>, Resolution> = true;

const accessAudit = z.object({
  at: instant,
  rows: z.array(
    z.object({
      systemId: z.string(),
      systemName: z.string(),
      active: z.enum(['yes', 'no', 'error']).meta({
        description: '`yes`: still active (red); `no`: none or disabled; `error`: could not be checked',
      }),
      detail: z.string().nullable(),
      accounts: z
        .array(z.object({ id: z.string(), name: z.string(), by: z.array(z.string()), why: z.string() }))
        .optional()
        .meta({ description: 'The accounts still giving access, with the keys that found them' }),
    }),
  ),
});
const _accessAudit: Same<z.output<typeof accessAudit>, AccessAudit> = true;

const verificationView = z.object({
  reportAt: instant.meta({ description: 'When the report is (or was) compiled' }),
  redEscalationAt: instant.meta({ description: 'When an unresolved red escalates to the department head' }),
  report: z
    .object({
      reportId: z.string(),
      compiledAt: instant,
      ackDueAt: instant.meta({
        description: 'Acknowledgments are due by then; reminders and escalation after',
      }),
      items: z.array(reportItem),
    })
    .nullable(),
  reportAudit: accessAudit.nullable().meta({ description: 'The live access audit run for the report' }),
  acknowledgments: z.object({ hr: acknowledgment.nullable(), it: acknowledgment.nullable() }),
  nextReminderAt: instant.nullable(),
  reminders: z.number().int(),
  ackEscalated: z.boolean(),
  redEscalated: z.boolean(),
  resolutions: z.array(resolution),
  finalAudit: accessAudit
    .nullable()
    .meta({ description: 'The live access audit run once everything else was signed off' }),
  unresolved: z.array(z.string()).meta({ description: 'Item ids that still need a resolution' }),
  outstanding: z
    .array(z.string())
    .meta({ description: 'What still stands between the departure and "done", in words' }),
  done: z.boolean(),
});
const _verificationView: Same<z.output<typeof verificationView>, VerificationView> = true;

/** A third-party app the leaver authorised, from an identity-provider step's evidence. */
const consentRow = z
  .object({
    appId: z.string().meta({ description: 'Entra appId, Okta or Google OAuth client id, Keycloak clientId' }),
    name: z.string(),
    scopes: z.array(z.string()),
    kind: z.enum(CONSENT_KINDS),
    stepId: z.string(),
    systemId: z.string().meta({ description: 'The catalog system whose identity provider held the consent' }),
    systemName: z.string(),
    coveredBy: z.string().nullable().meta({
      description:
        'The catalog system covering the app, `knownApps` (catalog allow list), or null: shadow IT',
    }),
    revoked: z.boolean(),
  })
  .meta({ title: 'ConsentRow' });
const _consentRow: Same<z.output<typeof consentRow>, ConsentRow> = true;

const departureView = z.object({
  departure: z.object({
    id: z.string(),
    employeeId: z.string(),
    employeeName: z.string(),
    workEmail: z.string(),
    department: z.string(),
    workLocation: z.string(),
    terminationType: z.string(),
    confirmedAt: instant,
    lastDay: z.iso.date().nullable(),
    status: z.string(),
    workflowId: z.string(),
    workflowStartedAt: instant.nullable(),
    lastStartError: z.string().nullable(),
    redSteps: z.number().int(),
    revokeRestAt: instant.nullable(),
    rescindedAt: instant.nullable(),
    createdAt: instant,
    accounts: z
      .record(z.string(), z.string())
      .meta({ description: 'Account ids named per catalog system; they win over every matching key' }),
    submittedBy: z.string().nullable(),
    approvalReason: z
      .string()
      .nullable()
      .meta({ description: 'Status awaiting_approval: why a second operator must approve it' }),
    approvedBy: z.string().nullable(),
    approvedAt: instant.nullable(),
  }),
  workflow: z.object({
    phase: z.string().nullable(),
    reachable: z.boolean(),
    status: z.string().nullable().meta({ description: 'Execution status of the current run' }),
    runId: z.string().nullable(),
  }),
  reviews: z.array(
    z.object({
      id: z.string(),
      kind: z.string(),
      status: z.string(),
      openedBy: z.string(),
      summary: z.unknown(),
      createdAt: instant,
    }),
  ),
  steps: z.array(stepView),
  assets: z
    .array(assetView)
    .meta({ description: 'Asset recovery, one entry per asset (empty when the workflow does not answer)' }),
  documents: z.array(documentState),
  archives: z
    .array(
      z.object({
        sourceId: z.string(),
        sourceName: z.string(),
        status: z.enum(ARCHIVE_STATUSES),
        retentionPolicy: z.string(),
        location: z.string().nullable(),
        items: z.number().int().nullable(),
        archivedAt: instant.nullable(),
      }),
    )
    .meta({
      description:
        "The leaver's data archives, one per data source; `pending` ones wait for their owner's word",
    }),
  consents: z.array(consentRow).meta({
    description:
      'Third-party apps the leaver authorised, revoked by the identity-provider steps (shadow IT: `coveredBy` null)',
  }),
  verification: verificationView.nullable().meta({
    description:
      'The verification checkpoint: report, acknowledgments, resolutions and what is outstanding; null before it exists',
  }),
  source: z.enum(['workflow', 'database']),
});
const _departureView: Same<z.output<typeof departureView>, DepartureView> = true;

const acknowledged = z.object({
  departureId: z.string(),
  acknowledgment,
  alreadyAcknowledged: z
    .boolean()
    .meta({ description: 'This role had acknowledged already: the first acknowledgment stands (answered)' }),
});
const _acknowledged: Same<z.output<typeof acknowledged>, { departureId: string } & AcknowledgeResult> = true;

const resolved = z.object({ departureId: z.string(), resolution });
const _resolved: Same<z.output<typeof resolved>, { departureId: string; resolution: Resolution }> = true;

/** Every operator role, exhaustively. */
const ROLES = ['hr', 'it', 'itdesk', 'admin'] as const satisfies readonly Role[];
const _everyRole: Exclude<Role, (typeof ROLES)[number]> extends never ? true : never = true;
const me = z.object({ name: z.string(), role: z.enum(ROLES) });
const _me: Same<z.output<typeof me>, Operator> = true;

const documentEntry = z.object({
  type: z.enum(DOCUMENT_TYPES),
  status: documentStatus,
  sha256: z.string().nullable(),
  contentType: z.string().nullable(),
  issuedAt: instant.nullable(),
  completedAt: instant.nullable(),
  storageLocation: z
    .string()
    .nullable()
    .meta({ description: '`db:Document/<id>` (stored with the departure) or an external URI' }),
  downloadable: z.boolean().meta({ description: 'The bytes are stored here and can be downloaded (`href`)' }),
  href: z.string().nullable(),
});
const documentList = z.object({ departureId: z.string(), documents: z.array(documentEntry) });

const base64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/);
const codecAnswer = z.object({
  payloads: z.array(z.object({ metadata: z.record(z.string(), base64), data: base64 })),
});

/** The operator's `POST /departures` body: the canonical event's parts (test: same keys as the route's). */
const h = hrisEventSchema.shape;
export const operatorDepartureDoc = z
  .object({
    employee: h.employee,
    termination: h.termination.unwrap().unwrap(),
    status: h.status.optional().meta({
      description:
        'A status that starts an offboarding (TRIGGER_STATUSES); default `terminated` for an involuntary ' +
        'and `resigned_confirmed` for a voluntary termination',
    }),
    occurredAt: h.occurredAt.optional().meta({ description: 'Default: when the API received it' }),
  })
  .strict();

// ------------------------------------------------------------------ helpers

/** Two types are the same (each assignable to the other). */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/** A zod schema as an OpenAPI 3.1 schema object (JSON Schema 2020-12). */
function schema(s: z.ZodType, io: 'input' | 'output' = 'input'): Json {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'throw' }) as Json;
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (s: Json) => ({ 'application/json': { schema: s } });
const htmlPage = { 'text/html': { schema: { type: 'string' } } };
const ok = (description: string, s: Json) => ({ description, content: json(s) });

/** A JSON error answer (components/responses). */
const err = (status: number) => ({ $ref: `#/components/responses/Error${status}` });
/** An HTML error page (the public pages answer errors as pages). */
const errPage = (status: number, description: string) => ({ description, content: htmlPage });

interface OperationSpec {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  /** Operator roles admitted (`admin` too unless `adminRefused`); absent: no operator token. */
  roles?: Exclude<Role, 'admin'>[];
  /**
   * Why `admin` is NOT admitted (the route uses `requireRole.only`): exactly `roles`, e.g. a sign-off
   * that is personal to a function. Shown in the description and as `x-admin-refused: true`.
   */
  adminRefused?: string;
  /** Other ways in, e.g. the codec session cookie. */
  alsoSecurity?: Json[];
  parameters?: Json[];
  requestBody?: Json;
  responses: Record<string, Json>;
}

function operation(spec: OperationSpec): Json {
  const { roles, adminRefused, alsoSecurity, description, ...rest } = spec;
  const out: Json = { ...rest };
  if (adminRefused && !roles) throw new Error(`${spec.operationId}: adminRefused without roles`);
  if (roles) {
    const all: Role[] = adminRefused ? [...roles] : [...roles, 'admin'];
    out.description = [
      `Roles: ${all.join(', ')}.`,
      adminRefused ? `Not admin: ${adminRefused}.` : null,
      description,
    ]
      .filter(Boolean)
      .join(' ');
    out['x-roles'] = all;
    if (adminRefused) out['x-admin-refused'] = true;
    out.security = [{ bearerAuth: [] }, ...(alsoSecurity ?? [])];
    out.responses = { ...spec.responses, 401: err(401), 403: err(403) };
  } else {
    if (description) out.description = description;
    out.security = alsoSecurity ?? [];
  }
  out.responses = Object.fromEntries(
    Object.entries(out.responses as Record<string, Json>).sort(([a], [b]) => a.localeCompare(b)),
  );
  return out;
}

const pathParam = (name: string, description: string, extra: Json = {}) => ({
  name,
  in: 'path',
  required: true,
  description,
  schema: { type: 'string', ...extra },
});

/** Query parameters from a zod object (each property one parameter). */
function queryParams(s: z.ZodObject, descriptions: Record<string, string>): Json[] {
  const js = schema(s) as { properties: Record<string, Json>; required?: string[] };
  return Object.entries(js.properties).map(([name, p]) => ({
    name,
    in: 'query',
    required: js.required?.includes(name) ?? false,
    ...(descriptions[name] ? { description: descriptions[name] } : {}),
    schema: p,
  }));
}

const formBody = (name: string, description: string) => ({
  required: true,
  description,
  content: { 'application/x-www-form-urlencoded': { schema: ref(name) } },
});
const jsonBody = (name: string, description?: string) => ({
  required: true,
  ...(description ? { description } : {}),
  content: json(ref(name)),
});

// ------------------------------------------------------------------ the document

function build(): Json {
  const idParam = pathParam('id', 'Departure id (`dep_…`)');
  const tokenParam = pathParam('token', 'The single-use token of the link sent to the leaver', {
    pattern: '^[A-Za-z0-9_-]{43}$',
  });
  const retryAfter = {
    'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'string' } },
  };
  const unavailableRetry = {
    description: STATUS_TEXT[503],
    headers: retryAfter,
    content: json(ref('Error503')),
  };
  /** Past a rate limit (server/rate-limits.ts, docs/operations.md "Rate limits"). */
  const rateLimited = (what: string) => ({
    description: `${STATUS_TEXT[429]}. ${what}`,
    headers: retryAfter,
    content: json(ref('Error429')),
  });
  const pageRateLimited = {
    description: `${STATUS_TEXT[429]}. PUBLIC_PAGE_RATE_LIMIT per address, PUBLIC_LINK_RATE_LIMIT per link`,
    headers: retryAfter,
    content: htmlPage,
  };
  const codecResponses = (direction: string) => ({
    200: ok(`The payloads, ${direction}d, in the same order`, ref('CodecPayloads')),
    400: err(400),
    413: err(413),
    500: err(500),
    503: err(503),
  });
  const webhookHeaders = [
    {
      name: 'webhook-id',
      in: 'header',
      required: true,
      description:
        'Unique id of the delivery; the idempotency key (a redelivery gets the first answer); longer than ' +
        '200 characters: 400',
      schema: { type: 'string', minLength: 1, maxLength: 200 },
    },
    {
      name: 'webhook-timestamp',
      in: 'header',
      required: true,
      description: 'Unix seconds; refused when more than 5 minutes old or ahead',
      schema: { type: 'string', pattern: '^[0-9]+$' },
    },
    {
      name: 'webhook-signature',
      in: 'header',
      required: true,
      description:
        'Space-separated `v1,<base64 HMAC-SHA256>` entries (several while keys rotate) over ' +
        '`<webhook-id>.<webhook-timestamp>.<raw body>`, keyed with HRIS_WEBHOOK_SECRET (`whsec_<base64 key>`); ' +
        'compared in constant time',
      schema: { type: 'string', pattern: '^v1,[A-Za-z0-9+/=]+( v1,[A-Za-z0-9+/=]+)*$' },
    },
  ];

  const paths: Record<string, Partial<Record<Method, Json>>> = {
    '/health': {
      get: operation({
        operationId: 'health',
        summary: 'Liveness and readiness',
        description: '200 only when PostgreSQL and Temporal both answer.',
        tags: ['meta'],
        responses: {
          200: ok('Database and Temporal answer', ref('Health')),
          503: ok('One of them does not answer (named)', ref('Health')),
        },
      }),
    },
    [OPENAPI_PATH]: {
      get: operation({
        operationId: 'openApiDocument',
        summary: 'This description (OpenAPI 3.1)',
        tags: ['meta'],
        responses: {
          200: ok('The OpenAPI document', {
            type: 'object',
            required: ['openapi', 'info', 'paths'],
            properties: {
              openapi: { type: 'string', pattern: '^3\\.1\\.' },
              info: { type: 'object' },
              paths: { type: 'object' },
            },
          }),
        },
      }),
    },
    '/webhooks/hris': {
      post: operation({
        operationId: 'receiveHrisEvent',
        summary: 'HRIS webhook (Standard Webhooks signature)',
        description:
          'Signed per Standard Webhooks (see docs/api.md "Webhook contract"). Every signed delivery is logged ' +
          'with its receive time, signature result and outcome before it is answered; an unsigned refusal is ' +
          'counted per hour (RejectedDelivery; the first REJECTED_SAMPLES_PER_HOUR kept as samples, never the ' +
          'body). An accepted event is stored ' +
          'before the answer and started later if Temporal is down (`queued`). Bad input is never a 5xx. ' +
          'Body limit WEBHOOK_MAX_BODY_BYTES (default 256 KiB).',
        tags: ['webhook'],
        parameters: webhookHeaders,
        requestBody: {
          required: true,
          content: { 'application/json': { schema: ref('HrisEvent') } },
        },
        responses: {
          200: ok(
            'A status that starts nothing (`pending_resignation`, `active`, …): logged and ignored',
            ref('IntakeIgnored'),
          ),
          202: ok(
            'A trigger status: started, queued, duplicate, updated (last day moved) or rescinded',
            ref('IntakeAccepted'),
          ),
          400: err(400),
          401: { ...err(401), description: 'Missing headers, bad signature, stale or future timestamp' },
          409: err(409),
          413: err(413),
          415: err(415),
          429: rateLimited(
            'WEBHOOK_RATE_LIMIT per sender address; nothing was read, deliver again after Retry-After',
          ),
          500: err(500),
          503: unavailableRetry,
        },
      }),
    },
    '/webhooks/hris/{vendor}': {
      post: operation({
        operationId: 'receiveVendorHrisEvent',
        summary: "An HR system's own webhook (BambooHR, …), verified with its own signature",
        description:
          'One endpoint per HR system listed in HRIS_VENDORS (docs/hris.md): the vendor signature is ' +
          'verified over the raw body; a forged, stale or replayed delivery is refused and counted per hour ' +
          '(the first few kept as samples, never the body). A verified delivery is a hint: each employee it names is read from the vendor API and fed to ' +
          'the same intake as `POST /webhooks/hris`. 503 when the vendor API cannot be read (the vendor ' +
          'delivers again).',
        tags: ['webhook'],
        parameters: [pathParam('vendor', 'bamboohr, hibob or personio (as configured)')],
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { type: 'object' } } },
        },
        responses: {
          200: ok('Nothing to do for the employees named (each result says why)', ref('VendorIntakeAnswer')),
          202: ok(
            'At least one employee was accepted (started, queued, updated, rescinded…)',
            ref('VendorIntakeAnswer'),
          ),
          400: err(400),
          401: { ...err(401), description: 'Missing headers, bad signature, stale timestamp or a replay' },
          404: { ...err(404), description: 'No adapter for this vendor is configured' },
          409: err(409),
          413: err(413),
          429: rateLimited(
            'WEBHOOK_RATE_LIMIT per sender address; nothing was read, deliver again after Retry-After',
          ),
          500: err(500),
          503: unavailableRetry,
        },
      }),
    },
    '/webhooks/desk/{systemId}': {
      post: operation({
        operationId: 'receiveDeskWebhook',
        summary: "A service desk's hint that one of its tickets changed (Jira, ServiceNow)",
        description:
          'One endpoint per ticket system whose `connector.desk` names a `webhookSecretEnv` ' +
          '(docs/configuration.md, "Service desk tickets"). Jira: an admin webhook signing the raw body ' +
          '(`X-Hub-Signature: sha256=<hex HMAC-SHA256>`), naming `issue.key`. ServiceNow (no standard signed ' +
          'webhook): an outbound REST call sending the shared secret in `X-Offboard-Webhook-Secret` and ' +
          '`{"sys_id"}`. A verified delivery naming an open Offboard ticket starts its read-back through the ' +
          "desk's API (the body is never trusted for the ticket's state); a forged one is refused and changes nothing.",
        tags: ['webhook'],
        parameters: [pathParam('systemId', 'The catalog id of a ticket system with a desk webhook')],
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { type: 'object' } } },
        },
        responses: {
          200: ok('Verified, but no open Offboard ticket is that desk ticket: nothing to do', {
            type: 'object',
            properties: { action: { const: 'ignored' }, reason: { type: 'string' } },
            required: ['action', 'reason'],
          }),
          202: ok('Verified: the ticket is read back from the desk', {
            type: 'object',
            properties: { action: { const: 'check_started' }, ticketId: { type: 'string' } },
            required: ['action', 'ticketId'],
          }),
          400: err(400),
          401: { ...err(401), description: 'Missing or bad signature (Jira) or shared secret (ServiceNow)' },
          404: { ...err(404), description: 'No desk webhook is configured for this system' },
          413: err(413),
          429: rateLimited(
            'WEBHOOK_RATE_LIMIT per sender address; nothing was read, deliver again after Retry-After',
          ),
          500: err(500),
          503: unavailableRetry,
        },
      }),
    },
    '/departures': {
      get: operation({
        operationId: 'listDepartures',
        summary: 'List departures, newest first',
        tags: ['departures'],
        roles: ['hr', 'it', 'itdesk'],
        parameters: queryParams(departureListQuery, {
          status: 'Departure status (e.g. `running`, `completed`)',
          red: '`true`: only departures with red steps; `false`: only without',
          from: 'Accepted at or after (ISO date or instant)',
          to: 'Accepted at or before (ISO date or instant; a bare date includes that day)',
          workflow: `The state of the workflow in Temporal (${WORKFLOW_STATES.join(', ')}; failed = failed, terminated or timed out, and not reset since)`,
        }),
        responses: {
          200: ok('The departures', ref('DepartureList')),
          400: err(400),
          500: err(500),
          503: { ...err(503), description: 'Temporal could not be asked for workflow states (`workflow=`)' },
        },
      }),
      post: operation({
        operationId: 'submitDeparture',
        summary: 'Submit a confirmed departure',
        description:
          "The canonical HRIS `employee` and `termination`, validated by the webhook's schema; the same intake " +
          '(stored and logged before the answer, one offboarding per termination). Audited as `operator:<name>`.',
        tags: ['departures'],
        roles: ['hr'],
        parameters: [
          {
            name: 'Idempotency-Key',
            in: 'header',
            required: false,
            description: 'Default: the employee id and `confirmedAt`',
            schema: schema(idempotencyKeyHeader),
          },
        ],
        requestBody: jsonBody('OperatorDeparture'),
        responses: {
          200: ok('A repeated submission of an ignored event', ref('IntakeIgnored')),
          202: ok('Started, queued, duplicate or updated', ref('IntakeAccepted')),
          400: err(400),
          409: err(409),
          413: err(413),
          415: err(415),
          500: err(500),
          503: unavailableRetry,
        },
      }),
    },
    '/departures/{id}': {
      get: operation({
        operationId: 'getDeparture',
        summary: 'One departure: step table, assets, documents and verification checkpoint',
        description:
          "Live from the workflow's status query merged with the database, or from the database alone when " +
          'Temporal does not answer (`source`; then `assets` is empty and `verification` is as last recorded).',
        tags: ['departures'],
        roles: ['hr', 'it', 'itdesk'],
        parameters: [idParam],
        responses: { 200: ok('The departure', ref('DepartureView')), 404: err(404), 500: err(500) },
      }),
    },
    '/tickets/{id}/confirm': {
      post: operation({
        operationId: 'confirmTicket',
        summary: 'Confirm a ticket or manual revocation is done',
        description: 'The owner of the system confirms; the step turns green. Audited.',
        tags: ['tickets'],
        roles: ['it'],
        parameters: [pathParam('id', 'Ticket id')],
        requestBody: jsonBody('TicketConfirmation'),
        responses: {
          202: ok('The confirmation was sent to the offboarding', ref('TicketConfirmed')),
          400: err(400),
          404: err(404),
          409: { ...err(409), description: 'The ticket is not open' },
          413: err(413),
          415: err(415),
          500: err(500),
        },
      }),
    },
    '/departures/{id}/rescind': {
      post: operation({
        operationId: 'rescindDeparture',
        summary: 'Rescind a termination',
        description: 'Pending steps halt and a review opens for HR and IT; nothing is re-enabled. Audited.',
        tags: ['departures'],
        roles: ['hr'],
        parameters: [idParam],
        requestBody: jsonBody('Rescission'),
        responses: {
          202: ok(
            'The rescission was recorded (and delivered to the workflow when it runs)',
            ref('Rescinded'),
          ),
          400: err(400),
          404: err(404),
          409: { ...err(409), description: 'Already rescinded, or the departure is blocked or failed' },
          413: err(413),
          415: err(415),
          500: err(500),
        },
      }),
    },
    '/departures/{id}/redrive': {
      post: operation({
        operationId: 'redriveSteps',
        summary: 'Re-drive red revocation steps',
        description:
          'Red API steps of a running offboarding run again once their fault is fixed (workflow update ' +
          '`redrive`; its validator decides). Audited.',
        tags: ['departures'],
        roles: ['it'],
        parameters: [idParam],
        requestBody: jsonBody('Redrive'),
        responses: {
          200: ok('The steps that run again', ref('Redriven')),
          400: err(400),
          404: { ...err(404), description: 'No such departure, or the offboarding has no such step' },
          409: {
            ...err(409),
            description:
              'Not now: no red step, a phase before the revocation pass ends, rescinded, or finished',
          },
          413: err(413),
          415: err(415),
          422: {
            ...err(422),
            description: 'A step named is not red, or is a ticket (its owner confirms it)',
          },
          500: err(500),
          503: {
            ...err(503),
            description:
              'The offboarding did not answer in time (no worker), or Temporal could not be reached; retry later',
          },
        },
      }),
    },
    '/departures/{id}/approve': {
      post: operation({
        operationId: 'approveDeparture',
        summary: 'Approve a held departure (a second operator)',
        description:
          "An operator's involuntary departure of a protected account waits (status " +
          '`awaiting_approval`) until a second operator approves it; it starts at once. Audited.',
        tags: ['departures'],
        roles: ['hr', 'it'],
        parameters: [idParam],
        requestBody: jsonBody('ApproveRequest'),
        responses: {
          202: ok('Approved and started (or queued while Temporal is unreachable)', ref('Approved')),
          400: err(400),
          403: { ...err(403), description: 'You submitted it: a second operator must approve it' },
          404: err(404),
          409: { ...err(409), description: 'The departure is not awaiting approval (or was just approved)' },
          413: err(413),
          415: err(415),
          500: err(500),
        },
      }),
    },
    '/departures/{id}/accounts': {
      post: operation({
        operationId: 'recordAccount',
        summary: "Record the leaver's account id in one system",
        description:
          'Matching found no account (or two): the id recorded here wins over every matching key; ' +
          're-drive the red step to act on it. Audited.',
        tags: ['departures'],
        roles: ['it'],
        parameters: [idParam],
        requestBody: jsonBody('AccountRequest'),
        responses: {
          200: ok('Recorded', ref('AccountRecorded')),
          400: {
            ...err(400),
            description: 'Invalid body, or `systemId` is no API system of the catalog',
          },
          404: err(404),
          409: { ...err(409), description: 'The departure has finished or was rescinded' },
          413: err(413),
          415: err(415),
          500: err(500),
        },
      }),
    },
    '/departures/{id}/assets/{tag}/received': {
      post: operation({
        operationId: 'recordAssetReceived',
        summary: 'Record a returned asset',
        description:
          'The IT desk records receipt; chain of custody and check-in happen in the workflow. Audited.',
        tags: ['assets'],
        roles: ['itdesk'],
        parameters: [idParam, pathParam('tag', 'Asset tag')],
        requestBody: jsonBody('AssetReceipt'),
        responses: {
          202: ok('The receipt was sent to the offboarding', ref('AssetReceiptSent')),
          400: err(400),
          404: { ...err(404), description: 'No such departure, or no asset with this tag to recover' },
          409: { ...err(409), description: 'Already received, or the offboarding has finished' },
          413: err(413),
          415: err(415),
          500: err(500),
        },
      }),
    },
    '/departures/{id}/archives/{sourceId}/confirmed': {
      post: operation({
        operationId: 'recordArchiveConfirmed',
        summary: "Record a data source's archive as done",
        description:
          "The owner of a catalog data source reported the leaver's data archived (the built-in manual " +
          'connector tasks them and keeps the archive pending, yellow in the report, until then). The ' +
          'workflow records it and generates the data-archiving confirmation again. Audited.',
        tags: ['documents'],
        roles: ['it'],
        parameters: [idParam, pathParam('sourceId', 'Catalog data source id')],
        requestBody: jsonBody('ArchiveConfirmedRequest'),
        responses: {
          202: ok('The confirmation was sent to the offboarding', ref('ArchiveConfirmationSent')),
          400: err(400),
          404: { ...err(404), description: 'No such departure, or no archive of this data source' },
          409: { ...err(409), description: 'Already confirmed, or the offboarding has finished' },
          413: err(413),
          415: err(415),
          500: err(500),
        },
      }),
    },
    '/departures/{id}/acknowledge': {
      post: operation({
        operationId: 'acknowledgeReport',
        summary: 'Acknowledge the verification report (sign-off)',
        description:
          "HR or IT signs the report off (workflow update `acknowledge`); the token's role is the role " +
          'acknowledged, so each signs only as itself. A second acknowledgment of the same role is answered ' +
          'with the first (`alreadyAcknowledged`). Audited.',
        tags: ['verification'],
        roles: ['hr', 'it'],
        adminRefused: 'a sign-off is personal to its function (admin gets 403)',
        parameters: [idParam],
        requestBody: {
          required: false,
          description: 'Optional; `{}` or no body acknowledges without a note',
          content: json(ref('AcknowledgeRequest')),
        },
        responses: {
          200: ok(
            'The acknowledgment (the first one, when this role had acknowledged already)',
            ref('Acknowledged'),
          ),
          400: err(400),
          404: { ...err(404), description: 'No such departure' },
          409: {
            ...err(409),
            description:
              'The report is not compiled yet, the offboarding has finished or predates the checkpoint, or ' +
              'the termination was rescinded (reason in `message`)',
          },
          413: err(413),
          415: err(415),
          422: { ...err(422), description: 'Refused by the workflow as it stands (reason in `message`)' },
          500: err(500),
          503: {
            ...err(503),
            description:
              'The offboarding did not answer in time (no worker), or Temporal could not be reached; retry later',
          },
        },
      }),
    },
    '/departures/{id}/resolutions': {
      post: operation({
        operationId: 'resolveReportItem',
        summary: 'Resolve a red or yellow item of the verification report',
        description:
          'With a note (workflow update `resolve`): `fixed_by_hand`, `redriven_confirmed` (a step that is ' +
          'green now) or `accepted_risk` (not for an account the audit found still active). Audited.',
        tags: ['verification'],
        roles: ['hr', 'it'],
        parameters: [idParam],
        requestBody: jsonBody('ResolveRequest'),
        responses: {
          201: ok('The resolution was recorded', ref('Resolved')),
          400: err(400),
          404: { ...err(404), description: 'No such departure, or the report has no such item' },
          409: {
            ...err(409),
            description:
              'Already resolved (or being resolved), the report is not compiled yet, the departure is signed ' +
              'off or its offboarding has finished, or the termination was rescinded',
          },
          413: err(413),
          415: err(415),
          422: {
            ...err(422),
            description: 'The item needs no resolution (green), or not this one (reason in `message`)',
          },
          500: err(500),
          503: {
            ...err(503),
            description:
              'The offboarding did not answer in time (no worker), or Temporal could not be reached; retry later',
          },
        },
      }),
    },
    '/departures/{id}/documents': {
      get: operation({
        operationId: 'listDocuments',
        summary: 'The compliance documents of a departure',
        description: 'Type, status, SHA-256 and whether the bytes are stored here for download (`href`).',
        tags: ['documents'],
        roles: ['hr', 'it'],
        parameters: [idParam],
        responses: {
          200: ok('The documents, by type', ref('DocumentList')),
          404: { ...err(404), description: 'No such departure' },
          500: err(500),
        },
      }),
    },
    '/departures/{id}/documents/{type}': {
      get: operation({
        operationId: 'downloadDocument',
        summary: 'Download one stored document',
        description:
          'The bytes as stored (e.g. the completion certificate as PDF), with their SHA-256 in ' +
          '`X-Content-SHA256`.',
        tags: ['documents'],
        roles: ['hr', 'it'],
        parameters: [
          idParam,
          pathParam('type', `Document type (${DOCUMENT_TYPES.join(', ')})`, { enum: [...DOCUMENT_TYPES] }),
        ],
        responses: {
          200: {
            description: 'The document, as an attachment',
            headers: {
              'X-Content-SHA256': {
                description: 'SHA-256 (hex) of the bytes',
                schema: { type: 'string', pattern: '^[0-9a-f]{64}$' },
              },
              'Content-Disposition': {
                description: '`attachment; filename="<type>-<employeeId>.<ext>"`',
                schema: { type: 'string' },
              },
            },
            content: {
              'application/pdf': { schema: { type: 'string', contentMediaType: 'application/pdf' } },
              'text/plain': { schema: { type: 'string' } },
              'application/octet-stream': {
                schema: { type: 'string', contentMediaType: 'application/octet-stream' },
              },
            },
          },
          404: {
            ...err(404),
            description: 'No such departure or document type, or nothing stored for it (yet)',
          },
          500: err(500),
        },
      }),
    },
    '/me': {
      get: operation({
        operationId: 'whoAmI',
        summary: 'Who the bearer token belongs to',
        description: 'Name and role of the operator, for the dashboard.',
        tags: ['meta'],
        roles: ['hr', 'it', 'itdesk'],
        responses: {
          200: ok('The operator', ref('Operator')),
          429: rateLimited('SIGN_IN_RATE_LIMIT: failed sign-ins per address (the dashboard signs in here)'),
        },
      }),
    },
    '/': {
      get: operation({
        operationId: 'root',
        summary: 'Redirects to the dashboard',
        tags: ['dashboard'],
        responses: {
          302: {
            description: 'To `/dashboard`',
            headers: { Location: { schema: { type: 'string', const: '/dashboard' } } },
          },
        },
      }),
    },
    '/dashboard': {
      get: operation({
        operationId: 'dashboard',
        summary: 'The dashboard (HTML)',
        description:
          'One page over this API for HR, IT and the IT desk. The page holds no data: it signs in with an ' +
          'operator token and calls the JSON API with it. Its scripts and styles are served under ' +
          '`/dashboard/` (static files, not described here).',
        tags: ['dashboard'],
        responses: { 200: { description: 'The page', content: htmlPage }, 500: err(500) },
      }),
    },
    '/codec/decode': {
      post: operation({
        operationId: 'codecDecode',
        summary: "Decode payloads (Temporal's remote codec protocol)",
        description:
          'For the Temporal Web UI and CLI. Browsers only from CODEC_CORS_ORIGINS (preflight `OPTIONS` ' +
          'answered 204 for them; any other origin 403). 503 when no PAYLOAD_CODEC_KEYS are configured.',
        tags: ['codec'],
        roles: ['hr', 'it', 'itdesk'],
        alsoSecurity: [{ codecSession: [] }],
        parameters: [{ name: 'X-Namespace', in: 'header', required: false, schema: { type: 'string' } }],
        requestBody: jsonBody('CodecPayloadsIn'),
        responses: codecResponses('decode'),
      }),
    },
    '/codec/encode': {
      post: operation({
        operationId: 'codecEncode',
        summary: "Encode payloads (Temporal's remote codec protocol)",
        description: 'As `/codec/decode`, the other way.',
        tags: ['codec'],
        roles: ['hr', 'it', 'itdesk'],
        alsoSecurity: [{ codecSession: [] }],
        parameters: [{ name: 'X-Namespace', in: 'header', required: false, schema: { type: 'string' } }],
        requestBody: jsonBody('CodecPayloadsIn'),
        responses: codecResponses('encode'),
      }),
    },
    '/codec/login': {
      get: operation({
        operationId: 'codecLoginPage',
        summary: 'Sign-in page for decoding in the Web UI',
        tags: ['codec'],
        responses: { 200: { description: 'The sign-in form', content: htmlPage }, 403: err(403) },
      }),
      post: operation({
        operationId: 'codecLogin',
        summary: 'Start a codec session (operator token → HttpOnly cookie)',
        description:
          'Any operator role. Sets the `offboard_codec` cookie (HttpOnly, SameSite=Strict, path /codec, 8 hours).',
        tags: ['codec'],
        requestBody: formBody('CodecLoginForm', 'The operator token'),
        responses: {
          200: {
            description: 'Signed in',
            headers: { 'Set-Cookie': { schema: { type: 'string' } } },
            content: htmlPage,
          },
          400: err(400),
          401: err(401),
          403: err(403),
          413: err(413),
          429: rateLimited('SIGN_IN_RATE_LIMIT: failed sign-ins per address'),
          500: err(500),
        },
      }),
    },
    '/codec/logout': {
      post: operation({
        operationId: 'codecLogout',
        summary: 'End the codec session (clears the cookie)',
        tags: ['codec'],
        responses: {
          204: { description: 'Signed out', headers: { 'Set-Cookie': { schema: { type: 'string' } } } },
          403: err(403),
        },
      }),
    },
    '/sign/{token}': {
      get: operation({
        operationId: 'signingPage',
        summary: 'NDA signing page (HTML)',
        description: "For the leaver; the link's token is the credential (single-use, expiring).",
        tags: ['public pages'],
        parameters: [tokenParam],
        responses: {
          200: { description: 'The document and the signing form', content: htmlPage },
          404: errPage(404, 'Unknown link'),
          410: errPage(410, 'The link was used or has expired'),
          429: pageRateLimited,
          500: errPage(500, 'Something went wrong'),
        },
      }),
      post: operation({
        operationId: 'sign',
        summary: 'Sign the NDA acknowledgment',
        description:
          'Stores the signed copy (PDF with signer, time, IP and hashes) and tells the offboarding.',
        tags: ['public pages'],
        parameters: [tokenParam],
        requestBody: formBody('SignForm', 'The signing form'),
        responses: {
          200: { description: 'Signed', content: htmlPage },
          400: errPage(400, 'The form again, naming each invalid field; nothing stored'),
          404: errPage(404, 'Unknown link'),
          410: errPage(410, 'The link was used or has expired, or the document is already signed'),
          413: errPage(413, 'The form was too large'),
          429: pageRateLimited,
          500: errPage(500, 'Something went wrong'),
        },
      }),
    },
    '/survey/{token}': {
      get: operation({
        operationId: 'surveyPage',
        summary: 'Exit survey page (HTML)',
        description: "For the leaver; the link's token is the credential (single-use, expiring).",
        tags: ['public pages'],
        parameters: [tokenParam],
        responses: {
          200: { description: 'The survey form', content: htmlPage },
          404: errPage(404, 'Unknown link'),
          410: errPage(410, 'The link was used or has expired'),
          429: pageRateLimited,
          500: errPage(500, 'Something went wrong'),
        },
      }),
      post: operation({
        operationId: 'answerSurvey',
        summary: 'Answer the exit survey',
        tags: ['public pages'],
        parameters: [tokenParam],
        requestBody: formBody('SurveyForm', 'The survey form'),
        responses: {
          200: { description: 'Saved', content: htmlPage },
          400: errPage(400, 'The form again, naming each invalid field; nothing stored'),
          404: errPage(404, 'Unknown link'),
          410: errPage(410, 'The link was used or has expired, or the survey is already answered'),
          413: errPage(413, 'The form was too large'),
          429: pageRateLimited,
          500: errPage(500, 'Something went wrong'),
        },
      }),
    },
  };

  const schemas: Record<string, Json> = {
    Health: schema(healthSchema, 'output'),
    FieldError: schema(fieldErrorSchema, 'output'),
    Error: schema(errorSchema(ERROR_CODES), 'output'),
    ...Object.fromEntries(
      ERROR_STATUSES.map((s) => [`Error${s}`, schema(errorSchema(errorCodesFor(s)), 'output')]),
    ),
    HrisEvent: schema(hrisEventSchema),
    OperatorDeparture: schema(operatorDepartureDoc),
    IntakeAccepted: schema(intakeAccepted, 'output'),
    IntakeIgnored: schema(intakeIgnored, 'output'),
    VendorIntakeAnswer: {
      type: 'object',
      properties: {
        vendor: { type: 'string' },
        type: { type: 'string' },
        results: { type: 'array', items: { type: 'object' } },
      },
      required: ['vendor', 'type', 'results'],
    },
    DepartureSummary: schema(departureSummary, 'output'),
    DepartureList: {
      type: 'object',
      properties: { departures: { type: 'array', items: ref('DepartureSummary') } },
      required: ['departures'],
    },
    StepView: schema(stepView, 'output'),
    DepartureView: schema(departureView, 'output'),
    TicketConfirmation: schema(ticketConfirmBody),
    TicketConfirmed: schema(
      z.object({ ticketId: z.string(), action: z.literal('confirmation_sent') }),
      'output',
    ),
    Rescission: schema(rescindBody),
    Rescinded: schema(
      z.object({
        departureId: z.string(),
        workflowId: z.string(),
        action: z.literal('rescinded'),
        delivered: z.boolean().meta({ description: 'Whether the running workflow was told already' }),
      }),
      'output',
    ),
    Redrive: schema(redriveBody),
    ApproveRequest: schema(approveBody),
    Approved: schema(
      z.object({
        departureId: z.string(),
        workflowId: z.string(),
        action: z.enum(['started', 'queued']),
      }),
      'output',
    ),
    AccountRequest: schema(accountBody),
    AccountRecorded: schema(
      z.object({
        departureId: z.string(),
        systemId: z.string(),
        accountId: z.string(),
        replaced: z.string().nullable().meta({ description: 'The account id recorded before, if any' }),
      }),
      'output',
    ),
    Redriven: schema(z.object({ departureId: z.string(), accepted: z.array(z.string()) }), 'output'),
    AssetReceipt: schema(assetReceivedBody),
    AcknowledgeRequest: schema(acknowledgeBody),
    Acknowledged: schema(acknowledged, 'output'),
    ResolveRequest: {
      ...schema(resolveBody),
      description: `how: ${RESOLUTION_KINDS.map((k) => `\`${k}\``).join(', ')}`,
    },
    Resolved: schema(resolved, 'output'),
    DocumentList: schema(documentList, 'output'),
    Operator: schema(me, 'output'),
    ArchiveConfirmedRequest: schema(archiveConfirmedBody),
    ArchiveConfirmationSent: schema(
      z.object({
        departureId: z.string(),
        sourceId: z.string(),
        action: z.literal('confirmation_sent'),
      }),
      'output',
    ),
    AssetReceiptSent: schema(
      z.object({ departureId: z.string(), assetTag: z.string(), action: z.literal('receipt_sent') }),
      'output',
    ),
    CodecPayloadsIn: schema(codecBody),
    CodecPayloads: schema(codecAnswer, 'output'),
    CodecLoginForm: {
      type: 'object',
      properties: { token: { type: 'string', minLength: 1, description: 'An operator token' } },
      required: ['token'],
    },
    SignForm: schema(signForm),
    SurveyForm: {
      ...schema(surveyForm),
      description: `reason: ${Object.entries(LEAVING_REASONS)
        .map(([k, v]) => `\`${k}\` (${v})`)
        .join(', ')}`,
    },
  };

  const responses = Object.fromEntries(
    ERROR_STATUSES.map((s) => [
      `Error${s}`,
      {
        description: `${STATUS_TEXT[s] ?? `HTTP ${s}`} (codes: ${errorCodesFor(s).join(', ')})`,
        ...(s === 401
          ? { headers: { 'WWW-Authenticate': { schema: { type: 'string', const: 'Bearer' } } } }
          : {}),
        content: json(ref(`Error${s}`)),
      },
    ]),
  );

  return {
    openapi: '3.1.1',
    info: {
      title: 'Offboard API',
      version: '0.1.0',
      description:
        'Employee offboarding on Temporal: the HRIS webhook, the operator API (bearer tokens with roles hr, ' +
        'it, itdesk, admin; `x-roles` on each operation lists exactly the roles allowed: admin may do ' +
        'everything except what is personal to a function, such as acknowledging a verification report, ' +
        'where the operation says `x-admin-refused: true`), the dashboard, ' +
        "Temporal's remote codec endpoint and the leaver's signing and survey pages. Every JSON error is " +
        '`{ "error": { "code", "message", "fields"? } }`; bad input is never a 5xx.',
    },
    tags: [
      { name: 'meta' },
      { name: 'webhook', description: 'Canonical HRIS events' },
      { name: 'departures' },
      { name: 'tickets' },
      { name: 'assets' },
      { name: 'verification', description: 'The verification checkpoint: sign-off of the report' },
      { name: 'documents', description: 'Compliance documents' },
      { name: 'dashboard', description: 'The operator dashboard (HTML)' },
      { name: 'codec', description: 'For the Temporal Web UI and CLI' },
      { name: 'public pages', description: 'HTML pages for leavers, opened from their personal email' },
    ],
    paths,
    components: {
      schemas,
      responses,
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description: 'An operator token (OPERATOR_TOKENS holds its SHA-256 with a name and a role)',
        },
        codecSession: {
          type: 'apiKey',
          in: 'cookie',
          name: 'offboard_codec',
          description: 'The session cookie set by `POST /codec/login` (codec routes only)',
        },
      },
    },
  };
}

let cached: Json | undefined;

/** The OpenAPI 3.1 document (built once). */
export function openApiDocument(): Json {
  cached ??= build();
  return cached;
}

/** Express path (`/departures/:id`) as an OpenAPI path (`/departures/{id}`). */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}
