/**
 * Slack through the SCIM API and the Web API. `deactivate` says what one entry does:
 *
 * - `organization` (action `deactivate_reset_sessions`): sign the user out of every session
 *   (`admin.users.session.reset`), then deactivate them through SCIM (`DELETE <scimUrl>/Users/<id>`; on
 *   Enterprise Grid that deactivates the user across the organization and every workspace). Confirmed by
 *   reading back SCIM `GET /Users/<id>` → `active: false` and `users.info` → `deleted: true`.
 * - `workspace` (Enterprise Grid, action `remove_from_workspace`): remove the user from one workspace
 *   (`admin.users.remove` with `teamId`); they stay active in the organization's other workspaces.
 *   Confirmed when `users.info` no longer lists `teamId` among `enterprise_user.teams`.
 *
 * Found by the account id the HRIS named (a Slack user id), else by the catalog's keys: `email` with
 * `users.lookupByEmail`. A repeat changes nothing.
 */
import type { SlackConnectorConfig } from '../config/catalog';
import type { RevocationConnector, RevokeResult, TargetAccount } from './connector';
import { ConfirmationMismatchError, TargetRejectedError } from './errors';
import { createMatcher, type KeyQuery, type MatchContext } from './matching';
import { createSlackApi } from './slack-api';

interface SlackUser {
  id: string;
  name?: string;
  deleted?: boolean;
  real_name?: string;
  profile?: { email?: string; real_name?: string };
  enterprise_user?: { enterprise_id?: string; teams?: string[] };
}
interface ScimUser {
  id: string;
  userName?: string;
  active?: boolean;
}

export const ORG_ACTION = 'deactivate_reset_sessions';
export const WORKSPACE_ACTION = 'remove_from_workspace';
const NOT_FOUND = ['user_not_found', 'users_not_found'];

export interface SlackAccount extends TargetAccount {
  user: SlackUser;
}

const accountOf = (u: SlackUser): SlackAccount => {
  const email = u.profile?.email;
  const real = u.real_name ?? u.profile?.real_name;
  return {
    id: u.id,
    name: real ? `${real}${email ? ` <${email}>` : ''} (${u.id})` : (email ?? u.name ?? u.id),
    aliases: [u.name, email].filter((x): x is string => !!x),
    user: u,
  };
};

