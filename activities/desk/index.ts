/**
 * The service desk clients of a worker: one per catalog entry whose ticket connector names a desk
 * (config/desk.ts), built on first use with its credentials from the environment.
 */
import type { Catalog, CatalogSystem } from '../../config/catalog';
import type { TicketDeskConfig } from '../../config/desk';
import { createJiraDesk } from './jira';
import { createServiceNowDesk } from './servicenow';
import type { DeskClient } from './types';

export type { DeskClient, DeskReadBack, DeskTicketInput, DeskTicketRef } from './types';

export interface DeskRegistry {
  /** The desk of a ticket system, or null (the built-in queue). */
  of(sys: CatalogSystem): DeskClient | null;
  close(): Promise<void>;
}

/** A catalog entry's desk, or null. */
export function deskOf(sys: CatalogSystem): TicketDeskConfig | null {
  return sys.connector.kind === 'ticket' ? (sys.connector.desk ?? null) : null;
}

/** One client per system with a desk, over the catalog's systems; secrets from `env`. */
export function createDeskRegistry(catalog: Catalog, env: NodeJS.ProcessEnv = process.env): DeskRegistry {
  const clients = new Map<string, DeskClient>();
  const known = new Set(catalog.systems.map((s) => s.id));
  return {
    of(sys) {
      const desk = deskOf(sys);
      if (!desk || !known.has(sys.id)) return null;
      let c = clients.get(sys.id);
      if (!c) {
        c =
          desk.kind === 'jira'
            ? createJiraDesk(desk, env[desk.emailEnv] ?? '', env[desk.tokenEnv] ?? '')
            : createServiceNowDesk(desk, env[desk.userEnv] ?? '', env[desk.passwordEnv] ?? '');
        clients.set(sys.id, c);
      }
      return c;
    },
    async close() {
      await Promise.all([...clients.values()].map((c) => c.close().catch(() => undefined)));
      clients.clear();
    },
  };
}
