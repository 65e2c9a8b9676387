/**
 * `offboard replay`: runs recorded workflow histories through the workflow code of this checkout with
 * the SDK's replayer (`Worker.runReplayHistories`) and reports, per workflow id, OK or the
 * non-determinism (the message and the history event the code diverged at). Run it before deploying a
 * workflow change: a history that no longer replays is a running offboarding the new worker would break.
 *
 * Histories come from Temporal (workflow ids, a visibility query, every running offboarding, or every
 * failed/closed one in a time window; TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
 * TEMPORAL_TLS*) or from history JSON files (`temporal workflow show --output json`, or the files in
 * test/replay/histories).
 * Payloads are decoded with the data converter of the worker (PAYLOAD_CODEC_KEYS and the failure
 * converter), so encrypted histories replay.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { History } from '@temporalio/common/lib/proto-utils';
import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';
import {
  DefaultLogger,
  Runtime,
  Worker,
  makeTelemetryFilterString,
  type LogLevel,
  type ReplayWorkerOptions,
} from '@temporalio/worker';
import { OFFBOARDING_WORKFLOW, RESCISSION_REVIEW_WORKFLOW } from '../../contract';
import { KEY_ID_METADATA, parseCodecKeys } from '../../lib/codec';
import { eventTypeName, patchIdOf } from '../../lib/history';
import { dataConverterFrom } from '../../workers/temporal';
import { intIn, jsonOption } from '../lib/common';
import { CliError, EXIT } from '../lib/exit';
import { printJson, println } from '../lib/output';
import { connectTemporal } from './retry';

const { temporal } = proto;
const EventType = temporal.api.enums.v1.EventType;

/**
 * History JSON <-> History, as the SDK's `historyFromJSON`/`historyToJSON` (common/proto-utils) do it.
 * Those two cannot be used here: this install has separate copies of protobufjs under
 * `@temporalio/common` and `@temporalio/proto`, and protojson refuses a message type of the other copy
 * ("type must be a Type"). So the protojson of the copy that built the proto types is used instead.
 */
const protojson = createRequire(require.resolve('@temporalio/proto'))('protobufjs/ext/protojson') as {
  fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown;
  toJson(type: unknown, message: unknown): unknown;
};
const historyType = (patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown }).lookupType(
  'temporal.api.history.v1.History',
);

