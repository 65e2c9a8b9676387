/**
 * AWS IAM users through the IAM Query API (official AWS SDK v3, `@aws-sdk/client-iam`). Revokes every
 * credential an IAM user holds, then reads each back:
 *
 * - access keys: `UpdateAccessKey Status=Inactive` (or `DeleteAccessKey`, catalog `accessKeys: delete`);
 *   read back: `ListAccessKeys` shows none active (none at all when deleted);
 * - console password: `DeleteLoginProfile`; read back: `GetLoginProfile` answers `NoSuchEntity`;
 * - MFA devices: `DeactivateMFADevice`, then `DeleteVirtualMFADevice` for a virtual one (it must be
 *   deactivated first); read back: `ListMFADevices` is empty;
 * - SSH public keys (CodeCommit), signing certificates and service-specific credentials (CodeCommit Git,
 *   Keyspaces, Bedrock): `Update… Status=Inactive`; read back: their lists show none active;
 * - groups: `RemoveUserFromGroup`; read back: `ListGroupsForUser` is empty.
 *
 * The user itself is kept (deleting it loses the audit trail that names it). Policies attached to the user
 * directly are left: without credentials they grant nothing. Role sessions already issued (STS) live until
 * they expire: docs/runbook.md says how to cut them off.
 *
 * Found by the catalog's keys: `userName` is the IAM user name (`GetUser`, one call per key); any other
 * attribute is a tag key, found by `ListUsers` (under `pathPrefix`) and one `ListUserTags` per user: a
 * cost of about one call per IAM user per search, so tag keys are not among the defaults.
 */
import {
  DeactivateMFADeviceCommand,
  DeleteAccessKeyCommand,
  DeleteLoginProfileCommand,
  DeleteVirtualMFADeviceCommand,
  GetLoginProfileCommand,
  GetUserCommand,
  IAMClient,
  ListServiceSpecificCredentialsCommand,
  RemoveUserFromGroupCommand,
  UpdateAccessKeyCommand,
  UpdateServiceSpecificCredentialCommand,
  UpdateSSHPublicKeyCommand,
  UpdateSigningCertificateCommand,
  paginateListAccessKeys,
  paginateListGroupsForUser,
  paginateListMFADevices,
  paginateListSSHPublicKeys,
  paginateListSigningCertificates,
  paginateListUserTags,
  paginateListUsers,
  type User,
} from '@aws-sdk/client-iam';
import pLimit from 'p-limit';
import type { AwsIamConnectorConfig } from '../config/catalog';
import { CALL_TIMEOUT_MS } from '../lib/http';
import type { RevocationConnector, TargetAccount } from './connector';
import {
  ConfirmationMismatchError,
  TargetAuthError,
  TargetRejectedError,
  TargetThrottledError,
  TargetUnavailableError,
} from './errors';
import { createMatcher, type KeyQuery, type MatchContext } from './matching';

export const AWS_IAM_ACTION = 'deactivate_credentials_remove_groups';

/** The IAM user name key; any other key attribute is a tag key. */
const USER_NAME = 'userName';
/** Users whose tags are read at once during a tag search. */
const TAG_READS_IN_FLIGHT = 5;

/** An IAM user as matching found it. */
export interface AwsIamAccount extends TargetAccount {
  user: User;
}

const accountOf = (u: User): AwsIamAccount => ({
  id: u.UserName ?? '',
  name: u.Arn ? `${u.UserName} <${u.Arn}>` : (u.UserName ?? ''),
  aliases: [u.UserName, u.Arn, u.UserId].filter((x): x is string => !!x),
  user: u,
});

/** The secrets of one connector, read from the environment variables the catalog names. */
export interface AwsIamCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

interface AwsError {
  name?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
}

/**
 * The domain error of a failed IAM call. AccessDenied names the missing IAM action (from AWS's message
 * "… is not authorized to perform: iam:X on resource …", else the call's own action); Throttling is
 * retried later; 5xx and network errors are the target being unavailable.
 */
