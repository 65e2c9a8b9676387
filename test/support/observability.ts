/**
 * The example Grafana dashboard and Prometheus alert rules of temporal-docker/ (docs/operations.md,
 * "Metrics"), read for the tests: their PromQL expressions and the metric names those reference.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

const ROOT = path.resolve(__dirname, '..', '..');
export const DASHBOARD_FILE = path.join(ROOT, 'temporal-docker', 'grafana', 'offboard-dashboard.json');
export const ALERTS_FILE = path.join(ROOT, 'temporal-docker', 'prometheus', 'alerts.yml');

export interface GrafanaPanel {
  title?: string;
  type?: string;
  targets?: { expr?: string; refId?: string }[];
  panels?: GrafanaPanel[];
}

export interface AlertRule {
  alert?: string;
  expr?: unknown;
  for?: unknown;
  labels?: { severity?: unknown };
  annotations?: { summary?: unknown; description?: unknown };
}

export function readDashboard(): { title?: string; uid?: string; panels?: GrafanaPanel[] } {
  return JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as { panels?: GrafanaPanel[] };
}

export function readAlertRules(): { name: string; rules: AlertRule[] }[] {
  const doc = parse(readFileSync(ALERTS_FILE, 'utf8')) as { groups?: { name: string; rules: AlertRule[] }[] };
  return doc.groups ?? [];
}

/** Every PromQL expression of the dashboard (rows' panels included) and of the alert rules. */
export function expressions(): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const walk = (panels: GrafanaPanel[] = []) => {
    for (const p of panels) {
      for (const t of p.targets ?? [])
        if (t.expr) out.push({ where: `dashboard panel "${p.title}"`, expr: t.expr });
      walk(p.panels);
    }
  };
  walk(readDashboard().panels);
  for (const g of readAlertRules())
    for (const r of g.rules)
      if (typeof r.expr === 'string') out.push({ where: `alert ${r.alert}`, expr: r.expr });
  return out;
}

/** Words of PromQL that are not metric names (functions are recognised by their parenthesis). */
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'inf',
  'nan',
]);

/** The metric names one PromQL expression selects. */
export function metricsOf(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges, subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ''); // label lists
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w:$.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g))
    if (!KEYWORDS.has(m[1]!.toLowerCase())) names.add(m[1]!);
  return [...names];
}

/** Every metric name the dashboard and the alert rules reference. */
export function referencedMetrics(): Set<string> {
  return new Set(expressions().flatMap((e) => metricsOf(e.expr)));
}

/** One sample of the Prometheus text format: its series name, labels and value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (0.0.4): comments skipped, label values unescaped. */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    const v = m[3]!;
    out.push({ name: m[1]!, labels, value: v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v) });
  }
  return out;
}

/** The value of the one sample of `name` whose labels include `labels` (undefined: none). */
export function valueOf(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}