/** `WorkflowExecutionStarted` (older tools) → `EVENT_TYPE_WORKFLOW_EXECUTION_STARTED`. */
function constantCase(value: unknown, prefix: string): unknown {
  if (typeof value !== 'string' || value.startsWith(prefix)) return value;
  return `${prefix}_${value.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

const ENUM_FIELDS: Record<string, string> = {
  parentClosePolicy: 'PARENT_CLOSE_POLICY',
  workflowIdReusePolicy: 'WORKFLOW_ID_REUSE_POLICY',
  initiator: 'CONTINUE_AS_NEW_INITIATOR',
  retryState: 'RETRY_STATE',
};

/** A History from its proto JSON (`{"events": [...]}`), tolerating older tools' enum spellings. */
export function historyFromJson(json: { events: unknown[] }): History {
  const events = json.events.map((raw) => {
    const e = raw as Record<string, unknown>;
    const key = Object.keys(e).find((k) => k.endsWith('EventAttributes'));
    if (!key) throw new TypeError(`an event without attributes: ${JSON.stringify(e).slice(0, 200)}`);
    const attrs = { ...(e[key] as Record<string, unknown>) };
    for (const [field, prefix] of Object.entries(ENUM_FIELDS))
      if (field in attrs) attrs[field] = constantCase(attrs[field], prefix);
    const tq = attrs.taskQueue as Record<string, unknown> | undefined;
    if (tq?.kind) attrs.taskQueue = { ...tq, kind: constantCase(tq.kind, 'TASK_QUEUE_KIND') };
    return { ...e, eventType: constantCase(e.eventType, 'EVENT_TYPE'), [key]: attrs };
  });
  const history = protojson.fromJson(historyType, { events }, { ignoreUnknownFields: true });
  if (!history) throw new TypeError('not a history');
  return history as History;
}

/** The proto JSON of a History, as `temporal workflow show --output json` prints it. */
export function historyToJson(history: History): { events: unknown[] } {
  return protojson.toJson(historyType, temporal.api.history.v1.History.fromObject(history)) as {
    events: unknown[];
  };
}

/** One history to replay and where it came from. */
export interface HistorySource {
  workflowId: string;
  history: History;
  /** `file <path>` or `temporal`. */
  source: string;
}

export interface ReplayOutcome {
  workflowId: string;
  runId: string;
  workflowType: string | null;
  source: string;
  status: 'ok' | 'nondeterminism' | 'error';
  error?: {
    name: string;
    /** The replayer's own message (Core's `[TMPRL1100] Nondeterminism error: …` where there is one). */
    message: string;
    /** The history event the workflow code diverged at, when the replayer names it. */
    eventId: number | null;
    eventType: string | null;
    /** What that event recorded (e.g. `activity planRevocation`), from the history. */
    event: string | null;
    /** The full error message of the SDK. */
    detail: string;
  };
}

const num = (v: unknown) => (v == null ? 0 : Number(v));

function workflowTypeOf(history: History): string | null {
  return history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? null;
}

/** A short description of what an event recorded: the activity, the timer, the signal, … */
function describeEvent(e: proto.temporal.api.history.v1.IHistoryEvent | undefined): string | null {
  if (!e) return null;
  const type = eventTypeName(e.eventType);
  const patch = patchIdOf(e);
  const extra =
    e.activityTaskScheduledEventAttributes?.activityType?.name ??
    (e.timerStartedEventAttributes ? `timer ${e.timerStartedEventAttributes.timerId ?? ''}` : null) ??
    e.workflowExecutionSignaledEventAttributes?.signalName ??
    e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowType?.name ??
    (patch ? `patch ${patch}` : null) ??
    (e.upsertWorkflowSearchAttributesEventAttributes
      ? Object.keys(
          e.upsertWorkflowSearchAttributesEventAttributes.searchAttributes?.indexedFields ?? {},
        ).join(', ')
      : null);
  return extra ? `${type} (${extra})` : type;
}

/**
 * Turns a replay error into what an operator needs: Core's own sentence, and the event it names
 * (`HistoryEvent(id: 5, …)` in Core's messages, or the marker of the patch it names), looked up in the
 * history for what it recorded.
 */
export function explainReplayError(err: Error, history: History): NonNullable<ReplayOutcome['error']> {
  const detail = err.message;
  const core = /\[TMPRL\d+\][^"\\]*/.exec(detail)?.[0]?.trim();
  const details = /Details: (.*)$/s.exec(detail)?.[1]?.trim();
  const at = /HistoryEvent\(id: (\d+), (\w+)/.exec(detail) ?? /event (?:id )?(\d+)/i.exec(detail);
  // "patch marker encountered for change <id>, but there is no corresponding change command": Core
  // names the patch, not the event; its marker is the event.
  const patch = /patch marker encountered for change ([^\s,]+)/.exec(detail)?.[1];
  const marker = patch ? history.events?.find((e) => patchIdOf(e) === patch) : undefined;
  const eventId = at ? Number(at[1]) : marker ? num(marker.eventId) : null;
  const event = eventId != null ? history.events?.find((e) => num(e.eventId) === eventId) : undefined;
  return {
    name: err.name,
    message: core ?? details ?? detail,
    eventId,
    eventType: at?.[2] ?? (event ? eventTypeName(event.eventType) : null),
    event: describeEvent(event),
    detail,
  };
}

/**
 * Reads a history file: `{"events": [...]}` as `temporal workflow show --output json` and
 * `historyToJSON` write it (optionally with a `workflowId`, as test/replay/histories do), or a bare
 * array of events. The workflow id is the file's `workflowId`, else the file name without `.json`.
 */
export function readHistoryFile(file: string): HistorySource {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CliError(EXIT.usage, `cannot read history file ${file}: ${(e as Error).message}`);
  }
  const obj = (Array.isArray(json) ? { events: json } : json) as { events?: unknown; workflowId?: unknown };
  if (!obj || !Array.isArray(obj.events) || obj.events.length === 0)
    throw new CliError(EXIT.usage, `${file} is not a workflow history: it needs an "events" array`);
  let history: History;
  try {
    history = historyFromJson({ events: obj.events });
  } catch (e) {
    throw new CliError(EXIT.usage, `${file} is not a valid workflow history: ${(e as Error).message}`);
  }
  if (history.events?.[0]?.eventType !== EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
    throw new CliError(EXIT.usage, `${file}: a history starts with WorkflowExecutionStarted`);
  const workflowId =
    typeof obj.workflowId === 'string' && obj.workflowId ? obj.workflowId : path.basename(file, '.json');
  return { workflowId, history, source: `file ${file}` };
}

/** The files named: a directory stands for every `*.json` in it and in its subdirectories. */
export function historyFiles(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch (e) {
      throw new CliError(EXIT.usage, `cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
    if (st.isDirectory()) {
      const json = readdirSync(p, { recursive: true, withFileTypes: true })
        .filter((f) => f.isFile() && f.name.endsWith('.json'))
        .map((f) => path.join(f.parentPath, f.name))
        .sort();
      if (json.length === 0) throw new CliError(EXIT.usage, `${p} holds no .json history files`);
      out.push(...json);
    } else out.push(p);
  }
  return out;
}

