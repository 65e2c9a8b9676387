/**
 * STAND-IN for Jira Cloud with Jira Service Management, the parts the Jira desk calls
 * (activities/desk/jira.ts), with Jira's documented wire format:
 *
 * - Basic auth with an account's email and API token; else 401 `{errorMessages, errors}`;
 * - `POST /rest/servicedeskapi/request` `{serviceDeskId, requestTypeId, requestFieldValues}` → 201 a
 *   customer request `{issueId, issueKey, requestTypeId, serviceDeskId, createdDate, currentStatus,
 *   requestFieldValues: [...], _links: {jiraRest, web, agent, self}}`; an unknown service desk 404 and
 *   a missing summary or a label with a space 400, as JSM answers: `{errorMessage, i18nErrorMessage}`;
 * - `GET /rest/api/3/search/jql?jql=labels = "<label>"` → `{issues: [{id, key, fields}], isLast}`
 *   (eventually consistent like Jira's enhanced search: `searchLagMs` hides issues younger than it);
 *   any other JQL 400 `{errorMessages: ["Error in the JQL Query: …"]}`;
 * - `GET /rest/api/3/issue/{key}?fields=…&expand=changelog` → `{id, key, fields: {status: {name,
 *   statusCategory: {id, key, name, colorName}}, resolution}, changelog: {histories}}`; unknown 404;
 * - rate limiting: `throttle(n, resetIn)` answers 429 with `Retry-After` (seconds, unless
 *   `retryAfter: false`), `X-RateLimit-Reset` (ISO 8601), `X-RateLimit-Limit`, `RateLimit-Reason`.
 *
 * Test helpers: `transition` (a status with its category and a resolution, by an agent, as the desk's
 * UI would), `sendWebhook` (an admin webhook's `jira:issue_updated`, signed `X-Hub-Signature:
 * sha256=<hex HMAC-SHA256 of the body>`). Faults: `control.inject` (standins/faults.ts).
 */
import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import express, { type Request, type Response } from 'express';
import { closeServer, listen } from '../lib/http';
import { StandInControl } from './faults';

export type StatusCategory = 'new' | 'indeterminate' | 'done';

export interface JiraStandInIssue {
  id: string;
  key: string;
  serviceDeskId: string;
  requestTypeId: string;
  labels: string[];
  created: string;
  status: { name: string; category: StatusCategory };
  resolution: string | null;
  histories: {
    id: string;
    created: string;
    author: { accountId: string; displayName: string };
    items: { field: string; fromString: string | null; toString: string | null }[];
  }[];
  /** The request body as received: what Offboard sent to the desk. */
  request: Record<string, unknown>;
}

const CATEGORY: Record<StatusCategory, { id: number; name: string; colorName: string }> = {
  new: { id: 2, name: 'To Do', colorName: 'blue-gray' },
  indeterminate: { id: 4, name: 'In Progress', colorName: 'yellow' },
  done: { id: 3, name: 'Done', colorName: 'green' },
};

/** Jira platform's error body. */
export const jiraError = (messages: string[], errors: Record<string, string> = {}) => ({
  errorMessages: messages,
  errors,
});

/** Jira Service Management's error body. */
const jsmError = (message: string) => ({
  errorMessage: message,
  i18nErrorMessage: { i18nKey: 'sd.request.error', parameters: [] as string[] },
});

/** `sha256=<hex>`: the `X-Hub-Signature` of a body signed with `secret`. */
export const hubSignature = (secret: string, body: string) =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

export class JiraStandIn {
  readonly control = new StandInControl();
  readonly issues = new Map<string, JiraStandInIssue>();
  /** Service desks by id: their project key and request types. */
  readonly serviceDesks = new Map<string, { projectKey: string; requestTypes: Set<string> }>([
    ['10', { projectKey: 'HR', requestTypes: new Set(['25']) }],
  ]);
  /** Issues younger than this are not found by search yet (Jira's search is eventually consistent). */
  searchLagMs = 0;
  private throttled = { times: 0, resetAt: 0, retryAfter: true };
  private counter = 0;
  private server?: http.Server;
  url = '';

  constructor(
    readonly email: string,
    readonly token: string,
  ) {}

