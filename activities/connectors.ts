/** Builds one revocation connector per API-integrated catalog entry, with its secret from the environment. */
import type { Catalog } from '../config/catalog';
import type { RevocationConnector } from './connector';
import { createEntraConnector } from './entra';
import { createLdapConnector, createLdapGroupConnector } from './ldap';
import { createScimConnector } from './scim';

export type ConnectorRegistry = Map<string, RevocationConnector>;

export function createConnectors(catalog: Catalog, env: NodeJS.ProcessEnv = process.env): ConnectorRegistry {
  const out: ConnectorRegistry = new Map();
  for (const s of catalog.systems) {
    const c = s.connector;
    // parseCatalog has already checked that each referenced variable is set.
    if (c.kind === 'entra') out.set(s.id, createEntraConnector(c, env[c.clientSecretEnv] ?? ''));
    else if (c.kind === 'ldap') out.set(s.id, createLdapConnector(c, env[c.bindPasswordEnv] ?? ''));
    else if (c.kind === 'ldap-group')
      out.set(s.id, createLdapGroupConnector(c, env[c.bindPasswordEnv] ?? ''));
    else if (c.kind === 'scim') out.set(s.id, createScimConnector(c, env[c.tokenEnv] ?? ''));
  }
  return out;
}

export async function closeConnectors(registry: ConnectorRegistry): Promise<void> {
  await Promise.all([...registry.values()].map((c) => c.close?.()));
}