/** An instant from `2026-11-01` (UTC midnight) or an ISO date-time. */
export function instantArg(value: string): string {
  const d = /^\d{4}-\d{2}-\d{2}$/.test(value) ? new Date(`${value}T00:00:00Z`) : new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(d.getTime()))
    throw new InvalidArgumentError('must be a date (2026-11-01) or an ISO date-time (2026-11-01T08:00:00Z)');
  return d.toISOString();
}

/**
 * The visibility query for the offboardings (and rescission reviews) running now (started in the window,
 * if one is given), or failed or closed in the window.
 */
export function windowQuery(
  which: 'running' | 'failed' | 'closed',
  since: string | undefined,
  until: string | undefined,
): string {
  const types = [OFFBOARDING_WORKFLOW, RESCISSION_REVIEW_WORKFLOW].map((t) => `'${t}'`).join(', ');
  const time = which === 'running' ? 'StartTime' : 'CloseTime';
  return [
    `WorkflowType IN (${types})`,
    {
      running: `ExecutionStatus = 'Running'`,
      failed: `ExecutionStatus = 'Failed'`,
      closed: `ExecutionStatus != 'Running'`,
    }[which],
    ...(since ? [`${time} >= '${since}'`] : []),
    ...(until ? [`${time} <= '${until}'`] : []),
  ].join(' AND ');
}

/** gRPC status codes of the errors the commands map. */
const GRPC = { invalidArgument: 3, notFound: 5, unavailable: 14, deadlineExceeded: 4 } as const;

function grpcCode(e: unknown): number | undefined {
  const direct = (e as { code?: unknown }).code;
  if (typeof direct === 'number') return direct;
  const cause = (e as { cause?: { code?: unknown } }).cause?.code;
  return typeof cause === 'number' ? cause : undefined;
}

/** Maps an error talking to Temporal to the CLI's exit codes. */
function temporalError(e: unknown, what: string): unknown {
  if (e instanceof CliError) return e;
  const code = grpcCode(e);
  const msg = (e as Error).message?.split('\n')[0] ?? String(e);
  if (code === GRPC.unavailable || code === GRPC.deadlineExceeded)
    return new CliError(EXIT.unavailable, `Temporal unavailable while ${what}: ${msg}`);
  if (code === GRPC.invalidArgument) return new CliError(EXIT.usage, `Temporal refused ${what}: ${msg}`);
  return e;
}

let runtimeReady = false;
/** The SDK's runtime with a quiet logger (the replayer logs each failed workflow task as a warning). */
function installQuietRuntime(verbose: boolean): void {
  if (runtimeReady) return;
  runtimeReady = true;
  const level: LogLevel = verbose ? 'INFO' : 'ERROR';
  try {
    Runtime.install({
      logger: new DefaultLogger(level, (entry) =>
        process.stderr.write(`[${entry.level}] ${entry.message}\n`),
      ),
      telemetryOptions: {
        logging: { forward: {}, filter: makeTelemetryFilterString({ core: verbose ? 'WARN' : 'ERROR' }) },
      },
    });
  } catch {
    // Already installed in this process (the CLI run in-process): keep that one.
  }
}

