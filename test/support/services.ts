/**
 * Real servers for the tests: PostgreSQL, OpenLDAP slapd and the Temporal dev server, each on a port
 * chosen at run time with its own temporary data folder. Started once per test run (globalSetup).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SEARCH_ATTRIBUTE_REGISTRATIONS } from '../../contract';
import { findTemporalBinaries, headlessDevServerArgs } from '../../embedded/binaries';
import { portOpen } from '../../embedded/net';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(
  what: string,
  fn: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      if (await fn()) return;
    } catch {
      /* not yet */
    }
    await sleep(150);
  }
  throw new Error(`${what} did not become ready within ${timeoutMs} ms`);
}

export interface Started {
  stop(): Promise<void>;
}

// ---------------------------------------------------------------- PostgreSQL

function pgBinDir(): string {
  for (const v of ['17', '16', '15']) {
    const d = `/usr/lib/postgresql/${v}/bin`;
    if (existsSync(path.join(d, 'initdb'))) return d;
  }
  throw new Error(
    'PostgreSQL server binaries not found: install the Debian package "postgresql" (.ci/run does)',
  );
}

/** Runs as the `postgres` OS user when we are root (initdb refuses root). */
function asPostgres(cmd: string, args: string[]): ChildProcess {
  const isRoot = process.getuid?.() === 0;
  return isRoot
    ? spawn('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * A PostgreSQL server in `root/pg`. Started again on the same `root` (and `port`), it reuses the data
 * folder: a server stopped and restarted keeps its data (the chaos tests' outage).
 */
export async function startPostgres(
  root: string,
  opts: {
    port?: number;
    /**
     * Commits survive a crash of the server (synchronous_commit on). Off for speed by default; the chaos
     * tests, which crash it, turn it on, as any production server has it.
     */
    durableCommits?: boolean;
  } = {},
): Promise<Started & { url: string; port: number }> {
  const bin = pgBinDir();
  const dir = path.join(root, 'pg');
  const fresh = !existsSync(path.join(dir, 'data', 'PG_VERSION'));
  mkdirSync(dir, { recursive: true });
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
    chmodSync(root, 0o755);
  }
  const init = !fresh
    ? null
    : spawnSync(
        process.getuid?.() === 0 ? 'runuser' : path.join(bin, 'initdb'),
        [
          ...(process.getuid?.() === 0 ? ['-u', 'postgres', '--', path.join(bin, 'initdb')] : []),
          '-D',
          path.join(dir, 'data'),
          '-A',
          'trust',
          '-U',
          'postgres',
          '--no-sync',
        ],
        { encoding: 'utf8' },
      );
  if (init && init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const port = opts.port ?? (await freePort());
  const proc = asPostgres(path.join(bin, 'postgres'), [
    '-D',
    path.join(dir, 'data'),
    '-p',
    String(port),
    '-k',
    dir,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'fsync=off',
    '-c',
    `synchronous_commit=${opts.durableCommits ? 'on' : 'off'}`,
    '-c',
    'full_page_writes=off',
    '-c',
    'max_connections=300',
  ]);
  let log = '';
  proc.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  await waitFor('PostgreSQL', () => portOpen(port), 30_000).catch((e: Error) => {
    throw new Error(`${e.message}\n${log}`);
  });
  const psql = (sql: string) =>
    execFileSync('psql', [
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-U',
      'postgres',
      '-v',
      'ON_ERROR_STOP=1',
      '-qc',
      sql,
    ]);
  await waitFor('PostgreSQL accepting queries', () => {
    psql('select 1');
    return true;
  });
  if (fresh) psql('create database offboard_template');
  const url = `postgresql://postgres@127.0.0.1:${port}/offboard_template`;
  return {
    url,
    port,
    async stop() {
      // runuser does not pass signals on; signal the postmaster itself (immediate shutdown: the data
      // is thrown away anyway).
      try {
        const pid = Number(readFileSync(path.join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
        process.kill(pid, 'SIGQUIT');
      } catch {
        proc.kill('SIGKILL');
      }
      await exited(proc);
    },
  };
}

/** Waits for a child to exit, killing it after `ms`. */
async function exited(proc: ChildProcess, ms = 5_000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const done = new Promise((r) => proc.once('exit', r));
  const t = setTimeout(() => proc.kill('SIGKILL'), ms);
  await done;
  clearTimeout(t);
}

/** Applies the Prisma migrations to `url` with the project's offline Prisma CLI wrapper. */
export function migrate(url: string): void {
  const r = spawnSync(process.execPath, ['embedded/prisma-cli.mjs', 'migrate', 'deploy'], {
    env: { ...process.env, DATABASE_URL: url },
    encoding: 'utf8',
    cwd: path.resolve(__dirname, '../..'),
  });
  if (r.status !== 0) throw new Error(`prisma migrate deploy failed:\n${r.stdout}\n${r.stderr}`);
}

// ---------------------------------------------------------------- OpenLDAP

export const LDAP_BASE = 'dc=offboard,dc=test';
export const LDAP_ADMIN = `cn=admin,${LDAP_BASE}`;
export const LDAP_ADMIN_PASSWORD = 'admin-secret';

export async function startSlapd(root: string): Promise<Started & { url: string }> {
  const slapd = '/usr/sbin/slapd';
  if (!existsSync(slapd))
    throw new Error('slapd not found: install the Debian packages "slapd ldap-utils" (.ci/run does)');
  const dir = path.join(root, 'ldap');
  mkdirSync(path.join(dir, 'db'), { recursive: true });
  const hash = execFileSync('slappasswd', ['-s', LDAP_ADMIN_PASSWORD]).toString().trim();
  const conf = path.join(dir, 'slapd.conf');
  writeFileSync(
    conf,
    [
      'include /etc/ldap/schema/core.schema',
      'include /etc/ldap/schema/cosine.schema',
      'include /etc/ldap/schema/inetorgperson.schema',
      'include /etc/ldap/schema/nis.schema',
      'modulepath /usr/lib/ldap',
      'moduleload back_mdb',
      'moduleload ppolicy',
      `pidfile ${dir}/slapd.pid`,
      'database mdb',
      `suffix "${LDAP_BASE}"`,
      `rootdn "${LDAP_ADMIN}"`,
      `rootpw ${hash}`,
      `directory ${dir}/db`,
      'maxsize 104857600',
      'index objectClass eq',
      'index member eq',
      'index uid eq',
      'index mail eq',
      'index employeeNumber eq',
      'overlay ppolicy',
      `ppolicy_default "cn=default,ou=policies,${LDAP_BASE}"`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  const proc = spawn(slapd, ['-f', conf, '-h', `${url}/`, '-d', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  await waitFor('slapd', () => portOpen(port), 15_000).catch((e: Error) => {
    throw new Error(`${e.message}\n${log}`);
  });
  const base = [
    `dn: ${LDAP_BASE}`,
    'objectClass: dcObject',
    'objectClass: organization',
    'o: Offboard Test',
    'dc: offboard',
    '',
    `dn: ou=people,${LDAP_BASE}`,
    'objectClass: organizationalUnit',
    'ou: people',
    '',
    `dn: ou=groups,${LDAP_BASE}`,
    'objectClass: organizationalUnit',
    'ou: groups',
    '',
    `dn: ou=policies,${LDAP_BASE}`,
    'objectClass: organizationalUnit',
    'ou: policies',
    '',
    `dn: cn=default,ou=policies,${LDAP_BASE}`,
    'objectClass: pwdPolicy',
    'objectClass: device',
    'cn: default',
    'pwdAttribute: userPassword',
    'pwdLockout: TRUE',
    '',
  ].join('\n');
  ldapAdd(url, base);
  return {
    url,
    async stop() {
      proc.kill('SIGTERM');
      await exited(proc);
    },
  };
}

/** Loads LDIF with the real `ldapadd` client. */
export function ldapAdd(url: string, ldif: string): void {
  const r = spawnSync('ldapadd', ['-x', '-H', url, '-D', LDAP_ADMIN, '-w', LDAP_ADMIN_PASSWORD], {
    input: ldif,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`ldapadd failed: ${r.stderr}`);
}

// ---------------------------------------------------------------- Temporal

/** The offboarding search attributes, registered on the dev server as `npm start` does. */
export const SEARCH_ATTRIBUTES: readonly string[] = SEARCH_ATTRIBUTE_REGISTRATIONS;

/**
 * A Temporal dev server. With `dbFilename` it persists to that SQLite file, so a server stopped and
 * started again on the same `port` carries on where it stopped (the chaos tests' restart).
 */
export async function startTemporalDev(
  root: string,
  opts: { port?: number; dbFilename?: string } = {},
): Promise<Started & { address: string; port: number; kill(): Promise<void> }> {
  const { temporal } = findTemporalBinaries();
  const port = opts.port ?? (await freePort());
  const dir = path.join(root, 'temporal');
  mkdirSync(dir, { recursive: true });
  const proc = spawn(
    temporal,
    headlessDevServerArgs(port, [
      ...(opts.dbFilename ? ['--db-filename', opts.dbFilename] : []),
      // A file that already holds the namespace and attributes must not get them registered again.
      ...(opts.dbFilename && existsSync(opts.dbFilename)
        ? []
        : SEARCH_ATTRIBUTES.flatMap((s) => ['--search-attribute', s])),
    ]),
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  proc.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  await waitFor('Temporal dev server', () => portOpen(port), 30_000).catch((e: Error) => {
    throw new Error(`${e.message}\n${log}`);
  });
  return {
    address: `127.0.0.1:${port}`,
    port,
    async stop() {
      proc.kill('SIGTERM');
      await exited(proc);
    },
    async kill() {
      proc.kill('SIGKILL');
      await exited(proc);
    },
  };
}

export function makeRoot(): string {
  return mkdtempSync(path.join(tmpdir(), 'offboard-test-'));
}
