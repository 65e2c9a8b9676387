/**
 * GitHub through its REST API (and GraphQL for SAML identities), for one organization (`org`). Action
 * `remove_org_access_revoke_credential_authorizations` (application tier):
 *
 * - revoke every SAML SSO credential authorization of the leaver's login (`GET
 *   /orgs/{org}/credential-authorizations?login=…`, `DELETE …/credential-authorizations/{credential_id}`;
 *   GitHub Enterprise Cloud with SAML only, `samlSso: true`), first, while the membership still lists them;
 * - remove the organization membership (`DELETE /orgs/{org}/members/{login}`, which also removes every
 *   team membership), or cancel a pending invitation (`DELETE /orgs/{org}/memberships/{login}`);
 * - remove outside-collaborator access to every repository (`DELETE
 *   /orgs/{org}/outside_collaborators/{login}`).
 *
 * Confirmed by reading back `GET /orgs/{org}/members/{login}` → 404, `GET /orgs/{org}/memberships/{login}`
 * → 404, the outside collaborators without the login, and (with SAML) no credential authorization left.
 * The leaver's GitHub account is their own (unless Enterprise Managed Users): the evidence says plainly
 * what the organization cannot revoke.
 *
 * Found by the account the HRIS (or an operator) named (a login, or a numeric user id), else by the
 * catalog's keys: `samlNameId` searches the organization's SAML external identities
 * (`organization.samlIdentityProvider.externalIdentities(userName: …)`) and takes the GitHub user linked
 * to the identity whose SAML `nameId` (or SCIM `userName`) is the value. A repeat changes nothing.
 */
import type { GithubConnectorConfig } from '../config/catalog';
import type { RevocationConnector, RevokeResult, TargetAccount } from './connector';
import { ConfirmationMismatchError, TargetRejectedError } from './errors';
import { createGithubApi } from './github-api';
import { createMatcher, type KeyQuery, type MatchContext } from './matching';

interface GithubUser {
  login: string;
  id: number;
  name?: string | null;
}
interface Membership {
  state: 'active' | 'pending';
  role?: string;
}
interface CredentialAuthorization {
  login: string;
  credential_id: number;
  credential_type: string;
  token_last_eight?: string | null;
  fingerprint?: string | null;
  authorized_credential_title?: string | null;
  authorized_credential_note?: string | null;
}

export const GITHUB_ACTION = 'remove_org_access_revoke_credential_authorizations';
/** The attribute of the SAML key (`match.keys`). */
export const SAML_NAME_ID = 'samlNameId';

/** What an organization cannot revoke on a personal GitHub account: said in every step's evidence. */
export const NOT_REVOCABLE = [
  'the GitHub account itself: it belongs to the person, not to the organization, and stays usable',
  'their personal access tokens, SSH keys, OAuth and GitHub App authorizations: only they can revoke ' +
    'them (removal ends what those credentials can reach in this organization)',
  'forks of public repositories and anything already cloned or downloaded remain theirs',
];

/** A GitHub user as matching found it; `id` is the login (the REST API's key). */
export interface GithubAccount extends TargetAccount {
  userId: number;
}

const accountOf = (u: GithubUser, nameId?: string): GithubAccount => ({
  id: u.login,
  name: u.name ? `${u.name} (@${u.login})` : `@${u.login}`,
  aliases: [u.login, String(u.id), ...(nameId ? [nameId] : [])],
  userId: u.id,
});

const SAML_QUERY = `query($org: String!, $userName: String!) {
  organization(login: $org) {
    samlIdentityProvider {
      externalIdentities(userName: $userName, first: 10) {
        nodes { guid samlIdentity { nameId } scimIdentity { username } user { login databaseId name } }
      }
    }
  }
}`;
interface SamlAnswer {
  organization: {
    samlIdentityProvider: {
      externalIdentities: {
        nodes: {
          samlIdentity: { nameId: string | null } | null;
          scimIdentity: { username: string | null } | null;
          user: { login: string; databaseId: number; name?: string | null } | null;
        }[];
      };
    } | null;
  } | null;
}