/** The ids of the codec keys a history's payloads are encrypted with (`encryption-key-id` metadata). */
export function encryptionKeyIds(history: History): Set<string> {
  const ids = new Set<string>();
  const walk = (v: unknown): void => {
    if (!v || typeof v !== 'object' || v instanceof Uint8Array) return;
    if (Array.isArray(v)) return v.forEach(walk);
    const meta = (v as { metadata?: Record<string, unknown> }).metadata;
    const id = meta?.[KEY_ID_METADATA];
    if (id instanceof Uint8Array) ids.add(Buffer.from(id).toString('utf8'));
    for (const x of Object.values(v)) walk(x);
  };
  walk(history.events);
  return ids;
}

/**
 * Replays `histories` with `code` and returns one outcome per history, in order. `keyIds` are the codec
 * keys configured: a history that needs another one is reported as such, not as a replay failure.
 */
export async function replayAll(
  histories: AsyncIterable<HistorySource> | Iterable<HistorySource>,
  code: Pick<ReplayWorkerOptions, 'workflowsPath' | 'workflowBundle'>,
  dataConverter: DataConverter,
  {
    onResult = () => undefined,
    keyIds = [],
  }: { onResult?: (r: ReplayOutcome) => void; keyIds?: string[] } = {},
): Promise<ReplayOutcome[]> {
  const pushed: HistorySource[] = [];
  async function* feed() {
    for await (const h of histories) {
      pushed.push(h);
      yield { workflowId: h.workflowId, history: h.history };
    }
  }
  const out: ReplayOutcome[] = [];
  const results = Worker.runReplayHistories(
    { ...code, dataConverter, replayName: 'offboard-replay' },
    feed(),
  );
  for await (const r of results) {
    const h = pushed[out.length]!;
    const outcome: ReplayOutcome = {
      workflowId: r.workflowId,
      runId: r.runId,
      workflowType: workflowTypeOf(h.history),
      source: h.source,
      status: !r.error ? 'ok' : r.error.name === 'DeterminismViolationError' ? 'nondeterminism' : 'error',
      ...(r.error ? { error: explainReplayError(r.error, h.history) } : {}),
    };
    const missing = [...encryptionKeyIds(h.history)].filter((id) => !keyIds.includes(id));
    if (outcome.status === 'error' && outcome.error && missing.length > 0)
      outcome.error.message =
        `its payloads are encrypted with key id ${missing.map((k) => `"${k}"`).join(', ')}, which ` +
        `PAYLOAD_CODEC_KEYS does not hold${keyIds.length ? '' : ' (it is not set)'}`;
    out.push(outcome);
    onResult(outcome);
  }
  return out;
}

interface ReplayOptions {
  query?: string;
  running?: boolean;
  failed?: boolean;
  closed?: boolean;
  since?: string;
  until?: string;
  file?: string[];
  workflows?: string;
  bundle?: string;
  limit: number;
  verbose?: boolean;
  json?: boolean;
}

/** The workflow code to replay against: `--bundle`/WORKFLOW_BUNDLE, `--workflows`, or workflows/. */
function workflowCode(opts: ReplayOptions): {
  code: Pick<ReplayWorkerOptions, 'workflowsPath' | 'workflowBundle'>;
  label: string;
} {
  const bundle = opts.bundle ?? (opts.workflows ? undefined : process.env.WORKFLOW_BUNDLE);
  if (bundle) {
    const p = path.resolve(bundle);
    if (!statSync(p, { throwIfNoEntry: false })?.isFile())
      throw new CliError(EXIT.usage, `no workflow bundle at ${bundle} (--bundle or WORKFLOW_BUNDLE)`);
    return { code: { workflowBundle: { codePath: p } }, label: `bundle ${bundle}` };
  }
  if (opts.workflows) {
    let p: string;
    try {
      p = require.resolve(path.resolve(opts.workflows));
    } catch {
      throw new CliError(EXIT.usage, `no workflow module at ${opts.workflows} (--workflows)`);
    }
    return { code: { workflowsPath: p }, label: opts.workflows };
  }
  return {
    code: { workflowsPath: require.resolve('../../workflows') },
    label: 'workflows/ of this checkout',
  };
}

/**
 * The executions a visibility query matches, newest first, as ids only. Read from the service directly
 * rather than through `client.workflow.list`, which decodes every memo and so fails outright (with the
 * codec's "Unknown encoding: binary/encrypted") when PAYLOAD_CODEC_KEYS is not set; each history then
 * reports its own missing key, as a named workflow's does.
 */
