/** Builds one revocation connector per API-integrated catalog entry, with its secret from the environment. */
import type { Catalog, CatalogSystem } from '../config/catalog';
import { createAwsIamConnector } from './aws-iam';
import type { RevocationConnector } from './connector';
import { createEntraConnector } from './entra';
import { createGithubConnector } from './github';
import { createGoogleConnector } from './google';
import { createKeycloakConnector } from './keycloak';
import { createLdapConnector, createLdapGroupConnector } from './ldap';
import type { MatchContext } from './matching';
import { createOktaConnector } from './okta';
import { createScimConnector } from './scim';
import { createSlackConnector } from './slack';

export type ConnectorRegistry = Map<string, RevocationConnector>;

/** How a catalog system's connector finds the leaver's account (its `match` and `protected`). */
export function matchContext(s: CatalogSystem): MatchContext {
  return { systemId: s.id, match: s.match, protected: s.protected };
}

export function createConnectors(catalog: Catalog, env: NodeJS.ProcessEnv = process.env): ConnectorRegistry {
  const out: ConnectorRegistry = new Map();
  for (const s of catalog.systems) {
    const c = s.connector;
    const m = matchContext(s);
    // parseCatalog has already checked that each referenced variable is set.
    if (c.kind === 'entra') out.set(s.id, createEntraConnector(c, env[c.clientSecretEnv] ?? '', m));
    else if (c.kind === 'ldap') out.set(s.id, createLdapConnector(c, env[c.bindPasswordEnv] ?? '', m, env));
    else if (c.kind === 'ldap-group')
      out.set(s.id, createLdapGroupConnector(c, env[c.bindPasswordEnv] ?? '', m, env));
    else if (c.kind === 'scim') out.set(s.id, createScimConnector(c, env[c.tokenEnv] ?? '', m));
    else if (c.kind === 'keycloak') out.set(s.id, createKeycloakConnector(c, env[c.secretEnv] ?? '', m));
    else if (c.kind === 'okta') out.set(s.id, createOktaConnector(c, env[c.tokenEnv] ?? '', m));
    else if (c.kind === 'github') out.set(s.id, createGithubConnector(c, env[c.tokenEnv] ?? '', m));
    else if (c.kind === 'slack') out.set(s.id, createSlackConnector(c, env[c.tokenEnv] ?? '', m));
    else if (c.kind === 'google') out.set(s.id, createGoogleConnector(c, env[c.privateKeyEnv] ?? '', m));
    else if (c.kind === 'aws-iam')
      out.set(
        s.id,
        createAwsIamConnector(
          c,
          {
            accessKeyId: env[c.accessKeyIdEnv] ?? '',
            secretAccessKey: env[c.secretAccessKeyEnv] ?? '',
            ...(c.sessionTokenEnv ? { sessionToken: env[c.sessionTokenEnv] ?? '' } : {}),
          },
          m,
        ),
      );
  }
  return out;
}

export async function closeConnectors(registry: ConnectorRegistry): Promise<void> {
  await Promise.all([...registry.values()].map((c) => c.close?.()));
}
