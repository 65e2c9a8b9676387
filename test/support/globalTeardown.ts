/** Stops the servers started by globalSetup. */
import { rmSync } from 'node:fs';
import { stopSharedKeycloak } from './keycloak';
import { stopSharedSamba } from './samba';

export default async function globalTeardown(): Promise<void> {
  for (const s of globalThis.__OFFBOARD_SERVICES__ ?? []) await s.stop().catch(() => undefined);
  // The Keycloak a test file started lazily, shared by the whole run (test/support/keycloak.ts).
  await stopSharedKeycloak().catch(() => undefined);
  // The Samba AD DC a test file started lazily, shared by the whole run (test/support/samba.ts).
  await stopSharedSamba().catch(() => undefined);
  if (process.env.TEST_ROOT && !process.env.KEEP_TEST_ROOT)
    rmSync(process.env.TEST_ROOT, { recursive: true, force: true });
}
