/**
 * The API's Prometheus metrics (`GET /metrics`, docs/operations.md "Metrics"): Offboard's own state,
 * read from the database at scrape time in four aggregate statements (never per row), counters kept
 * in this process, and Node's process metrics. Labels are catalog ids, statuses and error codes: never
 * an employee, a name, an address or a secret.
 *
 * Where it is served (`metricsExposure`): on its own listener (METRICS_PORT on METRICS_BIND), or on the
 * API's port; with METRICS_TOKEN only for `Authorization: Bearer <token>`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type Request, type Response } from 'express';
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import { DEPARTURE_STATUSES } from '../contract';
import { rows, type Db } from '../lib/db';
import type { AppConfig } from '../config/env';

/** Departures whose offboarding is over: their steps are history, not state. */
const CLOSED = ['completed', 'rescinded', 'blocked'];

/** Upper bounds (seconds) of `offboard_revocation_confirmation_seconds`: the 1 s bar, up to a week. */
export const REVOCATION_BUCKETS = [0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 14_400, 86_400, 604_800];

/** The outbox kinds: departures accepted but not started, then the workflow messages' kinds. */
export const OUTBOX_KINDS = ['start', 'lastDayChanged', 'rescind', 'contactUpdated'] as const;

/** The webhook senders a counter may name (anything else is `other`: label values stay bounded). */
export const WEBHOOK_SOURCES = ['hris', 'bamboohr', 'hibob', 'personio', 'other'] as const;

export interface AppMetrics {
  registry: Registry;
  /** Every answered webhook delivery, by sender and HTTP status. */
  webhookDeliveries: Counter<'source' | 'status'>;
  /** Refused webhook deliveries (4xx), by sender and the error code answered (`signature_invalid`, …). */
  webhookRejected: Counter<'source' | 'reason'>;
  /** Reads the database, then the exposition text (Prometheus text format 0.0.4). */
  render(): Promise<string>;
  contentType: string;
}

/**
 * The cumulative distribution of the time from a departure's acceptance (its trigger, or the end of
 * the notice period for a step held back by one) to each revocation step's confirmation, read from
 * the database: counts only grow as steps are confirmed, as a histogram's must.
 */
class RevocationHistogram {
  readonly name = 'offboard_revocation_confirmation_seconds';
  readonly help =
    'Time from the trigger (or the end of the notice period) to each confirmed revocation step, in seconds';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  buckets: number[] = REVOCATION_BUCKETS.map(() => 0);
  count = 0;
  sum = 0;

