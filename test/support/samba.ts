/**
 * One real Active Directory domain controller (Samba 4) per test run, shared by every test file and
 * both Jest workers: the first file that asks (`sharedSamba`) provisions a throwaway domain under a lock
 * in the run's TEST_ROOT, starts `samba` and writes where it answers; the others wait for that;
 * globalTeardown stops it (`stopSharedSamba`). Suites that never ask pay nothing. Samba's ports are
 * fixed (389, 636, 3268, 3269), so there is one per machine: test files isolate themselves by OU
 * (`createTestOu`), never by instance.
 *
 * The DC's certificate comes from a CA made here (openssl), naming 127.0.0.1, so the tests verify it
 * as production does (`caFile`). Installs nothing: Samba is a system package (.ci/run installs it).
 * Not installed and CI not set: the Active Directory suites are skipped with a message; under CI they
 * run (and fail when Samba is missing).
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'ldapts';
import { portOpen } from '../../embedded/net';
import { describeIfAvailable, inCi } from './optional';

export const AD_REALM = 'AD.OFFBOARD.TEST';
export const AD_BASE = 'DC=ad,DC=offboard,DC=test';
export const AD_ADMIN = `CN=Administrator,CN=Users,${AD_BASE}`;
export const AD_ADMIN_PASSWORD = 'Offb0ard-Adm1n!';
/** Where the DC answers: LDAPS, and plain LDAP (StartTLS, or refused simple binds). */
export const AD_LDAPS_URL = 'ldaps://127.0.0.1:636';
export const AD_LDAP_URL = 'ldap://127.0.0.1:389';

const SAMBA = '/usr/sbin/samba';
const PACKAGES =
  'samba samba-dsdb-modules samba-ad-provision winbind krb5-user ldb-tools smbclient ldap-utils';
/** Machine-wide: which test run's DC holds the fixed ports. */
const MACHINE_MARKER = path.join(tmpdir(), 'offboard-samba-dc.json');

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d && existsSync(path.join(d, cmd)));
}

/** What is missing to run the DC here, in words, or null. */
function missingTools(): string | null {
  const missing = [
    existsSync(SAMBA) ? null : SAMBA,
    onPath('samba-tool') ? null : 'samba-tool',
    onPath('openssl') ? null : 'openssl',
  ].filter((x) => x !== null);
  return missing.length > 0
    ? `${missing.join(', ')} not found. Install Samba (apt-get install -y ${PACKAGES} openssl)`
    : null;
}

/** Why the Active Directory suites cannot run here, or null when they can (always null under CI). */
export function sambaSkipReason(): string | null {
  if (inCi()) return null;
  const missing = missingTools();
  if (missing)
    return `Active Directory suites skipped: ${missing} to run them against a real Samba AD DC; CI always runs them`;
  if (process.getuid?.() !== 0)
    return 'Active Directory suites skipped: Samba must run as root (it listens on ports 389 and 636)';
  return null;
}

/** `describe`, or `describe.skip` with the reason printed, when Samba cannot run here. */
export const describeAd = describeIfAvailable('samba', sambaSkipReason);

function runDir(): string {
  const root = process.env.TEST_ROOT;
  if (!root) throw new Error('TEST_ROOT is not set: run the tests with `npm test` (globalSetup)');
  return path.join(root, 'samba');
}

/** The test run's process that owns the DC: the Jest parent of a worker, or this process in band. */
const ownerPid = () => (process.send ? process.ppid : process.pid);

