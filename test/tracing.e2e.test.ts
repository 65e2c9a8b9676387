/**
 * Traces from the webhook to the targets (lib/tracing.ts, workers/tracing.ts): a signed webhook posted
 * to the API, its offboarding run by a worker whose bundle carries the OpenTelemetry workflow
 * interceptors, every span into an in-memory exporter. One trace id must lead from the webhook's server
 * span through StartWorkflow, RunWorkflow and an activity to a connector call's span, with no personal
 * data in any attribute. Also: the worker's Temporal SDK metrics for Prometheus (WORKER_METRICS_BIND),
 * and the recorded histories replaying on the traced bundle (the interceptors add no command).
 */
import path from 'node:path';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { historyFiles, readHistoryFile } from '../cli/commands/replay';
import { FAILURE_CONVERTER_PATH } from '../lib/codec';
import { registerTracing, type Tracing } from '../lib/tracing';
import { signDelivery } from '../lib/webhook-sign';
import type { RunningServer } from '../server/main';
import { installRuntime } from '../workers/temporal';
import { WORKFLOW_TRACING_INTERCEPTORS, workflowSpanSinks } from '../workers/tracing';
import { createOffboardingWorker, type OffboardingWorkers } from '../workers/worker';
import { referencedMetrics } from './support/observability';
import { freePort } from './support/services';
import {
  WEBHOOK_SECRET,
  dataConverter,
  eventually,
  hrisEvent,
  post,
  quietLogger,
  seedEmployee,
  startApi,
  startStack,
  uniq,
  workflowBundlePath,
  type Stack,
} from './support/harness';

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let stack: Stack;
let bundleCode: string;
let worker: OffboardingWorkers;
let running: Promise<void>;
let api: RunningServer;
let workerMetricsUrl: string;
/** The offboarding the first test started with a trace. */
let tracedWorkflowId: string;

const quietBundler = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };

beforeAll(async () => {
  // Before anything else of this file touches OpenTelemetry or the SDK's runtime.
  tracing = registerTracing(new SimpleSpanProcessor(exporter), 'offboard-test');
  const port = await freePort();
  installRuntime(quietLogger, { metricsBind: `127.0.0.1:${port}` });
  workerMetricsUrl = `http://127.0.0.1:${port}/metrics`;
  stack = await startStack();
  // The workflows bundled with the workflow-side interceptors, as the worker bundles them with tracing on.
  bundleCode = (
    await bundleWorkflowCode({
      workflowsPath: require.resolve('../workflows'),
      workflowInterceptorModules: [WORKFLOW_TRACING_INTERCEPTORS],
      failureConverterPath: FAILURE_CONVERTER_PATH,
      logger: quietBundler,
    })
  ).code;
  worker = await createOffboardingWorker({
    connection: stack.nativeConnection,
    namespace: 'default',
    taskQueue: stack.taskQueue,
    deps: {
      db: stack.db,
      catalog: stack.catalog,
      connectors: stack.connectors,
      mailer: stack.mailer,
      publicUrl: 'http://127.0.0.1:3000',
    },
    dataConverter,
    workflowBundle: { code: bundleCode },
    extra: { stickyQueueScheduleToStartTimeout: '1s' },
  });
  running = worker.run();
  api = await startApi(stack);
}, 180_000);

afterAll(async () => {
  await api?.close();
  worker?.shutdown();
  await running;
  await stack?.stop();
  await tracing?.shutdown();
});

const idOf = (s: ReadableSpan) => s.spanContext().spanId;
const traceOf = (s: ReadableSpan) => s.spanContext().traceId;

/** The names from the trace's root down to `span`, following parent ids. */
function ancestry(span: ReadableSpan, spans: ReadableSpan[]): string[] {
  const byId = new Map(spans.map((s) => [idOf(s), s]));
  const names: string[] = [];
  for (let s: ReadableSpan | undefined = span; s; s = s.parentSpanId ? byId.get(s.parentSpanId) : undefined)
    names.unshift(s.name);
  return names;
}

