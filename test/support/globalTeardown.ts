/** Stops the servers started by globalSetup. */
import { rmSync } from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  for (const s of globalThis.__OFFBOARD_SERVICES__ ?? []) await s.stop().catch(() => undefined);
  if (process.env.TEST_ROOT && !process.env.KEEP_TEST_ROOT)
    rmSync(process.env.TEST_ROOT, { recursive: true, force: true });
}
