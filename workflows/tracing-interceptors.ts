/**
 * Workflow-side tracing (lib/tracing.ts, workers/tracing.ts): not a workflow, an interceptors module the
 * worker bundles with the workflows (`workflowInterceptorModules`). It continues the trace the API's
 * Temporal client put into the start's `_tracer-data` header (the header of
 * `@temporalio/interceptors-opentelemetry`): a `RunWorkflow:<type>` span at the run's start, and for
 * each activity and local activity a `StartActivity:<type>` span at its scheduling, whose context goes
 * into the activity's header, where the activity interceptor continues it. Spans leave the sandbox
 * through the `offboardTracing` sink (never called while replaying).
 *
 * Why not the workflow interceptors of `@temporalio/interceptors-opentelemetry`: their `async` wrappers
 * add microtask turns around activity results, update handlers and the run itself, which reorders
 * commands between concurrent branches: with them in the bundle, the recorded histories with updates
 * or concurrent timers failed to replay (nondeterminism), so switching tracing on or off would break
 * running offboardings. These interceptors call `next` at once and return what it returns, add no
 * command, no await and no promise reaction, and draw no random number (span ids are hashes of the run
 * id and the command's sequence number): a history replays the same with them or without them. With no
 * trace in the start's header they do nothing.
 */
import {
  defaultPayloadConverter,
  proxySinks,
  workflowInfo,
  type ActivityInput,
  type ContinueAsNewInput,
  type Headers,
  type LocalActivityInput,
  type Next,
  type Sinks,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptors,
  type WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';

/** The header `@temporalio/interceptors-opentelemetry` carries the W3C trace context in. */
export const TRACE_HEADER = '_tracer-data';

/** One finished span, as the sink receives it (times in ms of workflow time). */
export interface WorkflowSpanRecord {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceFlags: number;
  startMs: number;
  endMs: number;
  attributes: Record<string, string | number>;
}

export interface TracingSinks extends Sinks {
  offboardTracing: { span(record: WorkflowSpanRecord): void };
}

const { offboardTracing } = proxySinks<TracingSinks>();

interface SpanContext {
  traceId: string;
  spanId: string;
  flags: number;
  traceState?: string;
}

/** The trace context of a `_tracer-data` header, if it holds a valid W3C `traceparent`. */
function contextOf(headers: Headers): SpanContext | null {
  const payload = headers[TRACE_HEADER];
  if (!payload) return null;
  let carrier: { traceparent?: unknown; tracestate?: unknown };
  try {
    carrier = defaultPayloadConverter.fromPayload(payload);
  } catch {
    return null;
  }
  const m =
    typeof carrier?.traceparent === 'string'
      ? /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(carrier.traceparent)
      : null;
  if (!m || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return null;
  return {
    traceId: m[1]!,
    spanId: m[2]!,
    flags: parseInt(m[3]!, 16),
    traceState: typeof carrier.tracestate === 'string' ? carrier.tracestate : undefined,
  };
}

/** `headers` with `ctx` as the trace context the callee continues. */
function withContext(headers: Headers, ctx: SpanContext): Headers {
  const traceparent = `00-${ctx.traceId}-${ctx.spanId}-${ctx.flags.toString(16).padStart(2, '0')}`;
  return {
    ...headers,
    [TRACE_HEADER]: defaultPayloadConverter.toPayload(
      ctx.traceState ? { traceparent, tracestate: ctx.traceState } : { traceparent },
    ),
  };
}

/** 32 bits of FNV-1a over `s`, from `seed`, as 8 hex digits. */
function fnv1a(s: string, seed: number): string {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** A span id that every replay of the run computes again: no random number is drawn. */
function spanIdOf(key: string): string {
  const id = fnv1a(key, 0x811c9dc5) + fnv1a(`${key}#`, 0x050c5d1f);
  return id === '0000000000000000' ? '0000000000000001' : id;
}

export const interceptors = (): WorkflowInterceptors => {
  /** The run's span, once the start's header named a trace. */
  let run: SpanContext | null = null;

  const emit = (
    name: string,
    ctx: SpanContext,
    parentSpanId: string,
    startMs: number,
    endMs: number,
    attributes: Record<string, string | number>,
  ) => {
    if ((ctx.flags & 1) === 0) return; // not sampled
    const info = workflowInfo();
    offboardTracing.span({
      name,
      traceId: ctx.traceId,
      spanId: ctx.spanId,
      parentSpanId,
      traceFlags: ctx.flags,
      startMs,
      endMs,
      attributes: {
        temporalWorkflowId: info.workflowId,
        run_id: info.runId,
        workflowType: info.workflowType,
        ...attributes,
      },
    });
  };

  /** Schedules an activity (local or not) with a `StartActivity` span as its parent, at this instant. */
  const scheduled = <T extends ActivityInput | LocalActivityInput>(input: T, local: boolean): T => {
    if (!run) return input;
    const ctx = { ...run, spanId: spanIdOf(`${workflowInfo().runId}/${local ? 'la' : 'a'}/${input.seq}`) };
    const now = Date.now();
    emit(`StartActivity:${input.activityType}`, ctx, run.spanId, now, now, {
      activityType: input.activityType,
      local: local ? 1 : 0,
    });
    return { ...input, headers: withContext(input.headers, ctx) };
  };

  const inbound: WorkflowInboundCallsInterceptor = {
    /**
     * The run's span marks its start and has no length: a run lasts days (assets, sign-off), and a span
     * ending with it would reach the collector only then, after every span under it.
     */
    execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>) {
      const parent = contextOf(input.headers);
      if (parent) {
        const info = workflowInfo();
        run = { ...parent, spanId: spanIdOf(`${info.runId}/run`) };
        const now = Date.now();
        emit(`RunWorkflow:${info.workflowType}`, run, parent.spanId, now, now, {});
      }
      return next(input);
    },
  };

  const outbound: WorkflowOutboundCallsInterceptor = {
    scheduleActivity(input: ActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>) {
      return next(scheduled(input, false));
    },
    scheduleLocalActivity(
      input: LocalActivityInput,
      next: Next<WorkflowOutboundCallsInterceptor, 'scheduleLocalActivity'>,
    ) {
      return next(scheduled(input, true));
    },
    /** The next run continues the same trace (under this run's span). */
    continueAsNew(input: ContinueAsNewInput, next: Next<WorkflowOutboundCallsInterceptor, 'continueAsNew'>) {
      return next(run ? { ...input, headers: withContext(input.headers, run) } : input);
    },
  };

  return { inbound: [inbound], outbound: [outbound] };
};
