/**
 * Tracing in the worker (lib/tracing.ts). The workflow side is workflows/tracing-interceptors.ts,
 * bundled with the workflows; its spans leave the sandbox through the `offboardTracing` sink into the
 * process's span processor. The activity side is the activity interceptor of
 * `@temporalio/interceptors-opentelemetry` (same `_tracer-data` header): it continues the workflow's
 * trace in each activity, local activities included, and the connector spans
 * (activities/revocation/steps.ts) are children of the activity's span.
 */
import type { Context as ActivityContext } from '@temporalio/activity';
import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import type { InjectedSinks, WorkerOptions } from '@temporalio/worker';
import { SpanKind, SpanStatusCode, type HrTime } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { Tracing } from '../lib/tracing';
import type { TracingSinks, WorkflowSpanRecord } from '../workflows/tracing-interceptors';

/**
 * The workflow-side interceptors module. The worker bundles it with `workflows/` (it does nothing
 * without a trace in a start's header); a bundle built ahead of time (WORKFLOW_BUNDLE) traces its
 * workflows only when built with `bundleWorkflowCode({ workflowInterceptorModules:
 * [WORKFLOW_TRACING_INTERCEPTORS], … })`.
 */
export const WORKFLOW_TRACING_INTERCEPTORS = require.resolve('../workflows/tracing-interceptors');

function hrTime(ms: number): HrTime {
  const s = Math.floor(ms / 1000);
  return [s, Math.round((ms - s * 1000) * 1e6)];
}

/** A span the workflow reported, as the span processor takes it. */
function readableSpan(r: WorkflowSpanRecord, tracing: Tracing): ReadableSpan {
  const spanContext = { traceId: r.traceId, spanId: r.spanId, traceFlags: r.traceFlags, isRemote: false };
  return {
    name: r.name,
    kind: SpanKind.INTERNAL,
    spanContext: () => spanContext,
    parentSpanId: r.parentSpanId,
    startTime: hrTime(r.startMs),
    endTime: hrTime(r.endMs),
    duration: hrTime(r.endMs - r.startMs),
    status: { code: SpanStatusCode.UNSET },
    attributes: r.attributes,
    links: [],
    events: [],
    ended: true,
    resource: tracing.resource,
    instrumentationLibrary: { name: 'offboard-workflow' },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/**
 * The `offboardTracing` sink of the workflow interceptors: into the process's span processor with
 * tracing on; dropped otherwise. Never called while a history replays (its spans were reported when the
 * history was made).
 */
export function workflowSpanSinks(tracing: Tracing | null): InjectedSinks<TracingSinks> {
  return {
    offboardTracing: {
      span: {
        fn: (_info, record: WorkflowSpanRecord) => {
          if (tracing) tracing.processor.onEnd(readableSpan(record, tracing));
        },
        callDuringReplay: false,
      },
    },
  };
}

/** The activity interceptors (every worker of the process, activities and local activities). */
export function activityTracingInterceptors(): NonNullable<
  NonNullable<WorkerOptions['interceptors']>['activity']
> {
  return [
    (ctx: ActivityContext) => ({
      inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
      outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
    }),
  ];
}
