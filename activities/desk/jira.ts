/**
 * Jira Service Management on Jira Cloud, Basic auth with an account's email and API token:
 *
 * - open: `POST /rest/servicedeskapi/request` `{serviceDeskId, requestTypeId, requestFieldValues:
 *   {summary, description, labels}}` → 201 `{issueKey, _links: {agent, web}}`. The label
 *   `offboard-<ticket id>` is the idempotency marker (the request type's form needs the Labels field);
 * - find: `GET /rest/api/3/search/jql?jql=labels = "offboard-<id>"` (the enhanced search; it is
 *   eventually consistent, so a request opened seconds before may not be found yet: the Offboard
 *   ticket keeps the key as soon as it is known, and that is what a retry reads first);
 * - read back: `GET /rest/api/3/issue/{key}?fields=status,resolution&expand=changelog`. Closed means
 *   `status.statusCategory.key == "done"` (never the status name: names are localized and renamed);
 *   the resolution says done or not done (`notDoneResolutions`), the changelog who closed it.
 *
 * Errors: 401/403 → `TargetAuthError` naming the environment variables; 429 (and 503 with
 * `Retry-After`) → `TargetThrottledError` after `Retry-After`, else `X-RateLimit-Reset` (ISO 8601);
 * 5xx and network failures → `TargetUnavailableError`; 404 is answered; other 4xx →
 * `TargetRejectedError` with Jira's `errorMessages`/`errors` (platform) or `errorMessage` (JSM).
 * The token never leaves this module.
 */
import { readFileSync } from 'node:fs';
import type { Dispatcher } from 'undici';
import type { JiraDeskConfig } from '../../config/desk';
import { connectorAgent } from '../../lib/http';
import {
  TargetAuthError,
  TargetRejectedError,
  TargetThrottledError,
  TargetUnavailableError,
} from '../errors';
import { callJson, header } from '../http-json';
import {
  clip,
  deskMarker,
  deskRetryMs,
  type DeskClient,
  type DeskReadBack,
  type DeskTicketRef,
} from './types';

/** A Jira issue key, e.g. HR-123 (checked before it goes into a URL). */
const ISSUE_KEY = /^[A-Z][A-Z0-9_]{0,254}-[1-9]\d{0,17}$/;

interface JiraIssue {
  id?: string;
  key?: string;
  fields?: {
    status?: { name?: string; statusCategory?: { key?: string } };
    resolution?: { name?: string } | null;
  };
  changelog?: {
    histories?: {
      created?: string;
      author?: { accountId?: string; displayName?: string };
      items?: { field?: string }[];
    }[];
  };
}

/** Jira's error text: the platform's `errorMessages` and `errors`, or JSM's `errorMessage`. */
export function jiraReason(json: unknown, text: string): string {
  const e = (json ?? {}) as { errorMessages?: unknown; errors?: unknown; errorMessage?: unknown };
  const parts: string[] = [];
  if (Array.isArray(e.errorMessages)) parts.push(...e.errorMessages.filter((m) => typeof m === 'string'));
  if (e.errors && typeof e.errors === 'object')
    for (const [k, v] of Object.entries(e.errors)) if (typeof v === 'string') parts.push(`${k}: ${v}`);
  if (typeof e.errorMessage === 'string') parts.push(e.errorMessage);
  return parts.length > 0 ? clip(parts.join('; '), 300) : clip(text, 200);
}

/** Who last changed the issue's status or resolution, as the changelog says. */
function closedBy(issue: JiraIssue): string | null {
  const changes = (issue.changelog?.histories ?? []).filter((h) =>
    (h.items ?? []).some((i) => i.field === 'status' || i.field === 'resolution'),
  );
  const last = changes.sort((a, b) => Date.parse(a.created ?? '') - Date.parse(b.created ?? '')).at(-1);
  return last?.author?.displayName || last?.author?.accountId || null;
}

