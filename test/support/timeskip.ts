/**
 * Moving the time-skipping test server's clock without stranding the workflow under test.
 *
 * The time-skipping server refuses a workflow task completion that cancels a timer which fired while
 * the task was with the worker ("invalid history builder state for action"), and then never times
 * that task out or sends it again: the run waits forever (temporalio/sdk-java#3088, #2606; a fix is
 * proposed in temporalio/sdk-java#3060). A real server accepts the cancel. Between skips the test
 * server's clock runs at real pace, and a timer the workflow arms while a skip fires the timers before
 * it is due relative to that instant, plus the time its activities took: for example the NDA
 * reminder after a reminder sent during a two-day skip can fall due a few hundred milliseconds after
 * the skip lands. A signal sent right after the skip (the NDA signed) then cancels it in a task
 * racing its fire; on a loaded machine the fire wins about once in a few runs.
 *
 * So `skipTime` starts a skip only once the workflow has settled, lets it settle again after it, and
 * skips on past any timer due within `TIMER_GUARD_MS` of where it landed, so what the test sends next
 * cannot race a timer.
 */
import { tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { eventTypeName } from '../../lib/history';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const { EventType } = temporal.api.enums.v1;

/** A timer due this soon after a skip lands is skipped past too (longer than a loaded task takes). */
export const TIMER_GUARD_MS = 10_000;
/** Timers skipped past after one skip before giving up on a workflow that keeps re-arming them. */
const MAX_GUARD_SKIPS = 20;
/** How long the workflow may take to settle (no task, no activity outstanding). */
const SETTLE_TIMEOUT_MS = 30_000;

interface Handle {
  workflowId: string;
  fetchHistory(): Promise<temporal.api.history.v1.IHistory>;
}

/**
 * Skips the server's clock forward by `ms` with the workflow behind `handle` settled before and
 * after, and no timer of it due within `TIMER_GUARD_MS` of where the clock lands (see above). So a
 * skip can end up to `TIMER_GUARD_MS` per timer later than asked; a test cannot assert that a timer
 * due that close after the target has not fired.
 */
export async function skipTime(testEnv: TestWorkflowEnvironment, handle: Handle, ms: number): Promise<void> {
  if (ms <= 0) return;
  await untilSettled(handle);
  await testEnv.sleep(ms);
  for (let extra = 0; ; extra++) {
    const events = await untilSettled(handle);
    const now = await testEnv.currentTimeMs();
    const due = pendingTimersDueAt(events).filter((at) => at - now <= TIMER_GUARD_MS);
    if (due.length === 0) return;
    if (extra >= MAX_GUARD_SKIPS)
      throw new Error(
        `${handle.workflowId} keeps arming timers due within ${String(TIMER_GUARD_MS)} ms after a skip; it cannot be left settled`,
      );
    await testEnv.sleep(Math.max(1, Math.max(...due) - now + 1));
  }
}

/**
 * Waits until the workflow's history shows no workflow task and no activity outstanding (or the run
 * closed), and returns that history. Fails naming the last events if it does not settle: a task
 * stranded by the server stays STARTED for good.
 */
export async function untilSettled(handle: Handle): Promise<HistoryEvent[]> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    const events = (await handle.fetchHistory()).events ?? [];
    if (!outstanding(events)) return events;
    if (Date.now() > deadline) {
      const last = events.slice(-8).map((e) => `${String(e.eventId)} ${eventTypeName(e.eventType)}`);
      throw new Error(
        `${handle.workflowId} did not settle within ${String(SETTLE_TIMEOUT_MS)} ms; last events: ${last.join(', ')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

const CLOSED = new Set<temporal.api.enums.v1.EventType>([
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
]);

/** A workflow task or an activity not ended yet in a run that has not closed. */
function outstanding(events: readonly HistoryEvent[]): boolean {
  if (CLOSED.has(events.at(-1)?.eventType ?? EventType.EVENT_TYPE_UNSPECIFIED)) return false;
  let task = false;
  const activities = new Set<string>();
  for (const e of events) {
    switch (e.eventType) {
      case EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
        task = true;
        break;
      case EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
      case EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
      case EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
        task = false;
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        activities.add(String(e.eventId));
        break;
      default: {
        const ended =
          e.activityTaskCompletedEventAttributes ??
          e.activityTaskFailedEventAttributes ??
          e.activityTaskTimedOutEventAttributes ??
          e.activityTaskCanceledEventAttributes;
        if (ended?.scheduledEventId != null) activities.delete(String(ended.scheduledEventId));
      }
    }
  }
  return task || activities.size > 0;
}

/** When each timer started and neither fired nor cancelled is due (ms since the epoch). */
function pendingTimersDueAt(events: readonly HistoryEvent[]): number[] {
  const pending = new Map<string, number>();
  for (const e of events) {
    const started = e.timerStartedEventAttributes;
    if (started?.timerId)
      pending.set(started.timerId, tsToMs(e.eventTime) + tsToMs(started.startToFireTimeout));
    const ended = e.timerFiredEventAttributes ?? e.timerCanceledEventAttributes;
    if (ended?.timerId) pending.delete(ended.timerId);
  }
  return [...pending.values()];
}
