/**
 * The example Grafana dashboard and Prometheus alert rules (temporal-docker/grafana, temporal-docker/
 * prometheus): both parse, every rule is complete, and every metric they reference is one Offboard
 * exports: the API's own (server/metrics.ts) here, the worker's Temporal SDK metrics (`temporal_*`)
 * against a live worker in test/tracing.e2e.test.ts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import type { Db } from '../lib/db';
import { createMetrics, exportedSeriesNames } from '../server/metrics';
import {
  ALERTS_FILE,
  expressions,
  metricsOf,
  readAlertRules,
  readDashboard,
  referencedMetrics,
  type GrafanaPanel,
} from './support/observability';

/** Series Prometheus itself makes for every target: not the application's to export. */
const PROMETHEUS_SERIES = new Set(['up']);

test('the PromQL reader finds the metric names of an expression', () => {
  expect(
    metricsOf(
      'histogram_quantile(0.99, sum by (le, task_queue) (rate(offboard_x_bucket{job="a",le!="+Inf"}[$__rate_interval]))) > 1 and on (job) up offset 5m',
    ).sort(),
  ).toEqual(['offboard_x_bucket', 'up']);
  expect(metricsOf('max by (kind) (offboard_outbox_oldest_seconds) > 300')).toEqual([
    'offboard_outbox_oldest_seconds',
  ]);
});

test('the dashboard is a Grafana dashboard whose panels all query something', () => {
  const d = readDashboard();
  expect(d.title).toBe('Offboard');
  expect(d.uid).toMatch(/^[a-z0-9-]{1,40}$/);
  const panels: GrafanaPanel[] = [];
  const walk = (ps: GrafanaPanel[] = []) => ps.forEach((p) => (panels.push(p), walk(p.panels)));
  walk(d.panels);
  const queried = panels.filter((p) => p.type !== 'row');
  expect(queried.length).toBeGreaterThan(10);
  for (const p of queried) {
    expect({ panel: p.title, targets: (p.targets ?? []).length > 0 }).toEqual({
      panel: p.title,
      targets: true,
    });
    for (const t of p.targets ?? []) expect(t.expr).toEqual(expect.stringMatching(/\S/));
  }
  const ids = panels.map((p) => (p as { id?: number }).id);
  expect(new Set(ids).size).toBe(ids.length);
});

test('every alert rule has an expression, a for, a severity and a summary', () => {
  const groups = readAlertRules();
  const rules = groups.flatMap((g) => g.rules);
  expect(rules.length).toBeGreaterThan(5);
  for (const r of rules) {
    expect({
      alert: r.alert,
      expr: typeof r.expr === 'string' && r.expr.trim().length > 0,
      for: typeof r.for === 'string' && /^\d+[smhd]$/.test(r.for),
      severity: ['info', 'warning', 'critical'].includes(String(r.labels?.severity)),
      summary: typeof r.annotations?.summary === 'string' && r.annotations.summary.length > 0,
    }).toEqual({
      alert: expect.stringMatching(/^Offboard[A-Za-z]+$/),
      expr: true,
      for: true,
      severity: true,
      summary: true,
    });
  }
  expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
});

test('every metric the dashboard and the alerts use is one the API exports (or the worker SDK’s)', async () => {
  const names = await exportedSeriesNames(createMetrics({ pool: null } as unknown as Db));
  const used = referencedMetrics();
  expect([...used].some((n) => n.startsWith('offboard_'))).toBe(true);
  const unknown = expressions().flatMap(({ where, expr }) =>
    metricsOf(expr)
      .filter((n) => !names.has(n) && !PROMETHEUS_SERIES.has(n) && !n.startsWith('temporal_'))
      .map((n) => `${where}: ${n}`),
  );
  expect(unknown).toEqual([]);
  // Each of the API's own metrics appears somewhere (a metric nobody looks at is noise).
  for (const n of [
    'offboard_departures',
    'offboard_open_steps',
    'offboard_red_items_open',
    'offboard_outbox_depth',
  ])
    expect(used.has(n)).toBe(true);
  expect(used.has('offboard_revocation_confirmation_seconds_bucket')).toBe(true);
  expect(used.has('offboard_webhook_rejected_total')).toBe(true);
});

test('the example scrape configuration loads the alert rules and names the jobs they use', () => {
  const file = path.join(path.dirname(ALERTS_FILE), 'prometheus.example.yml');
  const cfg = parse(readFileSync(file, 'utf8')) as {
    rule_files: string[];
    scrape_configs: { job_name: string; authorization?: { type: string } }[];
  };
  expect(cfg.rule_files).toContain(path.basename(ALERTS_FILE));
  const jobs = cfg.scrape_configs.map((j) => j.job_name);
  for (const { expr } of expressions())
    for (const m of expr.matchAll(/job="([^"]+)"/g)) expect(jobs).toContain(m[1]);
  expect(cfg.scrape_configs.find((j) => j.job_name === 'offboard-api')?.authorization?.type).toBe('Bearer');
});