async function* executions(
  client: Client,
  namespace: string,
  query: string,
): AsyncIterable<{ workflowId: string; runId: string }> {
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await client.workflowService.listWorkflowExecutions({ namespace, query, nextPageToken });
    for (const e of page.executions ?? [])
      if (e.execution?.workflowId && e.execution.runId)
        yield { workflowId: e.execution.workflowId, runId: e.execution.runId };
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
}

/** The worker's data converter from PAYLOAD_CODEC_KEYS, and the key ids it holds. */
function dataConverterFromEnv(): { dataConverter: DataConverter; keyIds: string[] } {
  const spec = process.env.PAYLOAD_CODEC_KEYS?.trim();
  if (!spec) return { dataConverter: dataConverterFrom({ PAYLOAD_CODEC_KEYS: undefined }), keyIds: [] };
  const r = parseCodecKeys(spec);
  if ('errors' in r) throw new CliError(EXIT.usage, `invalid PAYLOAD_CODEC_KEYS: ${r.errors.join('; ')}`);
  return {
    dataConverter: dataConverterFrom({ PAYLOAD_CODEC_KEYS: r.keys }),
    keyIds: r.keys.map((k) => k.id),
  };
}

function renderOutcome(r: ReplayOutcome): string {
  const word = { ok: 'OK', nondeterminism: 'NONDETERMINISM', error: 'ERROR' }[r.status].padEnd(14);
  const head = `${word}  ${r.workflowId}  ${r.workflowType ?? '?'}  run ${r.runId}`;
  if (!r.error) return head;
  const lines = [head];
  if (r.error.eventId != null)
    lines.push(`    diverged at event ${r.error.eventId}: ${r.error.event ?? r.error.eventType ?? '?'}`);
  lines.push(`    ${r.error.message}`);
  return lines.join('\n');
}