  /** The next `times` requests are answered 429, the limit resetting `resetInSeconds` from now. */
  throttle(times: number, resetInSeconds: number, o: { retryAfter?: boolean } = {}): void {
    this.throttled = { times, resetAt: Date.now() + resetInSeconds * 1000, retryAfter: o.retryAfter ?? true };
  }

  reset(): void {
    this.control.reset();
    this.throttled = { times: 0, resetAt: 0, retryAfter: true };
    this.searchLagMs = 0;
  }

  /** Moves an issue to a status (of a category) with a resolution, as an agent would in Jira. */
  transition(
    key: string,
    to: { status: string; category: StatusCategory; resolution?: string | null; by?: string },
  ): JiraStandInIssue {
    const issue = this.issues.get(key);
    if (!issue) throw new Error(`no issue ${key}`);
    const by = to.by ?? 'Alex Agent';
    const items: JiraStandInIssue['histories'][number]['items'] = [
      { field: 'status', fromString: issue.status.name, toString: to.status },
    ];
    const resolution = to.resolution === undefined ? issue.resolution : to.resolution;
    if (resolution !== issue.resolution)
      items.push({ field: 'resolution', fromString: issue.resolution, toString: resolution });
    issue.histories.push({
      id: String(10_000 + issue.histories.length),
      created: new Date().toISOString(),
      author: { accountId: `5b10a2844c20165700ede${issue.histories.length}`, displayName: by },
      items,
    });
    issue.status = { name: to.status, category: to.category };
    issue.resolution = resolution;
    return issue;
  }

  /** The issue as `GET /rest/api/3/issue/{key}` shows it. */
  issueJson(issue: JiraStandInIssue, changelog: boolean) {
    return {
      id: issue.id,
      key: issue.key,
      self: `${this.url}/rest/api/3/issue/${issue.id}`,
      fields: {
        status: {
          name: issue.status.name,
          statusCategory: { key: issue.status.category, ...CATEGORY[issue.status.category] },
        },
        resolution: issue.resolution ? { name: issue.resolution } : null,
      },
      ...(changelog
        ? {
            changelog: {
              startAt: 0,
              maxResults: issue.histories.length,
              total: issue.histories.length,
              histories: issue.histories,
            },
          }
        : {}),
    };
  }

