/**
 * Connections to a directory (OpenLDAP or Active Directory) through ldapts, and what their failures
 * mean. Transport security per catalog entry:
 *
 * - `ldaps://`: TLS from the first byte (ldapts's `tlsOptions`).
 * - `ldap://` with `startTls` (the default for Active Directory, which refuses simple binds over a clear
 *   connection): a plain connection upgraded by the StartTLS extended operation before the bind. (ldapts
 *   turns any connection given `tlsOptions` into TLS from the first byte, which a plain port resets, so
 *   StartTLS is an explicit `startTLS()` call on a client made without them.)
 * - `ldap://` without StartTLS: clear text (OpenLDAP on a trusted network only).
 *
 * The server's certificate is verified against the system's CAs, or against `caFile` (or the file
 * `caFileEnv` names) when set; `tlsRejectUnauthorized: false` turns verification off and must be
 * written in the catalog.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import {
  Client,
  ConfidentialityRequiredError,
  InsufficientAccessError,
  InvalidCredentialsError,
  ProtocolError,
  StrongAuthRequiredError,
  UnavailableCriticalExtensionError,
} from 'ldapts';
import type { LdapConnectorConfig } from '../config/catalog';
import { durationMs } from '../config/env';
import {
  ConfirmationMismatchError,
  TargetAuthError,
  TargetRejectedError,
  TargetUnavailableError,
} from './errors';

/** What a connection needs from a catalog entry (`ldap` or `ldap-group`). */
export type LdapServerConfig = Pick<
  LdapConnectorConfig,
  'url' | 'bindDn' | 'timeout' | 'startTls' | 'caFile' | 'caFileEnv' | 'tlsRejectUnauthorized'
> & { disableMethod?: LdapConnectorConfig['disableMethod'] };

/** The message of an encryption-required refusal, naming both ways to fix it. */
export const ENCRYPTION_REQUIRED =
  'the directory requires an encrypted connection: use ldaps:// or startTls: true';

/** Opens (not yet bound) connections to one directory with the entry's transport security. */
export interface LdapConnector {
  /** A connected client; StartTLS already done when the entry uses it. */
  open(): Promise<Client>;
  /** `ldaps`, `starttls` or `none`: what protects the connection. */
  readonly transport: 'ldaps' | 'starttls' | 'none';
}

/**
 * Whether the entry upgrades `ldap://` with StartTLS: as the catalog says, else by default for Active
 * Directory (which refuses simple binds in clear text) and not for OpenLDAP.
 */
export function usesStartTls(cfg: LdapServerConfig): boolean {
  if (cfg.url.startsWith('ldaps://')) return false;
  return cfg.startTls ?? cfg.disableMethod === 'ad-useraccountcontrol';
}

/** Creates the connection factory of one catalog entry; `env` holds the variable `caFileEnv` names. */
export function ldapConnection(cfg: LdapServerConfig, env: NodeJS.ProcessEnv = process.env): LdapConnector {
  const timeout = durationMs(cfg.timeout);
  const ldaps = cfg.url.startsWith('ldaps://');
  const startTls = usesStartTls(cfg);
  const host = new URL(cfg.url).hostname.replace(/^\[|\]$/g, '');
  let ca: string | undefined | null = null;

  /** The CA certificates to trust (read once), or undefined for the system's. */
  function trusted(): string | undefined {
    if (ca !== null) return ca;
    const file = cfg.caFile ?? (cfg.caFileEnv ? env[cfg.caFileEnv] : undefined);
    if (cfg.caFileEnv && !file)
      throw new TargetRejectedError(`environment variable ${cfg.caFileEnv} (connector.caFileEnv) is not set`);
    try {
      ca = file ? readFileSync(file, 'utf8') : undefined;
    } catch (e) {
      const field = cfg.caFile ? 'connector.caFile' : `connector.caFileEnv (${cfg.caFileEnv})`;
      throw new TargetRejectedError(`cannot read the CA file ${file} (${field}): ${(e as Error).message}`);
    }
    return ca;
  }

  function tlsOptions(): ConnectionOptions {
    const cert = trusted();
    return {
      ...(cert ? { ca: cert } : {}),
      ...(cfg.tlsRejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
      // Verified against the URL's host name (Node sends no SNI for an IP address).
      host,
      ...(isIP(host) ? {} : { servername: host }),
    };
  }

  return {
    transport: ldaps ? 'ldaps' : startTls ? 'starttls' : 'none',
    async open() {
      const client = new Client({
        url: cfg.url,
        timeout,
        connectTimeout: timeout,
        ...(ldaps ? { tlsOptions: tlsOptions() } : {}),
      });
      if (startTls) {
        try {
          await client.startTLS(tlsOptions());
        } catch (e) {
          await client.unbind().catch(() => undefined);
          if (e instanceof ProtocolError || e instanceof UnavailableCriticalExtensionError)
            throw new TargetRejectedError(
              `the directory refused StartTLS (${e.message}): use an ldaps:// URL, or startTls: false where ` +
                'clear text is acceptable',
            );
          throw e;
        }
      }
      return client;
    },
  };
}

/** TLS errors of a certificate the client did not accept (Node's and OpenSSL's codes). */
const CERTIFICATE_ERRORS = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * A directory failure as a domain error: refused credentials and an encryption-required refusal are
 * TargetAuthError, an untrusted certificate TargetRejectedError (fix the catalog; retrying cannot
 * help), anything else TargetUnavailableError (retried by policy).
 */
export function mapLdapError(e: unknown, what: string): Error {
  if (e instanceof StrongAuthRequiredError || e instanceof ConfidentialityRequiredError)
    return new TargetAuthError(`${what}: ${ENCRYPTION_REQUIRED} (the directory said: ${e.message})`);
  if (e instanceof InvalidCredentialsError || e instanceof InsufficientAccessError)
    return new TargetAuthError(`${what}: ${e.message}`);
  if (
    e instanceof TargetRejectedError ||
    e instanceof TargetAuthError ||
    e instanceof ConfirmationMismatchError
  )
    return e;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && CERTIFICATE_ERRORS.has(code))
    return new TargetRejectedError(
      `${what}: the directory's TLS certificate was not accepted (${code}: ${(e as Error).message}): ` +
        (code === 'ERR_TLS_CERT_ALTNAME_INVALID'
          ? 'use a host name in the URL that the certificate names'
          : 'trust the CA that issued it with connector.caFile or connector.caFileEnv'),
    );
  if (e instanceof Error) return new TargetUnavailableError(`${what}: ${e.message}`);
  return new TargetUnavailableError(`${what}: ${String(e)}`);
}

/** The `data` code of an Active Directory bind refusal (`52e` wrong password, `533` disabled, ...). */
export function adBindCode(e: unknown): string | null {
  const m = e instanceof Error ? /\bdata ([0-9a-f]{3,8})\b/i.exec(e.message) : null;
  return m?.[1]?.toLowerCase() ?? null;
}