function alive(pid: number, group = false): boolean {
  try {
    process.kill(group ? -pid : pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopGroup(pgid: number, ms = 10_000): Promise<void> {
  if (!alive(pgid, true)) return;
  process.kill(-pgid, 'SIGTERM');
  const until = Date.now() + ms;
  while (alive(pgid, true) && Date.now() < until) await sleep(100);
  if (alive(pgid, true)) process.kill(-pgid, 'SIGKILL');
}

/**
 * The fixed ports are free, or made free: a DC left by a test run that is gone (killed before its
 * teardown) is stopped; one of a live run is an error naming it.
 */
async function claimPorts(): Promise<void> {
  if (existsSync(MACHINE_MARKER)) {
    const m = JSON.parse(readFileSync(MACHINE_MARKER, 'utf8')) as {
      pgid: number;
      owner: number;
      root: string;
    };
    if (alive(m.pgid, true)) {
      if (alive(m.owner) && existsSync(m.root))
        throw new Error(
          `ports 389/636 belong to the Samba DC of another test run (${m.root}, Jest pid ${m.owner}): one ` +
            'AD DC per machine; wait for that run to end',
        );
      await stopGroup(m.pgid);
    }
    rmSync(MACHINE_MARKER, { force: true });
  }
  for (const port of [389, 636])
    if (await portOpen(port))
      throw new Error(`port ${port} on 127.0.0.1 is in use (another LDAP server?): the Samba AD DC needs it`);
}

function run(cmd: string, args: string[], cwd?: string): void {
  try {
    execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${cmd} ${args[0] ?? ''} failed: ${err.stderr || err.stdout || err.message}`);
  }
}

/** A CA and a server certificate for 127.0.0.1 and localhost, in `dir`; returns the CA file. */
function makeCertificates(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const openssl = (args: string, ...more: string[]) => run('openssl', [...args.split(' '), ...more], dir);
  const caExt = [
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ];
  openssl(
    'req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3',
    '-subj',
    '/CN=Offboard test CA',
    ...caExt,
  );
  openssl('req -newkey rsa:2048 -nodes -keyout key.pem -out dc.csr -subj /CN=localhost');
  writeFileSync(
    path.join(dir, 'ext.cnf'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n',
  );
  openssl(
    'x509 -req -in dc.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 3 -extfile ext.cnf',
  );
  // Samba refuses a private key others can read.
  chmodSync(path.join(dir, 'key.pem'), 0o600);
  return path.join(dir, 'ca.pem');
}

/**
 * Provisions the domain into `dir/dc` (PLATFORM.md: about 7 s) and points its smb.conf at folders of
 * its own: logs, pids and sockets under `dir/dc`, only the LDAP service, our certificate.
 */
function provision(dir: string, tls: string): string {
  const dc = path.join(dir, 'dc');
  run('samba-tool', [
    'domain',
    'provision',
    '--use-rfc2307',
    `--realm=${AD_REALM}`,
    '--domain=OFFBOARD',
    '--host-name=OFFBOARDDC',
    '--server-role=dc',
    '--dns-backend=NONE',
    `--adminpass=${AD_ADMIN_PASSWORD}`,
    `--targetdir=${dc}`,
    '--option=interfaces=127.0.0.1',
    '--option=bind interfaces only=yes',
  ]);
  const conf = path.join(dc, 'etc', 'smb.conf');
  const own = (name: string) => path.join(dc, 'run', name);
  mkdirSync(path.join(dc, 'run'), { recursive: true });
  const lines = readFileSync(conf, 'utf8')
    .split('\n')
    .filter((l) => !/^\s*(log file|server services)\s*=/.test(l));
  const at = lines.findIndex((l) => l.trim() === '[global]');
  lines.splice(
    at + 1,
    0,
    ...[
      `log file = ${path.join(dc, 'log.%m')}`,
      `pid directory = ${own('')}`,
      `ncalrpc dir = ${own('ncalrpc')}`,
      `winbindd socket directory = ${own('winbindd')}`,
      `ntp signd socket directory = ${own('ntp_signd')}`,
      // LDAP only: no Kerberos, RPC or replication ports (the tests speak LDAP).
      'server services = ldap',
      'tls enabled = yes',
      `tls keyfile = ${path.join(tls, 'key.pem')}`,
      `tls certfile = ${path.join(tls, 'cert.pem')}`,
      `tls cafile = ${path.join(tls, 'ca.pem')}`,
    ].map((l) => `\t${l}`),
  );
  writeFileSync(conf, lines.join('\n'));
  return conf;
}

/** Binds as the domain admin over LDAPS, trusting `caFile`; throws until the DC answers. */
async function adminBind(caFile: string): Promise<void> {
  const c = new Client({
    url: AD_LDAPS_URL,
    timeout: 5_000,
    connectTimeout: 5_000,
    tlsOptions: { ca: readFileSync(caFile) },
  });
  try {
    await c.bind(AD_ADMIN, AD_ADMIN_PASSWORD);
    await c.search('', { scope: 'base', attributes: ['defaultNamingContext'] });
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

/** Provisions and starts the DC (the worker holding the lock); returns its CA file. */
async function startSamba(dir: string): Promise<string> {
  const missing = missingTools();
  if (missing) throw new Error(`the Active Directory suites need a Samba AD DC (CI runs them): ${missing}`);
  await claimPorts();
  const t0 = Date.now();
  const caFile = makeCertificates(path.join(dir, 'tls'));
  const conf = provision(dir, path.join(dir, 'tls'));
  const log = path.join(dir, 'samba.log');
  const fd = openSync(log, 'a');
  // A watchdog in the same process group ends Samba once the test run is gone (killed before its
  // teardown), so the fixed ports do not stay taken.
  const owner = ownerPid();
  const child = spawn(
    'sh',
    [
      '-c',
      `${SAMBA} -i -M single --no-process-group -s '${conf}' & s=$!; while kill -0 ${owner} 2>/dev/null && kill -0 $s 2>/dev/null; do sleep 2; done; kill $s 2>/dev/null; wait $s`,
    ],
    { detached: true, stdio: ['ignore', fd, fd] },
  );
  child.unref();
  const pgid = child.pid!;
  writeFileSync(path.join(dir, 'pgid'), String(pgid));
  writeFileSync(MACHINE_MARKER, JSON.stringify({ pgid, owner, root: process.env.TEST_ROOT }));
  const until = Date.now() + 60_000;
  for (;;) {
    try {
      await adminBind(caFile);
      break;
    } catch (e) {
      const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : '';
      if (!alive(pgid, true) || Date.now() > until) {
        await stopGroup(pgid);
        throw new Error(`Samba AD DC did not answer LDAPS (${(e as Error).message}); log ${log}:\n${tail}`);
      }
      await sleep(200);
    }
  }
  console.log(`[samba] AD DC ${AD_REALM} ready on ${AD_LDAPS_URL} in ${Date.now() - t0} ms (${dir})`);
  return caFile;
}

/** The run's DC. */
export interface SharedSamba {
  /** PEM file of the CA that issued the DC's certificate. */
  caFile: string;
}

let shared: Promise<SharedSamba> | null = null;

/** The run's Samba AD DC, provisioned and started by whichever test file asks first. */
export function sharedSamba(): Promise<SharedSamba> {
  shared ??= (async () => {
    const dir = runDir();
    mkdirSync(dir, { recursive: true });
    const readyFile = path.join(dir, 'ready');
    const errorFile = path.join(dir, 'error');
    let starter = false;
    try {
      mkdirSync(path.join(dir, 'lock'));
      starter = true;
    } catch {
      /* another worker starts it */
    }
    if (starter) {
      try {
        const caFile = await startSamba(dir);
        writeFileSync(`${readyFile}.tmp`, caFile);
        renameSync(`${readyFile}.tmp`, readyFile);
      } catch (e) {
        writeFileSync(errorFile, (e as Error).message);
        throw e;
      }
    } else {
      const until = Date.now() + 180_000;
      while (!existsSync(readyFile)) {
        if (existsSync(errorFile))
          throw new Error(`Samba AD DC did not start: ${readFileSync(errorFile, 'utf8')}`);
        if (Date.now() > until) throw new Error('waited 180 s for another worker to start the Samba AD DC');
        await sleep(200);
      }
    }
    return { caFile: readFileSync(readyFile, 'utf8') };
  })();
  return shared;
}

/** Stops the run's DC if a test file started one (globalTeardown). */
export async function stopSharedSamba(): Promise<void> {
  const root = process.env.TEST_ROOT;
  const pgidFile = root ? path.join(root, 'samba', 'pgid') : null;
  if (!pgidFile || !existsSync(pgidFile)) return;
  const pgid = Number(readFileSync(pgidFile, 'utf8'));
  await stopGroup(pgid);
  // Samba's own pid, should it have left the group.
  const pidFile = path.join(root!, 'samba', 'dc', 'run', 'samba.pid');
  const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : NaN;
  if (Number.isInteger(pid) && alive(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('samba'))
    process.kill(pid, 'SIGKILL');
  try {
    const m = JSON.parse(readFileSync(MACHINE_MARKER, 'utf8')) as { pgid: number };
    if (m.pgid === pgid) rmSync(MACHINE_MARKER, { force: true });
  } catch {
    /* no marker */
  }
}
