/**
 * `offboard retry <workflow>`: a failed or stuck offboarding is reset to its last good workflow task with
 * Temporal's ResetWorkflowExecution (the reason is recorded in the workflow's history), so it runs on from
 * there with today's workers and code. Talks to Temporal directly (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY / TLS), not to the API.
 */
import { randomUUID } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { Command } from 'commander';
import Long from 'long';
import { readFileSync } from 'node:fs';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { z } from 'zod';
import { eventTypeName } from '../../lib/history';
import { jsonOption } from '../lib/common';
import { CliError, EXIT } from '../lib/exit';
import { printJson, println } from '../lib/output';

const EventType = temporal.api.enums.v1.EventType;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/**
 * The Temporal settings the CLI needs: the same variables and defaults as the worker and the API
 * (config/env.ts), without the ones it does not (DATABASE_URL, ...).
 */
const temporalEnv = z.object({
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_API_KEY: z.string().optional(),
  TEMPORAL_TLS: z.enum(['true', 'false']).default('false'),
  TEMPORAL_TLS_CERT_FILE: z.string().optional(),
  TEMPORAL_TLS_KEY_FILE: z.string().optional(),
});

/** Connects to Temporal; a bad variable or an unreachable server ends the command. */
export async function connectTemporal(
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ client: Client; namespace: string; close(): Promise<void> }> {
  const r = temporalEnv.safeParse(env);
  if (!r.success)
    throw new CliError(
      EXIT.usage,
      `invalid configuration: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  const c = r.data;
  // TLS as the worker and the API do it (workers/temporal.ts): a client certificate pair, or plain TLS.
  let tls: ConnectionOptions['tls'];
  if (c.TEMPORAL_TLS_CERT_FILE && c.TEMPORAL_TLS_KEY_FILE) {
    try {
      tls = {
        clientCertPair: {
          crt: readFileSync(c.TEMPORAL_TLS_CERT_FILE),
          key: readFileSync(c.TEMPORAL_TLS_KEY_FILE),
        },
      };
    } catch (e) {
      throw new CliError(EXIT.usage, `cannot read the Temporal TLS certificate: ${(e as Error).message}`);
    }
  } else if (c.TEMPORAL_TLS === 'true' || c.TEMPORAL_TLS_CERT_FILE) tls = true;
  let connection: Connection;
  try {
    connection = await Connection.connect({
      address: c.TEMPORAL_ADDRESS,
      tls,
      apiKey: c.TEMPORAL_API_KEY,
      connectTimeout: '5s',
    });
  } catch (e) {
    throw new CliError(
      EXIT.unavailable,
      `cannot reach Temporal at ${r.data.TEMPORAL_ADDRESS}: ${(e as Error).message.split('\n')[0]}`,
    );
  }
  return {
    client: new Client({ connection, namespace: r.data.TEMPORAL_NAMESPACE }),
    namespace: r.data.TEMPORAL_NAMESPACE,
    close: () => connection.close(),
  };
}

const num = (v: Long | number | null | undefined) => (v == null ? 0 : Number(v));

/** gRPC NOT_FOUND (5). */
const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function isNotFound(e: unknown): boolean {
  return (e as { code?: unknown }).code === 5;
}

/** A failure's message; with the payload codec's failure converter it is encrypted in history. */
function messageOf(f: temporal.api.failure.v1.IFailure | null | undefined): string {
  const m = f?.message ?? 'failed';
  return f?.encodedAttributes ? 'message encrypted: see `offboard status` or the Web UI' : m;
}

/**
 * The type of the local activity whose failure the workflow task `taskCompletedId` recorded (a
 * `core_local_activity` marker with a failure), or null. The marker's `data` is the SDK core's JSON
 * (`activity_type`), written by core itself, so never encrypted by the payload codec.
 */
function failedLocalActivity(events: HistoryEvent[], taskCompletedId: number): string | null {
  for (const e of events) {
    const m = e.markerRecordedEventAttributes;
    if (!m || m.markerName !== 'core_local_activity' || !m.failure) continue;
    if (num(m.workflowTaskCompletedEventId) !== taskCompletedId) continue;
    const data = m.details?.data?.payloads?.[0]?.data;
    try {
      const type = (JSON.parse(Buffer.from(data ?? []).toString('utf8')) as { activity_type?: unknown })
        .activity_type;
      return typeof type === 'string' ? type : 'local activity';
    } catch {
      return 'local activity';
    }
  }
  return null;
}

/** What went wrong with the run, and the workflow task to go back to. */
export interface ResetPlan {
  /** Id of the WORKFLOW_TASK_COMPLETED event to reset to (that task runs again). */
  eventId: number;
  why: string;
}

/**
 * Chooses the reset point from a run's history: the last good workflow task before the failure.
 * - failed because an activity (or child workflow) failed: the task that scheduled it, so it runs again
 *   (a local activity: the task it ran in);
 * - failed by the workflow's own code, terminated or timed out: the last completed workflow task;
 * - stuck (running, its workflow task failing over and over): the last completed workflow task.
 */
export function planReset(events: HistoryEvent[], state: 'failed' | 'stuck' | 'ended'): ResetPlan {
  const byId = new Map(events.map((e) => [num(e.eventId), e]));
  const completed = events.filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
  const lastCompleted = completed.at(-1);
  const terminal = events.at(-1);
  if (state === 'failed' && terminal?.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED) {
    const a = terminal.workflowExecutionFailedEventAttributes;
    const failure = a?.failure;
    // The innermost cause says what went wrong (an activity failure wraps the activity's own error).
    let innermost = failure;
    while (innermost?.cause) innermost = innermost.cause;
    const message = messageOf(innermost);
    let cause = failure;
    while (cause && !cause.activityFailureInfo && !cause.childWorkflowExecutionFailureInfo)
      cause = cause.cause;
    const scheduledId = cause?.activityFailureInfo
      ? num(cause.activityFailureInfo.scheduledEventId)
      : cause?.childWorkflowExecutionFailureInfo
        ? num(cause.childWorkflowExecutionFailureInfo.initiatedEventId)
        : 0;
    const scheduled = byId.get(scheduledId);
    const by =
      scheduled?.activityTaskScheduledEventAttributes?.workflowTaskCompletedEventId ??
      scheduled?.startChildWorkflowExecutionInitiatedEventAttributes?.workflowTaskCompletedEventId;
    if (scheduled && by != null) {
      const what = scheduled.activityTaskScheduledEventAttributes
        ? `activity ${scheduled.activityTaskScheduledEventAttributes.activityType?.name ?? '?'}`
        : `child workflow ${scheduled.startChildWorkflowExecutionInitiatedEventAttributes?.workflowType?.name ?? '?'}`;
      return {
        eventId: num(by),
        why: `${what} failed (${message}); going back to workflow task ${num(by)}, which scheduled it`,
      };
    }
    // A local activity has no scheduled event: it ran inside the workflow task that failed the run,
    // which recorded its failure in a marker.
    const local =
      !scheduled && a?.workflowTaskCompletedEventId != null
        ? failedLocalActivity(events, num(a.workflowTaskCompletedEventId))
        : null;
    if (local)
      return {
        eventId: num(a!.workflowTaskCompletedEventId),
        why: `activity ${local} failed (${message}); going back to workflow task ${num(a!.workflowTaskCompletedEventId)}, which ran it`,
      };
    if (a?.workflowTaskCompletedEventId != null)
      return {
        eventId: num(a.workflowTaskCompletedEventId),
        why: `the workflow failed (${message}); going back to workflow task ${num(a.workflowTaskCompletedEventId)}, which failed it`,
      };
  }
  if (!lastCompleted)
    throw new CliError(EXIT.refused, 'the run has no completed workflow task to go back to; start it anew');
  const what =
    state === 'stuck'
      ? 'its workflow task keeps failing'
      : `it ended ${terminal ? eventTypeName(terminal.eventType).replace('WORKFLOW_EXECUTION_', '').toLowerCase() : ''}`;
  return {
    eventId: num(lastCompleted.eventId),
    why: `${what}; going back to the last completed workflow task (${num(lastCompleted.eventId)})`,
  };
}

interface RetryOptions {
  reason: string;
  runId?: string;
  dryRun?: boolean;
  json?: boolean;
}

export function retryCommand(): Command {
  const cmd = new Command('retry')
    .summary('reset a failed or stuck offboarding to its last good point')
    .description(
      'Reset a failed, terminated, timed-out or stuck (running, its workflow task failing) offboarding ' +
        "to its last good workflow task with Temporal's reset API: the failed part runs again, with today's " +
        'workers. The reason is recorded in the workflow history; the old run ends as terminated and a ' +
        'new run continues under the same workflow id. WORKFLOW is a workflow id (offboarding:<employeeId>) ' +
        'or an employee id. Talks to Temporal directly: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, ' +
        'TEMPORAL_API_KEY, TEMPORAL_TLS*. Needs the Temporal dev server or a cluster (the time-skipping ' +
        'test server has no reset).\n\n' +
        'To run only the red steps of a running offboarding again, use `offboard redrive`; resetting ' +
        're-runs everything after the reset point, which the connectors make safe (every revocation is ' +
        'idempotent).',
    )
    .argument('<workflow>', 'workflow id (offboarding:<employeeId>) or employee id')
    .requiredOption('--reason <text>', 'why (recorded in the workflow history)')
    .option('--run-id <id>', 'a specific run (default: the current one)')
    .option('--dry-run', 'show what would be done; change nothing');
  jsonOption(cmd);
  cmd.addHelpText(
    'after',
    '\nExit codes: 0 reset done (or shown with --dry-run); 3 nothing to retry (completed, or running\n' +
      'normally) or not found; 64 usage; 69 Temporal unreachable.',
  );
  cmd.action(async (ref: string, opts: RetryOptions) => {
    if (opts.reason.trim().length < 3)
      throw new CliError(EXIT.usage, '--reason must say why (3 characters or more)');
    const workflowId = ref.includes(':') ? ref : `offboarding:${ref}`;
    // Temporal's run ids are UUIDs; it refuses anything else with a bare INVALID_ARGUMENT.
    if (opts.runId !== undefined && !RUN_ID.test(opts.runId))
      throw new CliError(
        EXIT.usage,
        `--run-id must be a run id (a UUID such as \`offboard status\` shows), not "${opts.runId}"`,
      );
    const t = await connectTemporal();
    try {
      // Raw calls: nothing here needs a payload decoded (payloads may be encrypted by the codec).
      let raw;
      try {
        raw = await t.client.workflowService.describeWorkflowExecution({
          namespace: t.namespace,
          execution: { workflowId, runId: opts.runId ?? '' },
        });
      } catch (e) {
        if (isNotFound(e))
          throw new CliError(
            EXIT.refused,
            opts.runId ? `no run ${opts.runId} of workflow ${workflowId}` : `no workflow ${workflowId}`,
          );
        throw e;
      }
      const runId = raw.workflowExecutionInfo?.execution?.runId ?? '';
      const status = (
        temporal.api.enums.v1.WorkflowExecutionStatus[raw.workflowExecutionInfo?.status ?? 0] ?? 'UNSPECIFIED'
      ).replace('WORKFLOW_EXECUTION_STATUS_', '');
      const desc = { runId };
      const handle = t.client.workflow.getHandle(workflowId, runId);
      const pendingTask = raw.pendingWorkflowTask;
      const stuck = status === 'RUNNING' && num(pendingTask?.attempt) > 1;
      const state =
        status === 'FAILED'
          ? 'failed'
          : stuck
            ? 'stuck'
            : ['TERMINATED', 'TIMED_OUT'].includes(status)
              ? 'ended'
              : null;
      if (!state)
        throw new CliError(
          EXIT.refused,
          `${workflowId} run ${desc.runId} is ${status.toLowerCase()}${status === 'RUNNING' ? ' normally (its workflow tasks succeed)' : ''}: nothing to retry`,
        );
      const history = await handle.fetchHistory();
      const plan = planReset(history.events ?? [], state);
      const result = {
        workflowId,
        runId: desc.runId,
        status,
        stuck,
        resetToEventId: plan.eventId,
        why: plan.why,
        reason: opts.reason,
        newRunId: null as string | null,
        dryRun: !!opts.dryRun,
      };
      if (!opts.dryRun) {
        const res = await t.client.workflowService.resetWorkflowExecution({
          namespace: t.namespace,
          workflowExecution: { workflowId, runId: desc.runId },
          reason: opts.reason,
          workflowTaskFinishEventId: Long.fromNumber(plan.eventId),
          requestId: randomUUID(),
          identity: `offboard-cli ${userInfo().username}@${hostname()}`,
        });
        result.newRunId = res.runId ?? null;
      }
      if (opts.json) printJson(result);
      else {
        println(`${workflowId} run ${desc.runId}: ${stuck ? 'stuck' : status.toLowerCase()}`);
        println(`  ${plan.why}`);
        println(
          opts.dryRun
            ? `  would reset to event ${plan.eventId} (nothing done: --dry-run)`
            : `  reset to event ${plan.eventId}, reason "${opts.reason}": new run ${result.newRunId ?? '?'}`,
        );
      }
    } finally {
      await t.close().catch(() => undefined);
    }
  });
  return cmd;
}
