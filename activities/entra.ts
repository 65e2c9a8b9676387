/**
 * Microsoft Entra ID through Microsoft Graph: disable the account and revoke its sign-in sessions,
 * confirmed by reading `accountEnabled` and `signInSessionsValidFromDateTime` back.
 *
 * Temporal owns retries: the Graph SDK's own RetryHandler is left out of the middleware chain, and a
 * 429/503 with `Retry-After` becomes the activity's next retry delay.
 */
import { readFileSync } from 'node:fs';
import {
  AuthenticationHandler,
  Client,
  GraphError,
  HTTPMessageHandler,
  type AuthenticationProvider,
} from '@microsoft/microsoft-graph-client';
import { Agent } from 'undici';
import type { EntraConnectorConfig } from '../config/catalog';
import type { RevocationConnector, Subject } from './connector';
import { TargetAuthError, TargetUnavailableError, ConfirmationMismatchError, errorForStatus } from './errors';

interface GraphUser {
  id: string;
  userPrincipalName?: string;
  accountEnabled?: boolean;
  signInSessionsValidFromDateTime?: string | null;
}

/** OAuth 2.0 client-credentials token provider with caching (the secret never leaves this closure). */
function clientCredentials(
  cfg: EntraConnectorConfig,
  secret: string,
  dispatcher?: Agent,
): AuthenticationProvider {
  let cached: { token: string; expiresAt: number } | null = null;
  const tokenUrl = `${cfg.authorityUrl.replace(/\/$/, '')}/${encodeURIComponent(cfg.tenantId)}/oauth2/v2.0/token`;
  const scope = `${new URL(cfg.graphBaseUrl).origin}/.default`;
  return {
    async getAccessToken() {
      if (cached && cached.expiresAt > Date.now() + 60_000) return cached.token;
      let res: Response;
      try {
        res = await fetch(tokenUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'client_credentials',
            client_id: cfg.clientId,
            client_secret: secret,
            scope,
          }),
          signal: AbortSignal.timeout(10_000),
          ...(dispatcher ? { dispatcher } : {}),
        } as RequestInit);
      } catch (e) {
        throw new TargetUnavailableError(`token endpoint unreachable: ${(e as Error).message}`);
      }
      const body = (await res.json().catch(() => ({}))) as {
        access_token?: string;
        expires_in?: number;
        error?: string;
        error_description?: string;
      };
      if (!res.ok || !body.access_token) {
        const msg = `token request refused (${res.status}): ${body.error ?? 'unknown'}`;
        if (res.status === 400 || res.status === 401) throw new TargetAuthError(msg);
        throw errorForStatus(res.status, msg, res.headers.get('retry-after'));
      }
      cached = { token: body.access_token, expiresAt: Date.now() + (body.expires_in ?? 3600) * 1000 };
      return cached.token;
    },
  };
}

function mapGraphError(e: unknown, what: string): Error {
  if (e instanceof GraphError) {
    const retryAfter =
      e.headers && typeof (e.headers as Headers).get === 'function'
        ? (e.headers as Headers).get('retry-after')
        : null;
    if (e.statusCode === -1 || e.statusCode === 0) return new TargetUnavailableError(`${what}: ${e.message}`);
    return errorForStatus(
      e.statusCode,
      `${what}: Graph ${e.statusCode} ${e.code ?? ''} ${e.message}`,
      retryAfter,
    );
  }
  if (e instanceof Error && /fetch failed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|aborted|timeout/i.test(e.message))
    return new TargetUnavailableError(`${what}: ${e.message}`);
  return e instanceof Error ? e : new Error(String(e));
}

function sessionsValidFrom(u: GraphUser): number {
  return u.signInSessionsValidFromDateTime ? Date.parse(u.signInSessionsValidFromDateTime) : 0;
}

function isNotFound(e: unknown): boolean {
  return e instanceof GraphError && e.statusCode === 404;
}