export function iamError(e: unknown, action: string): Error {
  const err = (e ?? {}) as AwsError;
  const name = err.name ?? 'Error';
  const msg = (err.message ?? String(e)).slice(0, 300);
  const status = err.$metadata?.httpStatusCode;
  if (/^(AccessDenied|AccessDeniedException|UnauthorizedOperation)$/.test(name)) {
    const missing = /not authorized to perform:?\s*([a-z0-9-]+:[A-Za-z0-9*]+)/.exec(msg)?.[1] ?? action;
    return new TargetAuthError(
      `AWS IAM ${action}: access denied: the connector's identity lacks ${missing} (${msg})`,
    );
  }
  if (
    /^(InvalidClientTokenId|SignatureDoesNotMatch|ExpiredToken|IncompleteSignature|UnrecognizedClientException)$/.test(
      name,
    )
  )
    return new TargetAuthError(
      `AWS IAM ${action}: ${name}: the connector's credentials were refused (${msg})`,
    );
  if (
    /^(Throttling|ThrottlingException|RequestLimitExceeded|TooManyRequestsException)$/.test(name) ||
    status === 429
  )
    return new TargetThrottledError(`AWS IAM ${action}: throttled (${name})`, 1_000);
  if ((status !== undefined && status >= 500) || err.$fault === 'server' || status === undefined)
    return new TargetUnavailableError(`AWS IAM ${action}: ${name}: ${msg}`);
  return new TargetRejectedError(`AWS IAM ${action}: ${name}: ${msg}`);
}

/** IAM's `NoSuchEntity` (the SDK names its class `NoSuchEntityException`). */
const isNoSuchEntity = (e: unknown) => /^NoSuchEntity(Exception)?$/.test((e as AwsError | null)?.name ?? '');

