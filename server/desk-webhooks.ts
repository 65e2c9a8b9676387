/**
 * `POST /webhooks/desk/:systemId`: a service desk says one of its tickets changed (docs/configuration.md,
 * "Service desk tickets"). It is a hint and nothing more: the delivery is verified over the raw body,
 * the ticket it names looked up among the system's open Offboard tickets, and `deskTicketsWorkflow`
 * started for that ticket, which reads it back through the desk's API (the body is never trusted for
 * the ticket's state). A forged delivery is refused (401) and changes nothing.
 *
 * - Jira: an admin webhook (System › WebHooks, or `POST /rest/webhooks/1.0/webhook`) saved with a
 *   secret signs the raw body: `X-Hub-Signature: sha256=<hex HMAC-SHA256>`. Its body names the issue
 *   (`issue.key`). There is no timestamp to check, so a replayed delivery is verified too: harmless,
 *   it only triggers one more read-back.
 * - ServiceNow has no standard signed webhook. A Business Rule (after update on the table) with an
 *   outbound REST message posts `{"sys_id": "<sys_id>"}` and sends the shared secret in
 *   `X-Offboard-Webhook-Secret`, compared in constant time. Anyone holding that secret can trigger a
 *   read-back, nothing more.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import express, { type Request, type Response } from 'express';
import type { Catalog } from '../config/catalog';
import {
  DESK_TICKETS_WORKFLOW,
  deskTicketCheckWorkflowId,
  type DeskCheckInput,
  type TicketDesk,
} from '../contract';
import type { Db } from '../lib/db';
import { AppError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { temporalUnavailable } from './workflow-calls';

/** The header a ServiceNow outbound call carries the shared secret in. */
export const SERVICENOW_SECRET_HEADER = 'x-offboard-webhook-secret';

/** A system whose desk may call the webhook, with its secret. */
export interface DeskWebhookTarget {
  kind: TicketDesk;
  secret: string;
}

/**
 * The systems with a desk webhook (`connector.desk.webhookSecretEnv`) and their secrets from `env`; a
 * secret named but not set stops the API at start.
 */
export function deskWebhookTargets(catalog: Catalog, env: NodeJS.ProcessEnv): Map<string, DeskWebhookTarget> {
  const out = new Map<string, DeskWebhookTarget>();
  const missing: string[] = [];
  for (const s of catalog.systems) {
    const desk = s.connector.kind === 'ticket' ? s.connector.desk : undefined;
    if (!desk?.webhookSecretEnv) continue;
    const secret = env[desk.webhookSecretEnv];
    if (!secret)
      missing.push(
        `system "${s.id}", connector.desk.webhookSecretEnv: environment variable ${desk.webhookSecretEnv} is not set`,
      );
    else out.set(s.id, { kind: desk.kind, secret });
  }
  if (missing.length > 0)
    throw new AppError('config_invalid', `Invalid configuration:\n  ${missing.join('\n  ')}`);
  return out;
}

/** True when `signature` is `sha256=<hex>` of the HMAC-SHA256 of `body` with `secret` (Jira admin webhooks). */
export function verifyJiraSignature(secret: string, body: Buffer, signature: string | undefined): boolean {
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec(signature?.trim() ?? '');
  if (!m) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(m[1]!, 'hex'));
}

/** True when `given` is the shared secret (compared in constant time, whatever its length). */
export function verifySharedSecret(secret: string, given: string | undefined): boolean {
  if (!given) return false;
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(secret), digest(given));
}

const ISSUE_KEY = /^[A-Z][A-Z0-9_]{0,254}-[1-9]\d{0,17}$/;
const SYS_ID = /^[0-9a-f]{32}$/;

/** The desk ticket a verified delivery names: a Jira issue key or a ServiceNow sys_id. */
export function deskRefOf(kind: TicketDesk, body: Buffer): string {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new AppError('bad_request', 'the body is not JSON');
  }
  const o = (json && typeof json === 'object' ? json : {}) as Record<string, unknown>;
  if (kind === 'jira') {
    const key = (o.issue as { key?: unknown } | undefined)?.key;
    if (typeof key !== 'string' || !ISSUE_KEY.test(key))
      throw new AppError('validation_failed', 'the delivery names no issue', {
        fields: [{ field: 'issue.key', message: 'must be a Jira issue key such as HR-123' }],
      });
    return key;
  }
  if (typeof o.sys_id !== 'string' || !SYS_ID.test(o.sys_id))
    throw new AppError('validation_failed', 'the delivery names no record', {
      fields: [{ field: 'sys_id', message: 'must be a sys_id (32 hex characters)' }],
    });
  return o.sys_id;
}

export interface DeskWebhookDeps {
  db: Db;
  client: Client;
  logger: Logger;
  maxBodyBytes: number;
  /** The offboarding task queue (the worker there runs `deskTicketsWorkflow`). */
  taskQueue: string;
  targets: ReadonlyMap<string, DeskWebhookTarget>;
}

export function createDeskWebhookRouter(deps: DeskWebhookDeps | null, maxBodyBytes: number): express.Router {
  const r = express.Router();
  r.post(
    '/webhooks/desk/:systemId',
    express.raw({ type: () => true, limit: deps?.maxBodyBytes ?? maxBodyBytes }),
    async (req: Request, res: Response) => {
      const systemId = String(req.params.systemId);
      const target = deps?.targets.get(systemId);
      if (!deps || !target)
        throw new AppError(
          'not_found',
          `no service desk webhook is configured for system "${systemId.slice(0, 63)}" (connector.desk.webhookSecretEnv)`,
        );
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const valid =
        target.kind === 'jira'
          ? verifyJiraSignature(target.secret, body, req.get('x-hub-signature'))
          : verifySharedSecret(target.secret, req.get(SERVICENOW_SECRET_HEADER));
      if (!valid) {
        deps.logger.warn(
          { systemId, desk: target.kind, bytes: body.length },
          'desk webhook refused: bad signature',
        );
        throw new AppError(
          'signature_invalid',
          target.kind === 'jira'
            ? 'X-Hub-Signature is missing or is not sha256=<HMAC-SHA256 of the body with the webhook secret>'
            : `${SERVICENOW_SECRET_HEADER} is missing or is not the shared secret`,
        );
      }
      const ref = deskRefOf(target.kind, body);
      const ticket = await deps.db.ticket.findFirst({
        where: { systemId, deskKind: target.kind, deskRef: ref, status: 'open' },
        select: { id: true },
      });
      if (!ticket) {
        res
          .status(200)
          .json({ action: 'ignored', reason: `no open Offboard ticket is ${target.kind} ${ref}` });
        return;
      }
      const input: DeskCheckInput = { ticketIds: [ticket.id] };
      try {
        await deps.client.workflow.start(DESK_TICKETS_WORKFLOW, {
          taskQueue: deps.taskQueue,
          workflowId: deskTicketCheckWorkflowId(ticket.id),
          args: [input],
          // A read-back of this ticket already running will see the change too.
          workflowIdConflictPolicy: 'USE_EXISTING',
        });
      } catch (e) {
        if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw temporalUnavailable(e);
      }
      res.status(202).json({ action: 'check_started', ticketId: ticket.id });
    },
  );
  return r;
}
