/**
 * OpenTelemetry traces (docs/operations.md, "Traces"): one tracer provider per process, exporting over
 * OTLP/HTTP when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is
 * set, off otherwise. The exporter reads the other standard variables itself (`OTEL_EXPORTER_OTLP_HEADERS`,
 * timeouts, …); the sampler follows `OTEL_TRACES_SAMPLER` (default: every trace, or the caller's choice).
 *
 * What carries a trace from the webhook to a target: the webhook's server span
 * (server/webhook-telemetry.ts) → the Temporal client interceptor's `StartWorkflow` span (API) → the
 * workflow's `RunWorkflow` and `StartActivity` spans (workflows/tracing-interceptors.ts, in the bundle,
 * exported through a sink) → the activity's `RunActivity` span → one span per connector call
 * (activities/revocation/steps.ts, `connectorSpan`). Spans carry ids and kinds, never names, email
 * addresses or secrets.
 */
import { SpanKind, SpanStatusCode, trace, type Attributes, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

/** The instrumentation scope of Offboard's own spans. */
export const TRACER_NAME = 'offboard';

export interface Tracing {
  /** Where every span of the process goes (the worker hands it the workflow spans too). */
  processor: SpanProcessor;
  resource: Resource;
  /** Exports what is buffered and stops; the process's spans are dropped afterwards. */
  shutdown(): Promise<void>;
}

let active: Tracing | null = null;

/** The process's tracing, if any was started (`startTracing`, or `registerTracing` in tests). */
export function activeTracing(): Tracing | null {
  return active;
}

/**
 * Registers the process's tracer provider with `processor` (once per process: later calls return the
 * first registration). Tests pass an in-memory exporter's processor here.
 */
export function registerTracing(processor: SpanProcessor, serviceName: string): Tracing {
  if (active) return active;
  const resource = new Resource({ 'service.name': serviceName });
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  // W3C trace context and baggage (OTEL_PROPAGATORS), AsyncLocalStorage context.
  provider.register();
  active = {
    processor,
    resource,
    async shutdown() {
      await provider.shutdown().catch(() => undefined);
    },
  };
  return active;
}

/** Whether the standard OTLP variables ask for traces to be exported. */
export function otlpTracesConfigured(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED === 'true' || env.OTEL_TRACES_EXPORTER === 'none') return false;
  return !!(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim());
}

/**
 * Starts exporting traces over OTLP/HTTP when the environment configures an endpoint; null (no tracing,
 * no cost beyond the API's no-op spans) otherwise. `OTEL_SERVICE_NAME` overrides `serviceName`.
 */
export function startTracing(env: NodeJS.ProcessEnv, serviceName: string): Tracing | null {
  if (active) return active;
  if (!otlpTracesConfigured(env)) return null;
  return registerTracing(
    new BatchSpanProcessor(new OTLPTraceExporter()),
    env.OTEL_SERVICE_NAME?.trim() || serviceName,
  );
}

function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/**
 * Runs `fn` inside a span (the active one while it runs) and ends it: status error with the error's
 * type (its name, never its message: messages of connectors may name accounts) when `fn` throws.
 */
export async function inSpan<T>(
  name: string,
  attributes: Attributes,
  fn: () => Promise<T>,
  kind: SpanKind = SpanKind.INTERNAL,
): Promise<T> {
  return tracer().startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await fn();
    } catch (e) {
      const type = e instanceof Error ? e.name : 'Error';
      span.setAttribute('error.type', type);
      span.setStatus({ code: SpanStatusCode.ERROR, message: type });
      throw e;
    } finally {
      span.end();
    }
  });
}

/**
 * The action of a step without what names one credential (`revoke_owned:<id>` → `revoke_owned`): a
 * credential's id may hold a name (an LDAP DN), and a span name must not grow with every credential.
 */
export function actionName(action: string): string {
  const i = action.indexOf(':');
  return i < 0 ? action : action.slice(0, i);
}

/**
 * One connector call of a revocation step, named by system and action (`connector entra revoke`): the
 * ids of the catalog, never the person's.
 */
export function connectorSpan<T>(
  step: { systemId: string; action: string; kind?: string; executingSystem: string; attempt: number },
  fn: () => Promise<T>,
): Promise<T> {
  const action = actionName(step.action);
  return inSpan(
    `connector ${step.systemId} ${action}`,
    {
      'offboard.system.id': step.systemId,
      'offboard.step.action': action,
      ...(step.kind ? { 'offboard.step.kind': step.kind } : {}),
      'offboard.connector.executing_system': step.executingSystem,
      'offboard.step.attempt': step.attempt,
    },
    fn,
    SpanKind.CLIENT,
  );
}