/** Creates the AWS IAM connector for one catalog entry; `match` says how the leaver's user is found. */
export function createAwsIamConnector(
  cfg: AwsIamConnectorConfig,
  credentials: AwsIamCredentials,
  match: MatchContext,
): RevocationConnector<AwsIamAccount> {
  const client = new IAMClient({
    region: cfg.region,
    ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
    credentials,
    // Temporal retries by the system's policy; the SDK's own retries would hide throttling from it.
    maxAttempts: 1,
    requestHandler: { connectionTimeout: CALL_TIMEOUT_MS, requestTimeout: CALL_TIMEOUT_MS },
  });

  /** One IAM call, its failure mapped to a domain error. */
  async function call<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw iamError(e, action);
    }
  }
  /** Every item of a paginated list. */
  async function all<P, T>(action: string, pages: AsyncIterable<P>, items: (p: P) => T[] | undefined) {
    return call(action, async () => {
      const out: T[] = [];
      for await (const p of pages) out.push(...(items(p) ?? []));
      return out;
    });
  }

  const UserName = (a: AwsIamAccount) => a.id;

  async function getUser(name: string): Promise<User | null> {
    try {
      return (await client.send(new GetUserCommand({ UserName: name }))).User ?? null;
    } catch (e) {
      if (isNoSuchEntity(e)) return null;
      throw iamError(e, 'iam:GetUser');
    }
  }

  /** Users carrying tag `key` = `value`: ListUsers, then ListUserTags of each (tag values are exact). */
  async function usersWithTag(key: string, value: string): Promise<User[]> {
    const users = await all(
      'iam:ListUsers',
      paginateListUsers({ client }, cfg.pathPrefix ? { PathPrefix: cfg.pathPrefix } : {}),
      (p) => p.Users,
    );
    const limit = pLimit(TAG_READS_IN_FLIGHT);
    const tagged = await Promise.all(
      users.map((u) =>
        limit(async () => {
          const tags = await all(
            'iam:ListUserTags',
            paginateListUserTags({ client }, { UserName: u.UserName }),
            (p) => p.Tags,
          );
          // Tag keys are case-insensitive in IAM; values are case-sensitive.
          return tags.some((t) => t.Key?.toLowerCase() === key.toLowerCase() && t.Value === value) ? u : null;
        }),
      ),
    );
    return tagged.filter((u): u is User => u !== null);
  }

  async function searchKey(q: KeyQuery): Promise<AwsIamAccount[]> {
    if ('filter' in q.key) throw new TargetRejectedError('an AWS IAM key cannot be an LDAP filter');
    if (q.key.attribute === USER_NAME) {
      const u = await getUser(q.value);
      // IAM user names are unique without regard to case, and GetUser finds them so.
      return u && u.UserName?.toLowerCase() === q.value.toLowerCase() ? [accountOf(u)] : [];
    }
    return (await usersWithTag(q.key.attribute, q.value)).map(accountOf);
  }

  /** What the user holds now: every credential and group, as IAM lists them. */
  async function read(a: AwsIamAccount) {
    const name = UserName(a);
    const [keys, loginProfile, mfa, ssh, certs, ssc, groups] = await Promise.all([
      all(
        'iam:ListAccessKeys',
        paginateListAccessKeys({ client }, { UserName: name }),
        (p) => p.AccessKeyMetadata,
      ),
      call('iam:GetLoginProfile', async () => {
        try {
          await client.send(new GetLoginProfileCommand({ UserName: name }));
          return true;
        } catch (e) {
          if (isNoSuchEntity(e)) return false;
          throw e;
        }
      }),
      all('iam:ListMFADevices', paginateListMFADevices({ client }, { UserName: name }), (p) => p.MFADevices),
      all(
        'iam:ListSSHPublicKeys',
        paginateListSSHPublicKeys({ client }, { UserName: name }),
        (p) => p.SSHPublicKeys,
      ),
      all(
        'iam:ListSigningCertificates',
        paginateListSigningCertificates({ client }, { UserName: name }),
        (p) => p.Certificates,
      ),
      cfg.serviceSpecificCredentials
        ? call('iam:ListServiceSpecificCredentials', async () =>
            (
              (await client.send(new ListServiceSpecificCredentialsCommand({ UserName: name })))
                .ServiceSpecificCredentials ?? []
            ).map((c) => ({
              id: c.ServiceSpecificCredentialId ?? '',
              status: c.Status,
              service: c.ServiceName,
            })),
          )
        : Promise.resolve(null),
      all(
        'iam:ListGroupsForUser',
        paginateListGroupsForUser({ client }, { UserName: name }),
        (p) => p.Groups,
      ),
    ]);
    return {
      keys: keys.map((k) => ({ id: k.AccessKeyId ?? '', status: k.Status })),
      loginProfile,
      mfa: mfa.map((m) => m.SerialNumber ?? ''),
      ssh: ssh.map((k) => ({ id: k.SSHPublicKeyId ?? '', status: k.Status })),
      certs: certs.map((c) => ({ id: c.CertificateId ?? '', status: c.Status })),
      ssc,
      groups: groups.map((g) => g.GroupName ?? ''),
    };
  }
  type Held = Awaited<ReturnType<typeof read>>;

  const active = <T extends { status?: string | undefined }>(l: T[]) =>
    l.filter((x) => x.status === 'Active');

  /** What still gives access (or would, once the user is in a group again), one phrase each. */
  function stillHeld(h: Held): string[] {
    const out: string[] = [];
    const n = (count: number, what: string) => count > 0 && out.push(`${count} ${what}`);
    n(active(h.keys).length, 'active access key(s)');
    if (h.loginProfile) out.push('console password (login profile)');
    n(h.mfa.length, 'MFA device(s)');
    n(active(h.ssh).length, 'active SSH public key(s)');
    n(active(h.certs).length, 'active signing certificate(s)');
    n(active(h.ssc ?? []).length, 'active service-specific credential(s)');
    n(h.groups.length, 'group membership(s)');
    return out;
  }

  const matcher = createMatcher<AwsIamAccount>(
    {
      async lookup(id) {
        const u = await getUser(id);
        return u ? accountOf(u) : null;
      },
      search: (queries) => Promise.all(queries.map(searchKey)),
      async groupsOf(a) {
        return (
          await all(
            'iam:ListGroupsForUser',
            paginateListGroupsForUser({ client }, { UserName: UserName(a) }),
            (p) => p.Groups,
          )
        ).flatMap((g) => [g.GroupName ?? '', g.Arn ?? ''].filter(Boolean));
      },
      async liveAccess(a) {
        const left = stillHeld(await read(a));
        return left.length > 0 ? left.join(', ') : null;
      },
    },
    match,
  );

  return {
    executingSystem: `AWS IAM @ ${cfg.endpoint ? new URL(cfg.endpoint).host : `iam (${cfg.region})`}`,
    action: AWS_IAM_ACTION,
    find: matcher.find,
    audit: matcher.audit,
    async revoke(_subject, account) {
      const UserName = account.id;
      const before = await read(account);
      const changes: string[] = [];

      for (const k of before.keys) {
        if (cfg.accessKeys === 'delete') {
          await call('iam:DeleteAccessKey', () =>
            client.send(new DeleteAccessKeyCommand({ UserName, AccessKeyId: k.id })),
          );
          changes.push(`access key ${k.id} deleted`);
        } else if (k.status === 'Active') {
          await call('iam:UpdateAccessKey', () =>
            client.send(new UpdateAccessKeyCommand({ UserName, AccessKeyId: k.id, Status: 'Inactive' })),
          );
          changes.push(`access key ${k.id} deactivated`);
        }
      }
      if (before.loginProfile) {
        await call('iam:DeleteLoginProfile', async () => {
          try {
            await client.send(new DeleteLoginProfileCommand({ UserName }));
          } catch (e) {
            if (!isNoSuchEntity(e)) throw e;
          }
        });
        changes.push('console login profile deleted');
      }
      for (const serial of before.mfa) {
        await call('iam:DeactivateMFADevice', () =>
          client.send(new DeactivateMFADeviceCommand({ UserName, SerialNumber: serial })),
        );
        changes.push(`MFA device ${serial} deactivated`);
        // A virtual device's serial is its ARN (…:mfa/<name>); hardware and FIDO devices are gone once
        // deactivated.
        if (serial.startsWith('arn:') && serial.includes(':mfa/')) {
          await call('iam:DeleteVirtualMFADevice', () =>
            client.send(new DeleteVirtualMFADeviceCommand({ SerialNumber: serial })),
          );
          changes.push(`virtual MFA device ${serial} deleted`);
        }
      }
      for (const k of active(before.ssh)) {
        await call('iam:UpdateSSHPublicKey', () =>
          client.send(new UpdateSSHPublicKeyCommand({ UserName, SSHPublicKeyId: k.id, Status: 'Inactive' })),
        );
        changes.push(`SSH public key ${k.id} deactivated`);
      }
      for (const c of active(before.certs)) {
        await call('iam:UpdateSigningCertificate', () =>
          client.send(
            new UpdateSigningCertificateCommand({ UserName, CertificateId: c.id, Status: 'Inactive' }),
          ),
        );
        changes.push(`signing certificate ${c.id} deactivated`);
      }
      for (const c of active(before.ssc ?? [])) {
        await call('iam:UpdateServiceSpecificCredential', () =>
          client.send(
            new UpdateServiceSpecificCredentialCommand({
              UserName,
              ServiceSpecificCredentialId: c.id,
              Status: 'Inactive',
            }),
          ),
        );
        changes.push(`service-specific credential ${c.id} (${c.service}) deactivated`);
      }
      for (const g of before.groups) {
        await call('iam:RemoveUserFromGroup', () =>
          client.send(new RemoveUserFromGroupCommand({ UserName, GroupName: g })),
        );
        changes.push(`removed from group ${g}`);
      }

      const after = await read(account);
      const left = stillHeld(after);
      if (cfg.accessKeys === 'delete' && after.keys.length > 0)
        left.push(`${after.keys.length} access key(s) not deleted`);
      if (left.length > 0)
        throw new ConfirmationMismatchError(`AWS IAM still shows ${left.join(', ')} for ${UserName}`);
      return {
        changes,
        confirmation: {
          userName: UserName,
          arn: account.user.Arn,
          accessKeys: after.keys,
          loginProfile: 'NoSuchEntity',
          mfaDevices: after.mfa,
          sshPublicKeys: after.ssh,
          signingCertificates: after.certs,
          serviceSpecificCredentials: after.ssc ?? 'not checked (catalog: serviceSpecificCredentials false)',
          groups: after.groups,
        },
        detail:
          changes.length > 0
            ? `IAM user credentials deactivated and groups removed (${changes.length} changes, read back)`
            : 'IAM user already without active credentials or groups (read back, nothing changed)',
      };
    },
    async close() {
      client.destroy();
    },
  };
}