/** Creates the Entra connector for one catalog entry. */
export function createEntraConnector(cfg: EntraConnectorConfig, secret: string): RevocationConnector {
  const dispatcher = cfg.caFile
    ? new Agent({ connect: { ca: readFileSync(cfg.caFile, 'utf8') }, keepAliveTimeout: 30_000 })
    : undefined;
  const auth = new AuthenticationHandler(clientCredentials(cfg, secret, dispatcher));
  auth.setNext(new HTTPMessageHandler());
  const client = Client.initWithMiddleware({
    middleware: auth,
    baseUrl: cfg.graphBaseUrl.replace(/\/$/, '') + '/',
    defaultVersion: 'v1.0',
    customHosts: new Set([new URL(cfg.graphBaseUrl).hostname]),
    fetchOptions: dispatcher ? { dispatcher } : undefined,
  });
  const select = 'id,userPrincipalName,accountEnabled,signInSessionsValidFromDateTime';

  async function getUser(upn: string): Promise<GraphUser | null> {
    try {
      return (await client
        .api(`/users/${encodeURIComponent(upn)}`)
        .select(select)
        .get()) as GraphUser;
    } catch (e) {
      if (isNotFound(e)) return null;
      throw mapGraphError(e, 'GET user');
    }
  }

  return {
    executingSystem: `Microsoft Graph @ ${new URL(cfg.graphBaseUrl).host}`,
    action: 'disable_account_revoke_sessions',
    async revoke(subject: Subject) {
      const before = await getUser(subject.workEmail);
      if (!before) {
        return {
          changes: [],
          confirmation: { userPrincipalName: subject.workEmail, exists: false },
          detail: 'no account in Entra ID (confirmed by lookup)',
        };
      }
      const changes: string[] = [];
      if (before.accountEnabled !== false) {
        try {
          await client.api(`/users/${before.id}`).patch({ accountEnabled: false });
        } catch (e) {
          throw mapGraphError(e, 'PATCH accountEnabled=false');
        }
        changes.push('accountEnabled=false');
      }
      // Sessions must be valid only from after the termination was confirmed. A repeat of this step
      // (after a crash) finds that already true and does not revoke again.
      // (Bounded by now minus a minute, in case the HRIS clock runs ahead of Entra's.)
      const terminatedAt = Math.min(Date.parse(subject.confirmedAt), Date.now() - 60_000);
      if (sessionsValidFrom(before) < terminatedAt || changes.length > 0) {
        try {
          await client.api(`/users/${before.id}/revokeSignInSessions`).post({});
        } catch (e) {
          throw mapGraphError(e, 'POST revokeSignInSessions');
        }
        changes.push('revokeSignInSessions');
      }
      const after = await getUser(before.id);
      if (!after) {
        return {
          changes,
          confirmation: { id: before.id, exists: false },
          detail: 'account removed during revocation',
        };
      }
      if (after.accountEnabled !== false) {
        throw new ConfirmationMismatchError(
          `Entra still reports accountEnabled=${String(after.accountEnabled)}`,
        );
      }
      if (sessionsValidFrom(after) < terminatedAt) {
        throw new ConfirmationMismatchError(
          `Entra sign-in sessions are still valid from ${after.signInSessionsValidFromDateTime ?? 'ever'}, before the termination`,
        );
      }
      return {
        changes,
        confirmation: {
          id: after.id,
          accountEnabled: after.accountEnabled,
          signInSessionsValidFromDateTime: after.signInSessionsValidFromDateTime ?? null,
        },
        detail: `account disabled, sessions valid only from ${after.signInSessionsValidFromDateTime ?? 'n/a'}`,
      };
    },
    async hasActiveAccount(subject) {
      const u = await getUser(subject.workEmail);
      return !!u && u.accountEnabled !== false;
    },
    async close() {
      await dispatcher?.close();
    },
  };
}