/** Creates the Slack connector for one catalog entry; `match` says how the leaver's account is found. */
export function createSlackConnector(
  cfg: SlackConnectorConfig,
  token: string,
  match: MatchContext,
): RevocationConnector<SlackAccount> {
  const api = createSlackApi(cfg, token);
  const info = async (id: string) =>
    (await api.web<{ user: SlackUser }>('users.info', { user: id }, NOT_FOUND))?.user ?? null;
  const scimUser = (id: string) => api.scim<ScimUser>('GET', `/Users/${encodeURIComponent(id)}`);
  const inWorkspace = (u: SlackUser) => (u.enterprise_user?.teams ?? []).includes(cfg.teamId ?? '');

  const gone = (id: string, changes: string[]): RevokeResult => ({
    changes,
    confirmation: { id, exists: false },
    detail: 'the user no longer exists in Slack (users.info: user_not_found)',
  });

  async function revokeOrganization(_s: unknown, account: SlackAccount): Promise<RevokeResult> {
    const id = account.id;
    const [before, scim] = await Promise.all([info(id), scimUser(id)]);
    if (!before) return gone(id, []);
    const changes: string[] = [];
    const active = scim ? scim.active !== false : !before.deleted;
    if (active) {
      // Sessions first, while the user is still active: a deactivated user cannot be signed out again.
      await api.web('admin.users.session.reset', { user_id: id });
      changes.push('signed out of every session (admin.users.session.reset)');
      await api.scim('DELETE', `/Users/${encodeURIComponent(id)}`);
      changes.push(
        'deactivated through SCIM (on Enterprise Grid: across the organization and every workspace)',
      );
    }
    const [after, scimAfter] = await Promise.all([info(id), scimUser(id)]);
    if (!after) return gone(id, changes);
    const left: string[] = [];
    if (scimAfter && scimAfter.active !== false) left.push('SCIM active: true');
    if (!scimAfter) left.push('SCIM does not know the user (cannot confirm active: false)');
    if (after.deleted !== true) left.push('users.info deleted: false');
    if (left.length > 0)
      throw new ConfirmationMismatchError(`Slack still shows, after revocation: ${left.join('; ')}`);
    return {
      changes,
      confirmation: {
        id,
        scimActive: false,
        deleted: true,
        sessions: active
          ? 'reset with admin.users.session.reset; not read back (a deactivated user holds none)'
          : 'not reset in this run: the user was already deactivated',
        readBack: [`SCIM GET /Users/${id} → active: false`, `users.info → deleted: true`],
      },
      detail: [
        `user deactivated${active ? '' : ' (already)'}: SCIM active false, users.info deleted true`,
        active ? 'every session reset' : 'sessions not reset again (already deactivated)',
      ].join('; '),
    };
  }

  async function revokeWorkspace(_s: unknown, account: SlackAccount): Promise<RevokeResult> {
    const id = account.id;
    const before = await info(id);
    if (!before) return gone(id, []);
    const changes: string[] = [];
    if (inWorkspace(before)) {
      await api.web('admin.users.remove', { team_id: cfg.teamId ?? '', user_id: id });
      changes.push(`removed from workspace ${cfg.teamId} (admin.users.remove; still active elsewhere)`);
    }
    const after = await info(id);
    if (!after) return gone(id, changes);
    if (inWorkspace(after))
      throw new ConfirmationMismatchError(`Slack still lists workspace ${cfg.teamId} for the user`);
    return {
      changes,
      confirmation: {
        id,
        teamId: cfg.teamId,
        inWorkspace: false,
        workspaces: after.enterprise_user?.teams ?? [],
        readBack: [`users.info → enterprise_user.teams without ${cfg.teamId}`],
      },
      detail:
        `not a member of workspace ${cfg.teamId}${changes.length ? '' : ' (already)'}; the account stays ` +
        'active in the organization (deactivate: organization deactivates it everywhere)',
    };
  }

  async function liveAccess(a: SlackAccount): Promise<string | null> {
    const u = await info(a.id);
    if (!u) return null;
    if (cfg.deactivate === 'workspace') return inWorkspace(u) ? `member of workspace ${cfg.teamId}` : null;
    const scim = await scimUser(a.id);
    const why: string[] = [];
    if (u.deleted !== true) why.push('deleted=false');
    if (scim?.active) why.push('SCIM active=true');
    return why.length ? why.join('; ') : null;
  }

  async function searchKey(q: KeyQuery): Promise<SlackAccount[]> {
    if ('filter' in q.key || q.key.attribute !== 'email')
      throw new TargetRejectedError('a Slack key must be email (users.lookupByEmail)');
    const r = await api.web<{ user: SlackUser }>('users.lookupByEmail', { email: q.value }, NOT_FOUND);
    const u = r?.user;
    return u && u.profile?.email?.toLowerCase() === q.value.toLowerCase() ? [accountOf(u)] : [];
  }

  const matcher = createMatcher<SlackAccount>(
    {
      async lookup(id) {
        const u = await info(id);
        return u ? accountOf(u) : null;
      },
      search: (queries) => Promise.all(queries.map(searchKey)),
      liveAccess,
    },
    match,
  );

  const workspace = cfg.deactivate === 'workspace';
  return {
    executingSystem: `Slack @ ${api.host}${workspace ? ` (workspace ${cfg.teamId})` : ''}`,
    action: workspace ? WORKSPACE_ACTION : ORG_ACTION,
    find: matcher.find,
    audit: matcher.audit,
    revoke: workspace ? revokeWorkspace : revokeOrganization,
    close: () => api.close(),
  };
}