  get() {
    const values = [
      ...REVOCATION_BUCKETS.map((le, i) => ({
        labels: { le },
        value: this.buckets[i]!,
        metricName: `${this.name}_bucket`,
      })),
      { labels: { le: '+Inf' }, value: this.count, metricName: `${this.name}_bucket` },
      { labels: {}, value: this.sum, metricName: `${this.name}_sum` },
      { labels: {}, value: this.count, metricName: `${this.name}_count` },
    ];
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

const DEPARTURES_SQL = `SELECT status, count(*)::int AS n, COALESCE(sum("redItems"), 0)::int AS red
  FROM "Departure" GROUP BY status`;

const OPEN_STEPS_SQL = `SELECT s."systemId" AS system, s.status, count(*)::int AS n
  FROM "StepRecord" s JOIN "Departure" d ON d.id = s."departureId"
  WHERE d.status <> ALL($1::text[]) GROUP BY 1, 2`;

// Timestamps are UTC wall time (Prisma's convention): "now" is taken the same way.
const OUTBOX_SQL = `SELECT 'start' AS kind, count(*)::int AS n,
    COALESCE(EXTRACT(EPOCH FROM (now() AT TIME ZONE 'UTC') - min("createdAt")), 0)::float8 AS oldest
  FROM "Departure" WHERE "workflowStartedAt" IS NULL AND status = 'accepted'
  UNION ALL
  SELECT kind, count(*)::int, EXTRACT(EPOCH FROM (now() AT TIME ZONE 'UTC') - min("createdAt"))::float8
  FROM "WorkflowMessage" WHERE status = 'pending' GROUP BY kind`;

// One scan of the confirmed revocation steps; the bucket bounds are this module's constants.
const REVOCATION_SQL = `WITH t AS (
    SELECT GREATEST(EXTRACT(EPOCH FROM s."confirmedAt" - GREATEST(d."createdAt", COALESCE(s."scheduledFor", d."createdAt"))), 0)::float8 AS v
    FROM "StepRecord" s JOIN "Departure" d ON d.id = s."departureId"
    WHERE s.kind IN ('revoke', 'revoke_owned') AND s.status = 'green' AND s."confirmedAt" IS NOT NULL)
  SELECT count(*)::int AS n, COALESCE(sum(v), 0)::float8 AS total,
    ${REVOCATION_BUCKETS.map((le, i) => `count(*) FILTER (WHERE v <= ${le})::int AS b${i}`).join(', ')}
  FROM t`;

/** The API's metrics over `db`, in a registry of their own. */
export function createMetrics(db: Pick<Db, 'pool'>): AppMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const departures = new Gauge({
    name: 'offboard_departures',
    help: 'Departures by status',
    labelNames: ['status'],
    registers,
  });
  const openSteps = new Gauge({
    name: 'offboard_open_steps',
    help: 'Steps of offboardings not yet over, by catalog system and status (colour)',
    labelNames: ['system', 'status'],
    registers,
  });
  const redItems = new Gauge({
    name: 'offboard_red_items_open',
    help: 'Red verification-report items without a resolution',
    registers,
  });
  const outboxDepth = new Gauge({
    name: 'offboard_outbox_depth',
    help: 'Work accepted but not yet handed to Temporal: departures not started, messages not delivered',
    labelNames: ['kind'],
    registers,
  });
  const outboxOldest = new Gauge({
    name: 'offboard_outbox_oldest_seconds',
    help: 'Age of the oldest item waiting in the outbox, by kind (0 when empty)',
    labelNames: ['kind'],
    registers,
  });
  const databaseUp = new Gauge({
    name: 'offboard_metrics_database_up',
    help: '1 when the last scrape could read the database, else 0 (the gauges then keep their last values)',
    registers,
  });
  const revocation = new RevocationHistogram();
  registry.registerMetric(revocation as unknown as Metric);
  const webhookDeliveries = new Counter({
    name: 'offboard_webhook_deliveries_total',
    help: 'Webhook deliveries answered, by sender and HTTP status',
    labelNames: ['source', 'status'],
    registers,
  });
  const webhookRejected = new Counter({
    name: 'offboard_webhook_rejected_total',
    help: 'Webhook deliveries refused (4xx), by sender and the error code answered',
    labelNames: ['source', 'reason'],
    registers,
  });

  async function readDatabase(): Promise<void> {
    const [deps, steps, outbox, rev] = await Promise.all([
      rows<{ status: string; n: number; red: number }>(db, DEPARTURES_SQL),
      rows<{ system: string; status: string; n: number }>(db, OPEN_STEPS_SQL, [CLOSED]),
      rows<{ kind: string; n: number; oldest: number }>(db, OUTBOX_SQL),
      rows<Record<string, number>>(db, REVOCATION_SQL),
    ]);
    departures.reset();
    for (const s of DEPARTURE_STATUSES) departures.set({ status: s }, 0);
    for (const r of deps) departures.set({ status: r.status }, r.n);
    redItems.set(deps.reduce((a, r) => a + r.red, 0));
    openSteps.reset();
    for (const r of steps) openSteps.set({ system: r.system, status: r.status }, r.n);
    outboxDepth.reset();
    outboxOldest.reset();
    for (const k of OUTBOX_KINDS) {
      outboxDepth.set({ kind: k }, 0);
      outboxOldest.set({ kind: k }, 0);
    }
    for (const r of outbox) {
      outboxDepth.set({ kind: r.kind }, r.n);
      outboxOldest.set({ kind: r.kind }, r.n > 0 ? Math.max(0, r.oldest) : 0);
    }
    const h = rev[0] ?? {};
    revocation.count = h.n ?? 0;
    revocation.sum = h.total ?? 0;
    revocation.buckets = REVOCATION_BUCKETS.map((_, i) => h[`b${i}`] ?? 0);
  }

  // Scrapes at the same moment share one read.
  let reading: Promise<void> | null = null;
  return {
    registry,
    webhookDeliveries,
    webhookRejected,
    contentType: registry.contentType,
    async render() {
      reading ??= readDatabase().finally(() => (reading = null));
      try {
        await reading;
        databaseUp.set(1);
      } catch {
        databaseUp.set(0);
      }
      return registry.metrics();
    },
  };
}

/** Every series name the API exports (a histogram's `_bucket`, `_sum`, `_count`): for dashboards' checks. */
export async function exportedSeriesNames(m: AppMetrics): Promise<Set<string>> {
  const names = new Set<string>();
  for (const metric of await m.registry.getMetricsAsJSON()) {
    const base = metric.name;
    if (String(metric.type) === 'histogram')
      for (const s of ['_bucket', '_sum', '_count']) names.add(`${base}${s}`);
    else if (String(metric.type) === 'summary')
      for (const s of ['', '_sum', '_count']) names.add(`${base}${s}`);
    else names.add(base);
  }
  return names;
}

/** Where `/metrics` is served: its own listener, the API's port, or nowhere. */
export type MetricsExposure =
  | { on: 'own-port'; bind: string; port: number; token: string | null }
  | { on: 'api'; token: string | null }
  | { on: 'off' };

/**
 * METRICS_PORT: its own listener on METRICS_BIND. Else METRICS_TOKEN: on the API's port, with the token.
 * Else on the API's port without one, except with NODE_ENV=production (the API's port is the one the
 * proxy publishes): off there. config/production.ts refuses the own listener without a token on a
 * public interface.
 */
export function metricsExposure(
  cfg: Pick<AppConfig, 'METRICS_PORT' | 'METRICS_BIND' | 'METRICS_TOKEN' | 'NODE_ENV'>,
): MetricsExposure {
  const token = cfg.METRICS_TOKEN ?? null;
  if (cfg.METRICS_PORT !== undefined)
    return { on: 'own-port', bind: cfg.METRICS_BIND, port: cfg.METRICS_PORT, token };
  if (token || cfg.NODE_ENV !== 'production') return { on: 'api', token };
  return { on: 'off' };
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** `GET /metrics`; with a token only for `Authorization: Bearer <token>` (compared in constant time). */
export function createMetricsRouter(metrics: AppMetrics, token: string | null): express.Router {
  const r = express.Router();
  const expected = token ? sha256(token) : null;
  r.get('/metrics', async (req: Request, res: Response) => {
    if (expected) {
      const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
      if (!m || !timingSafeEqual(sha256(m[1]!), expected)) {
        res.setHeader('www-authenticate', 'Bearer');
        res
          .status(401)
          .json({ error: { code: 'unauthenticated', message: 'a valid metrics token is required' } });
        return;
      }
    }
    const text = await metrics.render();
    res.setHeader('content-type', metrics.contentType);
    res.setHeader('cache-control', 'no-store');
    res.end(text); // not send(): it would rewrite the content type's parameters
  });
  return r;
}