/** Creates the client of one catalog entry's desk; `email` and `token` are its credentials. */
export function createJiraDesk(cfg: JiraDeskConfig, email: string, token: string): DeskClient {
  const base = cfg.baseUrl.replace(/\/+$/, '');
  const dispatcher = connectorAgent(cfg.caFile ? readFileSync(cfg.caFile, 'utf8') : undefined);
  const headers = {
    authorization: `Basic ${Buffer.from(`${email}:${token}`).toString('base64')}`,
    accept: 'application/json',
    'content-type': 'application/json',
  };
  const notDone = new Set(cfg.notDoneResolutions.map((r) => r.toLowerCase()));

  async function send(method: Dispatcher.HttpMethod, path: string, body?: unknown) {
    const what = `Jira ${method} ${path.split('?')[0]}`;
    const res = await callJson(
      `${base}${path}`,
      { method, dispatcher, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) },
      what,
    );
    const { status, json, text } = res;
    if (status < 400 || status === 404) return { status, json };
    const msg = `${what}: ${status} ${jiraReason(json, text)}`;
    if (status === 401)
      throw new TargetAuthError(
        `${msg}: check the account email in ${cfg.emailEnv} and its API token in ${cfg.tokenEnv}`,
      );
    if (status === 403)
      throw new TargetAuthError(
        `${msg}: the account lacks the permission (it must be an agent of service desk ${cfg.serviceDeskId})`,
      );
    if (status === 429 || (status === 503 && header(res.headers, 'retry-after')))
      throw new TargetThrottledError(msg, deskRetryMs(res.headers));
    if (status >= 500) throw new TargetUnavailableError(msg);
    throw new TargetRejectedError(msg);
  }

  const refOf = (key: string, url?: unknown): DeskTicketRef => ({
    ref: key,
    key,
    url: typeof url === 'string' && /^https?:\/\//.test(url) ? url : `${base}/browse/${key}`,
  });

  return {
    kind: 'jira',

    async find(ticketId) {
      const jql = `labels = "${deskMarker(ticketId)}" ORDER BY created ASC`;
      const q = new URLSearchParams({ jql, fields: 'status', maxResults: '2' });
      const r = await send('GET', `/rest/api/3/search/jql?${q.toString()}`);
      if (r.status === 404)
        throw new TargetRejectedError('Jira GET /rest/api/3/search/jql: 404 (not Jira Cloud?)');
      const issues = ((r.json as { issues?: JiraIssue[] } | null)?.issues ?? []).filter(
        (i) => typeof i.key === 'string' && ISSUE_KEY.test(i.key),
      );
      return issues.length > 0 ? refOf(issues[0]!.key!) : null;
    },

    async create(t) {
      const r = await send('POST', '/rest/servicedeskapi/request', {
        serviceDeskId: cfg.serviceDeskId,
        requestTypeId: cfg.requestTypeId,
        requestFieldValues: {
          summary: clip(t.summary, 255),
          description: clip(t.description, 30_000),
          labels: [deskMarker(t.ticketId)],
        },
      });
      const created = (r.json ?? {}) as { issueKey?: unknown; _links?: { agent?: unknown } };
      if (r.status === 404)
        throw new TargetRejectedError(
          `Jira POST /rest/servicedeskapi/request: 404: no service desk ${cfg.serviceDeskId} or request type ${cfg.requestTypeId} for this account`,
        );
      if (typeof created.issueKey !== 'string' || !ISSUE_KEY.test(created.issueKey))
        throw new TargetUnavailableError(
          'Jira POST /rest/servicedeskapi/request: the answer has no issue key',
        );
      return refOf(created.issueKey, created._links?.agent);
    },

    async read(key): Promise<DeskReadBack> {
      if (!ISSUE_KEY.test(key)) throw new TargetRejectedError(`not a Jira issue key: ${clip(key, 40)}`);
      const r = await send('GET', `/rest/api/3/issue/${key}?fields=status,resolution&expand=changelog`);
      if (r.status === 404) return { state: 'missing', key };
      const issue = (r.json ?? {}) as JiraIssue;
      const status = issue.fields?.status;
      const category = status?.statusCategory?.key;
      const statusName = status?.name ?? '?';
      if (typeof category !== 'string')
        throw new TargetUnavailableError(
          `Jira GET /rest/api/3/issue/${key}: the answer has no status category`,
        );
      if (category !== 'done') return { state: 'open', key, status: statusName };
      const resolution = issue.fields?.resolution?.name ?? null;
      const by = closedBy(issue);
      const words = `${resolution ?? 'no resolution'} (status "${statusName}")`;
      if (resolution && notDone.has(resolution.toLowerCase())) return { state: 'not_done', key, words, by };
      return { state: 'done', key, words, by };
    },

    async close() {
      await dispatcher.close();
    },
  };
}
