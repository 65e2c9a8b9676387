/**
 * Temporal schedules a process keeps (the HRIS reconciliation, the service desk poll, the audit export):
 * created at start, or brought to the configuration when one already exists (several processes may
 * ensure it at once: its id makes it one), and tried again every minute while Temporal does not answer.
 */
import { ScheduleAlreadyRunning, type Client, type ScheduleOptions } from '@temporalio/client';

/** Creates the schedule, or brings an existing one to this spec, action and policies. */
export async function upsertSchedule(client: Client, o: ScheduleOptions): Promise<void> {
  try {
    await client.schedule.create(o);
  } catch (e) {
    if (!(e instanceof ScheduleAlreadyRunning)) throw e;
    await client.schedule.getHandle(o.scheduleId).update((prev) => ({
      ...prev,
      spec: o.spec,
      action: o.action,
      policies: { ...prev.policies, ...o.policies },
    }));
  }
}

/**
 * Runs `ensure` now and, while it fails (Temporal may be down while the process starts: it still does
 * its other work), again every minute until it worked. Returns a stop function.
 */
export function keepEnsuring(ensure: () => Promise<unknown>, onError: (e: unknown) => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const attempt = () => {
    if (stopped) return;
    ensure().catch((e: unknown) => {
      onError(e);
      if (!stopped) timer = setTimeout(attempt, 60_000);
    });
  };
  attempt();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
