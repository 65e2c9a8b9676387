/**
 * The service desk a `ticket` system's tickets are opened in (`connector.desk`): Jira Service
 * Management (Jira Cloud REST, a customer request per ticket) or ServiceNow (Table API, an `sc_task` or
 * `incident` record). Without one, the built-in queue (an Offboard ticket and an email to the owner).
 * Credentials come from environment variables, checked when the catalog is parsed; the webhook secret
 * only where it is used, by the API at start. docs/configuration.md, "Service desk tickets".
 */
import { z } from 'zod';

const envName = z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'must be the name of an environment variable');
const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Milliseconds of a duration such as 30s or 5m (NaN for anything else). */
export function pollMs(d: string): number {
  const m = DURATION.exec(d);
  return m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : NaN;
}

/** How often a desk's open tickets are read back when no webhook says so first. */
const pollEvery = z
  .string()
  .regex(DURATION, 'must be a duration such as 30s, 5m or 1h')
  .refine((d) => !DURATION.test(d) || (pollMs(d) >= 10_000 && pollMs(d) <= 86_400_000), {
    message: 'must be between 10s and 1d (each poll reads every open ticket of the desk back)',
  })
  .default('5m');

/** A numeric id as Jira gives it (YAML may write it as a number). */
const numericId = z.coerce.string().regex(/^[1-9]\d{0,17}$/, 'must be a numeric id such as 10');

/** Extra CA certificate (PEM file) to trust for the desk, e.g. a TLS-inspecting proxy. */
const caFile = z.string().min(1).optional();

/**
 * Jira Service Management on Jira Cloud: `POST /rest/servicedeskapi/request` opens a customer request
 * (the request type's form must have the Labels field: it carries the idempotency marker), read back
 * with `GET /rest/api/3/issue/{key}` by `status.statusCategory.key`, never by status name.
 */
export const jiraDesk = z
  .object({
    kind: z.literal('jira'),
    /** The site, e.g. https://example.atlassian.net */
    baseUrl: z.url(),
    /** The service desk (project) the requests are raised in: `GET /rest/servicedeskapi/servicedesk`. */
    serviceDeskId: numericId,
    /** Its request type: `GET /rest/servicedeskapi/servicedesk/{id}/requesttype`. */
    requestTypeId: numericId,
    /** The environment variable holding the Atlassian account's email (Basic auth with the token). */
    emailEnv: envName,
    /** The environment variable holding that account's API token. */
    tokenEnv: envName,
    /**
     * Resolutions meaning "closed, not done" (compared without case): a request in status category
     * `done` with one of these turns the step red; with any other (or none) it is done.
     */
    notDoneResolutions: z
      .array(z.string().min(1))
      .default(["Won't Do", 'Declined', "Won't Fix", 'Duplicate', 'Cannot Reproduce']),
    /** The environment variable holding the admin webhook's secret (HMAC `X-Hub-Signature`), for the API. */
    webhookSecretEnv: envName.optional(),
    pollEvery,
    caFile,
  })
  .strict();

/**
 * ServiceNow through the Table API with Basic auth: one record per ticket in `table`, its `sys_id`
 * kept, read back by `state` and `active`. `sc_task`: Closed Complete (and inactive) is done; Closed
 * Incomplete and Closed Skipped (its value read from `sys_choice`) are not. `incident`: Resolved or
 * Closed is done unless the close code is one of `notDoneCloseCodes`; Canceled is not done.
 */
export const servicenowDesk = z
  .object({
    kind: z.literal('servicenow'),
    /** The instance, e.g. https://example.service-now.com */
    instanceUrl: z.url(),
    table: z.enum(['sc_task', 'incident']),
    /** The environment variables holding the integration user's name and password (Basic auth). */
    userEnv: envName,
    passwordEnv: envName,
    /** The group the record is assigned to (its sys_id); default: the instance's assignment rules. */
    assignmentGroup: z
      .string()
      .regex(/^[0-9a-f]{32}$/, 'must be a sys_id (32 hex characters)')
      .optional(),
    /** `incident` only: close codes meaning "closed, not done" (compared without case). */
    notDoneCloseCodes: z
      .array(z.string().min(1))
      .default(['No resolution provided', 'Not Solved (Not Reproducible)', 'Not Solved (Too Costly)']),
    /** The environment variable holding the shared secret the instance's outbound call sends, for the API. */
    webhookSecretEnv: envName.optional(),
    pollEvery,
    caFile,
  })
  .strict();

export const deskSchema = z.discriminatedUnion('kind', [jiraDesk, servicenowDesk], {
  error: (issue) => (issue.code === 'invalid_union' ? 'must be one of "jira", "servicenow"' : undefined),
});

export type TicketDeskConfig = z.infer<typeof deskSchema>;
export type JiraDeskConfig = z.infer<typeof jiraDesk>;
export type ServiceNowDeskConfig = z.infer<typeof servicenowDesk>;

/** The credentials a desk names: `[field, environment variable]`, checked when the catalog is parsed. */
export function deskSecrets(d: TicketDeskConfig): [field: string, env: string][] {
  return d.kind === 'jira'
    ? [
        ['emailEnv', d.emailEnv],
        ['tokenEnv', d.tokenEnv],
      ]
    : [
        ['userEnv', d.userEnv],
        ['passwordEnv', d.passwordEnv],
      ];
}