  /** Posts an admin webhook's `jira:issue_updated` for `key` to `url`, signed with `secret`. */
  async sendWebhook(url: string, secret: string, key: string, o: { signature?: string } = {}) {
    const issue = this.issues.get(key);
    const body = JSON.stringify({
      timestamp: Date.now(),
      webhookEvent: 'jira:issue_updated',
      issue_event_type_name: 'issue_generic',
      user: { accountId: '5b10a2844c20165700ede21g', displayName: 'Alex Agent' },
      issue: issue ? this.issueJson(issue, false) : { id: '0', key },
    });
    const res = await fetch(url, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'x-atlassian-webhook-identifier': randomUUID(),
        'x-hub-signature': o.signature ?? hubSignature(secret, body),
      },
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : null) as Record<string, unknown> | null };
  }

  app(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.use(this.control.middleware((status, message) => jiraError([message])));
    app.use((req, res, next) => {
      if (this.throttled.times > 0) {
        this.throttled.times -= 1;
        const resetIn = Math.max(0, Math.ceil((this.throttled.resetAt - Date.now()) / 1000));
        if (this.throttled.retryAfter) res.setHeader('Retry-After', String(resetIn));
        res.setHeader('X-RateLimit-Reset', new Date(this.throttled.resetAt).toISOString());
        res.setHeader('X-RateLimit-Limit', '100');
        res.setHeader('RateLimit-Reason', 'jira-quota-tenant-based');
        return res.status(429).json(jiraError(['Rate limit exceeded.']));
      }
      const expected = `Basic ${Buffer.from(`${this.email}:${this.token}`).toString('base64')}`;
      if (req.header('authorization') !== expected)
        return res
          .status(401)
          .json(jiraError(['You are not authenticated. Authentication required to perform this operation.']));
      next();
    });

    app.post('/rest/servicedeskapi/request', express.json(), (req: Request, res: Response) => {
      const b = (req.body ?? {}) as Record<string, unknown>;
      const desk = this.serviceDesks.get(String(b.serviceDeskId));
      if (!desk) return res.status(404).json(jsmError('The service desk does not exist.'));
      if (!desk.requestTypes.has(String(b.requestTypeId)))
        return res.status(400).json(jsmError('The request type does not exist in this service desk.'));
      const v = (b.requestFieldValues ?? {}) as Record<string, unknown>;
      if (typeof v.summary !== 'string' || !v.summary.trim())
        return res.status(400).json(jsmError('Summary: You must specify a summary of the issue.'));
      const labels = v.labels ?? [];
      if (!Array.isArray(labels) || labels.some((l) => typeof l !== 'string' || /\s/.test(l)))
        return res.status(400).json(jsmError('Labels: The label can not contain spaces.'));
      this.counter += 1;
      const key = `${desk.projectKey}-${this.counter}`;
      const created = new Date().toISOString();
      const issue: JiraStandInIssue = {
        id: String(10_000 + this.counter),
        key,
        serviceDeskId: String(b.serviceDeskId),
        requestTypeId: String(b.requestTypeId),
        labels: labels as string[],
        created,
        status: { name: 'Waiting for support', category: 'new' },
        resolution: null,
        histories: [],
        request: b,
      };
      this.issues.set(key, issue);
      const date = { iso8601: created, epochMillis: Date.parse(created), friendly: 'Today' };
      res.status(201).json({
        issueId: issue.id,
        issueKey: key,
        requestTypeId: issue.requestTypeId,
        serviceDeskId: issue.serviceDeskId,
        createdDate: date,
        reporter: { accountId: '5b10a2844c20165700ede21g', displayName: 'Offboard' },
        requestFieldValues: Object.entries(v).map(([fieldId, value]) => ({ fieldId, label: fieldId, value })),
        currentStatus: { status: issue.status.name, statusCategory: 'NEW', statusDate: date },
        _links: {
          jiraRest: `${this.url}/rest/api/2/issue/${issue.id}`,
          web: `${this.url}/servicedesk/customer/portal/1/${key}`,
          agent: `${this.url}/browse/${key}`,
          self: `${this.url}/rest/servicedeskapi/request/${issue.id}`,
        },
      });
    });

    app.get('/rest/api/3/search/jql', (req: Request, res: Response) => {
      const jql = String(req.query.jql ?? '');
      const m = /^labels\s*=\s*"([^"]+)"(\s+ORDER BY created ASC)?$/.exec(jql);
      if (!m)
        return res
          .status(400)
          .json(jiraError([`Error in the JQL Query: the stand-in only knows labels = "…" (${jql})`]));
      const visibleBefore = Date.now() - this.searchLagMs;
      const found = [...this.issues.values()].filter(
        (i) => i.labels.includes(m[1]!) && Date.parse(i.created) <= visibleBefore,
      );
      const max = Math.max(1, Math.min(5000, Number(req.query.maxResults ?? 50) || 50));
      res.json({
        issues: found.slice(0, max).map((i) => this.issueJson(i, false)),
        isLast: found.length <= max,
      });
    });

    app.get('/rest/api/3/issue/:key', (req: Request, res: Response) => {
      const issue =
        this.issues.get(String(req.params.key)) ??
        [...this.issues.values()].find((i) => i.id === String(req.params.key));
      if (!issue)
        return res
          .status(404)
          .json(jiraError(['Issue does not exist or you do not have permission to see it.']));
      res.json(
        this.issueJson(
          issue,
          String(req.query.expand ?? '')
            .split(',')
            .includes('changelog'),
        ),
      );
    });

    app.use((_req: Request, res: Response) => {
      res.status(404).json(jiraError(['The stand-in does not serve this path.']));
    });
    return app;
  }

  async start(port = 0): Promise<string> {
    this.server = http.createServer(this.app());
    this.url = `http://127.0.0.1:${await listen(this.server, port)}`;
    return this.url;
  }

  async stop(): Promise<void> {
    if (this.server) await closeServer(this.server);
  }
}