const credentialLabel = (c: CredentialAuthorization) => {
  const what =
    c.credential_type === 'SSH key' || c.credential_type === 'SSH Key'
      ? `SSH key${c.fingerprint ? ` ${c.fingerprint}` : ''}`
      : `${c.credential_type}${c.token_last_eight ? ` …${c.token_last_eight}` : ''}`;
  const title = c.authorized_credential_title ?? c.authorized_credential_note;
  return `${what}${title ? ` "${title}"` : ''} (credential ${c.credential_id})`;
};

/** Creates the GitHub connector for one catalog entry; `match` says how the leaver's account is found. */
export function createGithubConnector(
  cfg: GithubConnectorConfig,
  token: string,
  match: MatchContext,
): RevocationConnector<GithubAccount> {
  const api = createGithubApi(cfg, token);
  const enc = encodeURIComponent;
  const org = `/orgs/${enc(cfg.org)}`;

  async function get<T>(path: string): Promise<T | null> {
    const r = await api.call('GET', path);
    return r.status === 404 ? null : (r.json as T);
  }
  /** Is the login a member (204) or not (404)? */
  const isMember = async (login: string) =>
    (await api.call('GET', `${org}/members/${enc(login)}`)).status !== 404;
  const membership = (login: string) => get<Membership>(`${org}/memberships/${enc(login)}`);
  async function collaborator(login: string): Promise<boolean> {
    const list = await api.list<GithubUser>(`${org}/outside_collaborators`);
    if (list === null)
      throw new TargetRejectedError(`GitHub organization ${cfg.org} not found: check connector.org`);
    return list.some((u) => u.login.toLowerCase() === login.toLowerCase());
  }
  async function credentials(login: string): Promise<CredentialAuthorization[] | null> {
    if (!cfg.samlSso) return null;
    const list = await api.list<CredentialAuthorization>(
      `${org}/credential-authorizations?login=${enc(login)}`,
    );
    // The login filter is GitHub's; a server that ignores it must not make everyone's ours.
    return (list ?? []).filter((c) => c.login.toLowerCase() === login.toLowerCase());
  }

  async function revoke(_subject: unknown, account: GithubAccount): Promise<RevokeResult> {
    const login = account.id;
    const changes: string[] = [];
    // SAML credential authorizations first: removal may drop them from the list, not from the credential.
    for (const c of (await credentials(login)) ?? [])
      if ((await api.call('DELETE', `${org}/credential-authorizations/${c.credential_id}`)).status !== 404)
        changes.push(`revoked SAML SSO authorization of ${credentialLabel(c)}`);
    const m = await membership(login);
    if (m?.state === 'active') {
      await api.call('DELETE', `${org}/members/${enc(login)}`);
      changes.push(`removed from organization ${cfg.org} (role ${m.role ?? 'member'}; and from its teams)`);
    } else if (m?.state === 'pending') {
      await api.call('DELETE', `${org}/memberships/${enc(login)}`);
      changes.push(`cancelled the pending invitation to ${cfg.org}`);
    }
    if (await collaborator(login)) {
      await api.call('DELETE', `${org}/outside_collaborators/${enc(login)}`);
      changes.push(`removed as outside collaborator from every repository of ${cfg.org}`);
    }

    // ---- Confirmation: read everything back.
    const [member, after, collab, creds] = await Promise.all([
      isMember(login),
      membership(login),
      collaborator(login),
      credentials(login),
    ]);
    const left: string[] = [];
    if (member) left.push(`GET ${org}/members/${login} still answers 204 (a member)`);
    if (after) left.push(`membership state ${after.state}`);
    if (collab) left.push('still an outside collaborator');
    if (creds?.length) left.push(`credential authorizations ${creds.map(credentialLabel).join(', ')}`);
    if (left.length > 0)
      throw new ConfirmationMismatchError(`GitHub still shows, after revocation: ${left.join('; ')}`);
    const fineGrained =
      'fine-grained token requests and grants were not reviewed (that API answers GitHub App tokens only); ' +
      'they reach the organization only through the membership removed here';
    return {
      changes,
      confirmation: {
        login,
        userId: account.userId,
        org: cfg.org,
        member: false,
        membership: 'none (404)',
        outsideCollaborator: false,
        credentialAuthorizations: cfg.samlSso
          ? 0
          : 'not checked: samlSso is false (credential authorizations exist on GitHub Enterprise Cloud with SAML only)',
        readBack: [
          `GET ${org}/members/{login} → 404`,
          `GET ${org}/memberships/{login} → 404`,
          `GET ${org}/outside_collaborators (login absent)`,
          ...(cfg.samlSso ? [`GET ${org}/credential-authorizations?login={login} → none`] : []),
        ],
        notRevocable: NOT_REVOCABLE,
        notReviewed: [fineGrained],
      },
      detail: [
        `@${login} has no access to ${cfg.org}: not a member, no pending invitation, not an outside collaborator`,
        cfg.samlSso
          ? 'no SAML SSO credential authorization'
          : 'SAML credential authorizations not checked (samlSso false)',
        changes.length ? `${changes.length} change(s)` : 'nothing to change (already revoked)',
        'the organization cannot revoke the personal account itself, its own tokens and SSH keys, or forks ' +
          'of public repositories: they stay the person’s',
      ].join('; '),
    };
  }

  /** What still gives access through the login in this organization, or null. */
  async function liveAccess(a: GithubAccount): Promise<string | null> {
    const [m, collab, creds] = await Promise.all([membership(a.id), collaborator(a.id), credentials(a.id)]);
    const why: string[] = [];
    if (m)
      why.push(m.state === 'active' ? `member of ${cfg.org} (${m.role ?? 'member'})` : 'invitation pending');
    if (collab) why.push('outside collaborator');
    if (creds?.length) why.push(`${creds.length} SAML credential authorization(s)`);
    return why.length > 0 ? why.join('; ') : null;
  }

  async function searchKey(q: KeyQuery): Promise<GithubAccount[]> {
    if ('filter' in q.key || q.key.attribute !== SAML_NAME_ID)
      throw new TargetRejectedError(`a GitHub key must be ${SAML_NAME_ID}`);
    // Without SAML SSO the organization holds no identity to search: the key finds no one.
    if (!cfg.samlSso) return [];
    const data = await api.graphql<SamlAnswer>(SAML_QUERY, { org: cfg.org, userName: q.value });
    if (!data.organization)
      throw new TargetRejectedError(`GitHub organization ${cfg.org} not found: check connector.org`);
    const idp = data.organization.samlIdentityProvider;
    if (!idp)
      throw new TargetRejectedError(
        `GitHub organization ${cfg.org} has no SAML identity provider: set connector.samlSso to false ` +
          '(or configure SAML at the enterprise, which this connector does not search)',
      );
    const value = q.value.toLowerCase();
    return idp.externalIdentities.nodes
      .filter(
        (n) =>
          n.user &&
          (n.samlIdentity?.nameId?.toLowerCase() === value ||
            n.scimIdentity?.username?.toLowerCase() === value),
      )
      .map((n) =>
        accountOf({ login: n.user!.login, id: n.user!.databaseId, name: n.user!.name ?? null }, q.value),
      );
  }

  const matcher = createMatcher<GithubAccount>(
    {
      async lookup(id) {
        const u = await get<GithubUser>(/^\d+$/.test(id) ? `/user/${id}` : `/users/${enc(id)}`);
        return u ? accountOf(u) : null;
      },
      search: (queries) => Promise.all(queries.map(searchKey)),
      liveAccess,
    },
    match,
  );

  return {
    executingSystem: `GitHub ${cfg.org} @ ${api.host}`,
    action: GITHUB_ACTION,
    find: matcher.find,
    audit: matcher.audit,
    revoke,
    close: () => api.close(),
  };
}