test('one trace leads from the webhook through the workflow and an activity to a connector call', async () => {
  const id = uniq('TR');
  const person = seedEmployee(stack.standIns, id);
  const event = hrisEvent(id);
  const d = signDelivery(WEBHOOK_SECRET, event);
  const r = await post(`${api.url}/webhooks/hris`, d.body, d.headers);
  expect(r.status).toBe(202);
  expect(r.json.action).toBe('started');
  const departureId = r.json.departureId as string;
  tracedWorkflowId = r.json.workflowId as string;
  await eventually(
    () => stack.db.stepRecord.findFirst({ where: { departureId, systemId: 'entra', status: 'green' } }),
    60_000,
    'the Entra step confirmed',
  );

  // The webhook's span is a root; the connector span of the Entra step is in its trace, its ancestors
  // exported (a parent ends after its children: the sweep's activity after its last step).
  const { webhook, trace, connector, chain } = await eventually(
    async () => {
      const spans = exporter.getFinishedSpans();
      const webhook = spans.find(
        (s) => s.name === 'POST /webhooks/hris' && s.attributes['http.response.status_code'] === 202,
      );
      if (!webhook) return null;
      const trace = spans.filter((s) => traceOf(s) === traceOf(webhook));
      const connector = trace.find((s) => s.name.startsWith('connector entra '));
      const chain = connector ? ancestry(connector, trace) : [];
      return chain[0] === webhook.name ? { webhook, trace, connector: connector!, chain } : null;
    },
    30_000,
    'the connector span under the webhook span',
  );
  expect(webhook.parentSpanId).toBeUndefined();
  // webhook → StartWorkflow (the API's client) → RunWorkflow → StartActivity → RunActivity → connector.
  expect(chain).toEqual([
    'POST /webhooks/hris',
    expect.stringMatching(/^(StartWorkflow|SignalWithStartWorkflow):offboardingWorkflow$/),
    'RunWorkflow:offboardingWorkflow',
    expect.stringMatching(/^StartActivity:\w+$/),
    chain[3]!.replace('StartActivity:', 'RunActivity:'),
    connector.name,
  ]);
  expect(connector.attributes).toMatchObject({
    'offboard.system.id': 'entra',
    'offboard.step.action': expect.any(String),
    'offboard.step.attempt': expect.any(Number),
  });
  // Every revocation target of the catalog that has an API is reached in the same trace.
  const systems = new Set(
    trace.filter((s) => s.name.startsWith('connector ')).map((s) => s.name.split(' ')[1]),
  );
  expect([...systems].sort()).toEqual(
    expect.arrayContaining(['crm', 'entra', 'entra-mfa', 'ldap', 'vpn', 'wiki']),
  );

  // No personal data (name, addresses, the department) and no secret in any span's attributes or name.
  const personal = [
    event.employee.name,
    person.workEmail,
    event.employee.personalEmail,
    event.employee.managerEmail,
    event.employee.departmentHeadEmail,
    event.employee.department,
    WEBHOOK_SECRET,
  ];
  for (const s of exporter.getFinishedSpans()) {
    const text = JSON.stringify([s.name, s.attributes, s.events]);
    for (const p of personal)
      expect({ span: s.name, leaks: text.includes(p) }).toEqual({ span: s.name, leaks: false });
  }
  // The workflow spans keep only ids from the workflow's info (no search attributes, no memo).
  const run = trace.find((s) => s.name === 'RunWorkflow:offboardingWorkflow')!;
  expect(Object.keys(run.attributes).sort()).toEqual(
    expect.not.arrayContaining(['searchAttributes', 'typedSearchAttributes', 'memo', 'lastResult']),
  );
  expect(run.attributes.workflowType).toBe('offboardingWorkflow');
}, 120_000);

test("the worker's Temporal SDK metrics are served for Prometheus", async () => {
  // Every SDK metric the example dashboard and alerts use (the app's own: test/observability-files.test.ts).
  const used = [...referencedMetrics()].filter((n) => n.startsWith('temporal_'));
  expect(used.length).toBeGreaterThan(3);
  let names = new Set<string>();
  for (const until = Date.now() + 30_000; Date.now() < until; await new Promise((r) => setTimeout(r, 500))) {
    const res = await fetch(workerMetricsUrl);
    expect(res.status).toBe(200);
    names = new Set(
      [...(await res.text()).matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )/gm)].map((m) => m[1]!),
    );
    if (used.every((n) => names.has(n))) break;
  }
  for (const n of used) expect({ n, exported: names.has(n) }).toEqual({ n, exported: true });
}, 60_000);

test("a traced run's history replays with the tracing interceptors and without them", async () => {
  // The first test's offboarding: started with a trace, revoked, its follow-up and checkpoint under way.
  const handle = stack.client.workflow.getHandle(tracedWorkflowId);
  const history = await eventually(
    async () => {
      const h = await handle.fetchHistory();
      const scheduled = h.events?.filter((e) => e.activityTaskScheduledEventAttributes).length ?? 0;
      return scheduled >= 2 ? h : null;
    },
    60_000,
    'the traced run scheduling its follow-up activities',
  );
  expect(JSON.stringify(history.events?.[0]?.workflowExecutionStartedEventAttributes?.header)).toContain(
    '_tracer-data',
  );
  await Worker.runReplayHistory({ workflowBundle: { code: bundleCode }, dataConverter }, history);
  await Worker.runReplayHistory(
    { workflowBundle: { codePath: workflowBundlePath() }, dataConverter },
    history,
  );
}, 120_000);

test('the recorded histories replay on the traced bundle', async () => {
  const histories = historyFiles([path.join(__dirname, 'replay', 'histories')]).map(readHistoryFile);
  expect(histories.length).toBeGreaterThan(10);
  const failures: string[] = [];
  for await (const r of Worker.runReplayHistories(
    {
      workflowBundle: { code: bundleCode },
      dataConverter,
      sinks: workflowSpanSinks(tracing),
      replayName: uniq('traced-replay'),
    },
    histories.map((h) => ({ workflowId: h.workflowId, history: h.history })),
  ))
    if (r.error) failures.push(`${r.workflowId}: ${String(r.error)}`);
  expect(failures).toEqual([]);
}, 240_000);