export function replayCommand(): Command {
  const cmd = new Command('replay')
    .summary("replay recorded histories against today's workflow code")
    .description(
      "Run workflow histories through this checkout's workflow code with Temporal's replayer and report, " +
        'per workflow id, OK or the non-determinism (the message and the history event the code diverged ' +
        'at). Run it before deploying a workflow change: a history that does not replay is a running ' +
        'offboarding the new worker would break (guard the change with patched() instead).\n\n' +
        'Histories: WORKFLOW ids (their current run), --query (a visibility query), --running (every ' +
        'running offboarding and rescission review: the ones a deployment must not break), --failed or ' +
        '--closed with --since [--until] (those closed in that window), from Temporal ' +
        '(TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*); or --file (history JSON as ' +
        '`temporal workflow show --output json` writes it; a directory means every .json in it). Encrypted ' +
        'payloads are decoded with PAYLOAD_CODEC_KEYS, as the worker does.',
    )
    .argument('[workflow...]', 'workflow ids (offboarding:<employeeId>, rescission:<departureId>)')
    .option('--query <query>', 'visibility query, e.g. "WorkflowType = \'offboardingWorkflow\'"')
    .addOption(
      new Option('--running', 'every running offboarding (with --since: started since)').conflicts([
        'failed',
        'closed',
      ]),
    )
    .addOption(
      new Option('--failed', 'every failed offboarding closed in --since..--until').conflicts('closed'),
    )
    .option('--closed', 'every closed (completed, failed, terminated, …) offboarding in --since..--until')
    .option('--since <date>', 'start of the window (2026-11-01 or an ISO date-time)', instantArg)
    .option('--until <date>', 'end of the window (default now)', instantArg)
    .option('--file <history.json...>', 'history JSON files or directories of them')
    .option('--workflows <path>', "workflow module to replay against (default: this checkout's workflows/)")
    .option('--bundle <file>', 'a prebuilt workflow bundle to replay against (env WORKFLOW_BUNDLE)')
    .option('--limit <n>', 'at most this many histories from a query or window', intIn(1, 100_000), 1000)
    .option('--verbose', "show the replayer's own logs");
  jsonOption(cmd);
  cmd.addHelpText(
    'after',
    '\nExit codes: 0 every history replayed; 1 a non-determinism (a finding: do not deploy); 2 some\n' +
      'histories could not be replayed (e.g. undecodable payloads), none non-deterministic; 3 a named\n' +
      'workflow not found; 64 usage or an unreadable file; 69 Temporal unreachable.',
  );
  cmd.action(async (ids: string[], opts: ReplayOptions) => {
    const window = opts.running ? 'running' : opts.failed ? 'failed' : opts.closed ? 'closed' : null;
    if ((opts.since || opts.until) && !window)
      throw new CliError(EXIT.usage, '--since and --until go with --running, --failed or --closed');
    if (window && window !== 'running' && !opts.since)
      throw new CliError(EXIT.usage, `--${window} needs --since <date>`);
    if (opts.workflows && opts.bundle)
      throw new CliError(EXIT.usage, 'use --workflows or --bundle, not both');
    const files = historyFiles(opts.file ?? []);
    if (ids.length === 0 && files.length === 0 && !opts.query && !window)
      throw new CliError(
        EXIT.usage,
        'nothing to replay: name workflow ids, --query, --running, --failed/--closed --since, or --file',
      );
    const fromFiles = files.map(readHistoryFile);
    const { code, label } = workflowCode(opts);
    const { dataConverter, keyIds } = dataConverterFromEnv();
    const queries = [
      ...(opts.query ? [opts.query] : []),
      ...(window
        ? [
            windowQuery(
              window,
              opts.since,
              opts.until ?? (window === 'running' ? undefined : new Date().toISOString()),
            ),
          ]
        : []),
    ];

    const needsTemporal = ids.length > 0 || queries.length > 0;
    const t = needsTemporal ? await connectTemporal() : null;
    try {
      const client = t
        ? new Client({ connection: t.client.connection, namespace: t.namespace, dataConverter })
        : null;
      // Named workflows first, fetched up front: one that does not exist stops the command.
      const named: HistorySource[] = [];
      for (const id of ids) {
        try {
          named.push({
            workflowId: id,
            history: await client!.workflow.getHandle(id).fetchHistory(),
            source: 'temporal',
          });
        } catch (e) {
          if (grpcCode(e) === GRPC.notFound || (e as Error).name === 'WorkflowNotFoundError')
            throw new CliError(EXIT.refused, `no workflow ${id} in namespace ${t!.namespace}`);
          throw temporalError(e, `fetching the history of ${id}`);
        }
      }
      const seen = new Set(named.map((n) => n.workflowId));
      async function* all(): AsyncIterable<HistorySource> {
        yield* fromFiles;
        yield* named;
        for (const query of queries) {
          let n = 0;
          for await (const w of executions(client!, t!.namespace, query)) {
            const key = `${w.workflowId}/${w.runId}`;
            if (seen.has(key) || seen.has(w.workflowId)) continue;
            seen.add(key);
            if (++n > opts.limit) break;
            const history = await client!.workflow.getHandle(w.workflowId, w.runId).fetchHistory();
            yield { workflowId: w.workflowId, history, source: 'temporal' };
          }
        }
      }

      installQuietRuntime(!!opts.verbose);
      let outcomes: ReplayOutcome[];
      try {
        outcomes = await replayAll(all(), code, dataConverter, {
          keyIds,
          onResult: (r) => {
            if (!opts.json) println(renderOutcome(r));
          },
        });
      } catch (e) {
        throw temporalError(e, 'listing or fetching histories');
      }
      const count = (s: ReplayOutcome['status']) => outcomes.filter((o) => o.status === s).length;
      const summary = {
        total: outcomes.length,
        ok: count('ok'),
        nondeterminism: count('nondeterminism'),
        error: count('error'),
      };
      if (opts.json) printJson({ workflowCode: label, queries, summary, results: outcomes });
      else if (outcomes.length === 0) println(`no workflow matched; nothing replayed (against ${label})`);
      else
        println(
          `\n${summary.total} ${summary.total === 1 ? 'history' : 'histories'} checked against ${label}: ` +
            `${summary.ok} OK, ${summary.nondeterminism} non-deterministic, ${summary.error} could not be replayed`,
        );
      process.exitCode =
        summary.nondeterminism > 0 ? EXIT.finding : summary.error > 0 ? EXIT.incomplete : EXIT.ok;
    } finally {
      await t?.close().catch(() => undefined);
    }
  });
  return cmd;
}
