/**
 * Directory (OpenLDAP or Active Directory) through ldapts: disable the account and remove it from every
 * group, confirmed by reading the entry and a group search back.
 *
 * Disabling: OpenLDAP's ppolicy lock (`pwdAccountLockedTime: 000001010000Z`, which refuses binds while a
 * default policy with `pwdLockout: TRUE` exists) or AD's ACCOUNTDISABLE bit in `userAccountControl`.
 * `groupOfNames` must keep one member: when the leaver is the last, `emptyGroupMember` takes their place.
 */
import {
  Attribute,
  Change,
  Client,
  EqualityFilter,
  InvalidCredentialsError,
  ObjectClassViolationError,
  OrFilter,
  InsufficientAccessError,
  type SearchOptions,
} from 'ldapts';
import type { LdapConnectorConfig } from '../config/catalog';
import { durationMs } from '../config/env';
import type { RevocationConnector, Subject } from './connector';
import {
  ConfirmationMismatchError,
  TargetAuthError,
  TargetRejectedError,
  TargetUnavailableError,
} from './errors';

/** The OpenLDAP ppolicy value meaning "locked by an administrator, permanently". */
export const PERMANENT_LOCK = '000001010000Z';
const ACCOUNTDISABLE = 0x2;

const escaper = new EqualityFilter({ attribute: 'x', value: '' });

/** Fills `{employeeId}` / `{workEmail}` in a filter template, escaping the values (RFC 4515). */
export function renderFilter(template: string, subject: Pick<Subject, 'employeeId' | 'workEmail'>): string {
  return template
    .replaceAll('{employeeId}', escaper.escape(subject.employeeId))
    .replaceAll('{workEmail}', escaper.escape(subject.workEmail));
}

function first(v: string | string[] | Buffer | Buffer[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  const x = Array.isArray(v) ? v[0] : v;
  return x === undefined ? undefined : x.toString();
}

function mapLdapError(e: unknown, what: string): Error {
  if (e instanceof InvalidCredentialsError || e instanceof InsufficientAccessError)
    return new TargetAuthError(`${what}: ${e.message}`);
  if (e instanceof TargetRejectedError || e instanceof ConfirmationMismatchError) return e;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' || e instanceof Error)
    return new TargetUnavailableError(`${what}: ${(e as Error).message}`);
  return new TargetUnavailableError(`${what}: ${String(e)}`);
}

/** Creates the LDAP connector for one catalog entry. */
export function createLdapConnector(cfg: LdapConnectorConfig, bindPassword: string): RevocationConnector {
  const timeout = durationMs(cfg.timeout);

  async function withClient<T>(what: string, fn: (c: Client) => Promise<T>): Promise<T> {
    const client = new Client({ url: cfg.url, timeout, connectTimeout: timeout });
    try {
      await client.bind(cfg.bindDn, bindPassword);
      return await fn(client);
    } catch (e) {
      throw mapLdapError(e, what);
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }

  const lockAttrs = ['pwdAccountLockedTime', 'userAccountControl'];

  async function findUser(c: Client, subject: Subject) {
    const opts: SearchOptions = {
      scope: 'sub',
      filter: renderFilter(cfg.userFilter, subject),
      attributes: ['dn', ...lockAttrs],
      sizeLimit: 2,
    };
    const { searchEntries } = await c.search(cfg.userBaseDn, opts);
    if (searchEntries.length > 1)
      throw new TargetRejectedError(`user filter matched ${searchEntries.length} entries; it must match one`);
    return searchEntries[0] ?? null;
  }

  async function groupsOf(c: Client, dn: string) {
    const { searchEntries } = await c.search(cfg.groupBaseDn, {
      scope: 'sub',
      filter: new OrFilter({
        filters: [
          new EqualityFilter({ attribute: 'member', value: dn }),
          new EqualityFilter({ attribute: 'uniqueMember', value: dn }),
        ],
      }),
      attributes: ['dn', 'member', 'uniqueMember'],
    });
    return searchEntries.map((g) => ({
      dn: g.dn,
      attr: (g.uniqueMember !== undefined && [g.uniqueMember].flat().map(String).includes(dn)
        ? 'uniqueMember'
        : 'member') as 'member' | 'uniqueMember',
    }));
  }

  function isDisabled(entry: Record<string, unknown>): boolean {
    if (cfg.disableMethod === 'openldap-ppolicy')
      return first(entry.pwdAccountLockedTime as string | undefined) === PERMANENT_LOCK;
    const uac = Number(first(entry.userAccountControl as string | undefined) ?? '0');
    return (uac & ACCOUNTDISABLE) !== 0;
  }

  return {
    executingSystem: `LDAP @ ${new URL(cfg.url).host}`,
    action: 'disable_account_remove_groups',
    async revoke(subject) {
      return withClient('LDAP revoke', async (c) => {
        const user = await findUser(c, subject);
        if (!user) {
          return {
            changes: [],
            confirmation: { exists: false },
            detail: 'no directory account (confirmed by search)',
          };
        }
        const changes: string[] = [];
        if (!isDisabled(user)) {
          if (cfg.disableMethod === 'openldap-ppolicy') {
            await c.modify(
              user.dn,
              new Change({
                operation: 'replace',
                modification: new Attribute({ type: 'pwdAccountLockedTime', values: [PERMANENT_LOCK] }),
              }),
            );
          } else {
            const uac = Number(first(user.userAccountControl as string | undefined) ?? '512');
            await c.modify(
              user.dn,
              new Change({
                operation: 'replace',
                modification: new Attribute({
                  type: 'userAccountControl',
                  values: [String(uac | ACCOUNTDISABLE)],
                }),
              }),
            );
          }
          changes.push('account disabled');
        }
        for (const g of await groupsOf(c, user.dn)) {
          try {
            await c.modify(
              g.dn,
              new Change({
                operation: 'delete',
                modification: new Attribute({ type: g.attr, values: [user.dn] }),
              }),
            );
          } catch (e) {
            if (!(e instanceof ObjectClassViolationError)) throw e;
            if (!cfg.emptyGroupMember)
              throw new TargetRejectedError(
                `cannot remove the last member of ${g.dn} (the schema needs one); set connector.emptyGroupMember`,
              );
            await c.modify(
              g.dn,
              new Change({
                operation: 'replace',
                modification: new Attribute({ type: g.attr, values: [cfg.emptyGroupMember] }),
              }),
            );
          }
          changes.push(`removed from ${g.dn}`);
        }
        const after = await findUser(c, subject);
        if (!after)
          return { changes, confirmation: { exists: false }, detail: 'account removed during revocation' };
        if (!isDisabled(after))
          throw new ConfirmationMismatchError('directory still shows the account enabled');
        const remaining = await groupsOf(c, after.dn);
        if (remaining.length > 0)
          throw new ConfirmationMismatchError(`still a member of ${remaining.map((g) => g.dn).join(', ')}`);
        return {
          changes,
          confirmation: {
            dn: after.dn,
            disabled: true,
            method: cfg.disableMethod,
            groups: 0,
          },
          detail: `account disabled (${cfg.disableMethod}), member of no group`,
        };
      });
    },
    async hasActiveAccount(subject) {
      return withClient('LDAP audit', async (c) => {
        const user = await findUser(c, subject);
        return !!user && !isDisabled(user);
      });
    },
  };
}
