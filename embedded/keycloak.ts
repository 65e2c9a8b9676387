/**
 * A real Keycloak for the tests and for `npm start -- --idp keycloak`: fetched once from Maven Central
 * with Maven (`org.keycloak:keycloak-quarkus-dist`, about 150 MB) into the git-ignored `.tools/`, started
 * with `kc.sh start-dev` on 127.0.0.1 (OpenJDK 17), ready when its OIDC discovery answers 200. Plus a
 * small admin client for setting up realms, and the demo realm.
 *
 * `node --import tsx embedded/keycloak.ts fetch` (`npm run setup:keycloak`) fetches it; safe to repeat.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, openSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const KEYCLOAK_VERSION = '26.4.7';
const ROOT = path.resolve(__dirname, '..');
const TOOLS = path.join(ROOT, '.tools');
/** Where the unpacked distribution lives (`bin/kc.sh`, `lib/`, …). */
export const KEYCLOAK_HOME = path.join(TOOLS, `keycloak-${KEYCLOAK_VERSION}`);
const KC_SH = path.join(KEYCLOAK_HOME, 'bin', 'kc.sh');

export function keycloakFetched(): boolean {
  return existsSync(KC_SH);
}

function run(cmd: string, args: string[], what: string): void {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error) throw new Error(`${what}: ${cmd} could not run (${r.error.message})`);
  if (r.status !== 0) throw new Error(`${what}: ${cmd} ${args.join(' ')} exited with ${r.status}`);
}

const onPath = (name: string) =>
  spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim() !== '';

/**
 * Fetches and unpacks Keycloak into `.tools/keycloak-<version>` unless it is there: Maven downloads the
 * distribution zip (and keeps it in its local repository), then `unzip` (or the JDK's `jar`) unpacks it
 * into a scratch folder that is renamed into place, so an interrupted fetch leaves nothing half done.
 */
export function fetchKeycloak(say: (msg: string) => void = console.log): void {
  if (keycloakFetched()) return;
  if (!onPath('mvn') || !onPath('java'))
    throw new Error('fetching Keycloak needs Maven (`mvn`) and a Java 17+ runtime (`java`) on PATH');
  const scratch = path.join(TOOLS, `keycloak-fetch-${process.pid}`);
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  try {
    say(`fetching Keycloak ${KEYCLOAK_VERSION} with Maven (about 150 MB, one time) into .tools/`);
    run(
      'mvn',
      [
        '-q',
        '-B', // batch mode: no colours, no prompts
        'dependency:copy',
        `-Dartifact=org.keycloak:keycloak-quarkus-dist:${KEYCLOAK_VERSION}:zip`,
        `-DoutputDirectory=${scratch}`,
      ],
      'fetching Keycloak',
    );
    const zip = path.join(scratch, `keycloak-quarkus-dist-${KEYCLOAK_VERSION}.zip`);
    if (onPath('unzip')) run('unzip', ['-q', zip, '-d', scratch], 'unpacking Keycloak');
    else {
      const r = spawnSync('jar', ['xf', zip], { cwd: scratch, stdio: 'inherit' });
      if (r.status !== 0) throw new Error('unpacking Keycloak: neither unzip nor the JDK `jar` worked');
    }
    const unpacked = path.join(scratch, `keycloak-${KEYCLOAK_VERSION}`);
    // `jar` keeps no file modes.
    for (const f of readdirSync(path.join(unpacked, 'bin')))
      if (f.endsWith('.sh')) chmodSync(path.join(unpacked, 'bin', f), 0o755);
    renameSync(unpacked, KEYCLOAK_HOME);
    say(`Keycloak ${KEYCLOAK_VERSION} ready in ${path.relative(ROOT, KEYCLOAK_HOME)}`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export interface KeycloakProcess {
  url: string;
  /** The process (group) id: `kc.sh` and its JVM run in a group of their own. */
  pid: number;
  stop(): Promise<void>;
}

/** True when the realm's OIDC discovery document answers 200. */
export async function discoveryReady(url: string, realm = 'master'): Promise<boolean> {
  try {
    const r = await fetch(`${url}/realms/${realm}/.well-known/openid-configuration`, {
      signal: AbortSignal.timeout(2_000),
    });
    await r.body?.cancel();
    return r.status === 200;
  } catch {
    return false;
  }
}

/** Ends a process group started by `startKeycloak` (TERM, then KILL after `ms`). */
export async function stopProcessGroup(pid: number, ms = 15_000): Promise<void> {
  const alive = () => {
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(-pid, 'SIGTERM');
  const until = Date.now() + ms;
  while (alive() && Date.now() < until) await sleep(200);
  if (alive()) process.kill(-pid, 'SIGKILL');
}

/**
 * Starts Keycloak (`start-dev`) on 127.0.0.1:`port` with a bootstrap admin `admin`/`adminPassword` and
 * waits for the master realm's discovery document. Its H2 database is kept under `dataDir` (the demo's
 * survives restarts; each test run has a fresh one). Tests and demo start Keycloak with the same build
 * options, so neither makes it rebuild (`start-dev` re-augments when they change). The JVM runs with the
 * client compiler only: ready in about 18 s here instead of 30. Output goes to `logFile`. `ownerPid`:
 * the server stops by itself once that process is gone (a test run killed before its teardown).
 */
export async function startKeycloak(opts: {
  port: number;
  adminPassword: string;
  logFile: string;
  /** Its H2 database goes under this folder (a new folder: a fresh Keycloak). */
  dataDir: string;
  ownerPid?: number;
  timeoutMs?: number;
  /** Told the process group id as soon as it runs (before it is ready). */
  onSpawn?: (pid: number) => void;
}): Promise<KeycloakProcess> {
  if (!keycloakFetched())
    throw new Error(
      `Keycloak is not in ${path.relative(ROOT, KEYCLOAK_HOME)}: run \`npm run setup:keycloak\``,
    );
  const args = [
    'start-dev',
    '--http-host',
    '127.0.0.1',
    '--http-port',
    String(opts.port),
    '--db',
    'dev-file',
  ];
  const quoted = [KC_SH, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  // The group's leader is this `sh`, whose command line stays as started (no `exec`: `kc.sh` and its
  // JVM change theirs), so a pid record of it (embedded/pidfiles.ts) still matches when it is stopped.
  // With an owner, it also ends Keycloak when the owner is gone.
  const script = opts.ownerPid
    ? `${quoted} & kc=$!; while kill -0 ${opts.ownerPid} 2>/dev/null && kill -0 $kc 2>/dev/null; do sleep 2; done; kill $kc 2>/dev/null; wait $kc`
    : `${quoted}; exit $?`; // not the last command: no shell may exec it in its place
  const log = openSync(opts.logFile, 'a');
  const child = spawn('sh', ['-c', script], {
    cwd: KEYCLOAK_HOME,
    detached: true,
    stdio: ['ignore', log, log],
    env: {
      ...process.env,
      KC_BOOTSTRAP_ADMIN_USERNAME: 'admin',
      KC_BOOTSTRAP_ADMIN_PASSWORD: opts.adminPassword,
      // dev-file keeps its H2 files under <this>/data/h2 (Keycloak's `kc.db-url-path`; its own folder else).
      KC_DB_URL_PATH: opts.dataDir,
      JAVA_OPTS_APPEND: `${process.env.JAVA_OPTS_APPEND ?? ''} -XX:TieredStopAtLevel=1`.trim(),
    },
  });
  child.unref();
  const pid = child.pid!;
  opts.onSpawn?.(pid);
  const url = `http://127.0.0.1:${opts.port}`;
  const until = Date.now() + (opts.timeoutMs ?? 180_000);
  for (;;) {
    if (await discoveryReady(url)) break;
    if (child.exitCode !== null || Date.now() > until) {
      await stopProcessGroup(pid, 2_000).catch(() => undefined);
      throw new Error(
        child.exitCode !== null
          ? `Keycloak exited with code ${child.exitCode} before it was ready (log: ${opts.logFile})`
          : `Keycloak was not ready within ${(opts.timeoutMs ?? 180_000) / 1000} s (log: ${opts.logFile})`,
      );
    }
    await sleep(500);
  }
  return { url, pid, stop: () => stopProcessGroup(pid) };
}

/** A JSON answer of the Admin REST API, with the id a `201 Created` names in its `Location`. */
export interface AdminAnswer<T = unknown> {
  status: number;
  json: T;
  createdId: string | null;
}

/**
 * The set-up side of the Admin REST API (tests, the demo realm): a password grant of `admin-cli` on the
 * master realm, and calls under `/admin/realms`. Unlike the connector it throws on any status but 2xx
 * (and the ones named in `allow`).
 */
export class KeycloakSetup {
  private cached: { token: string; expiresAt: number } | null = null;

  constructor(
    readonly url: string,
    private readonly username: string,
    private readonly password: string,
  ) {}

  async token(): Promise<string> {
    if (this.cached && this.cached.expiresAt > Date.now() + 10_000) return this.cached.token;
    const r = await fetch(`${this.url}/realms/master/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: 'admin-cli',
        username: this.username,
        password: this.password,
      }),
    });
    const j = (await r.json()) as { access_token?: string; expires_in?: number };
    if (!r.ok || !j.access_token) throw new Error(`Keycloak admin token refused (${r.status})`);
    this.cached = { token: j.access_token, expiresAt: Date.now() + (j.expires_in ?? 60) * 1000 };
    return j.access_token;
  }

  async call<T = unknown>(
    method: string,
    pathUnderAdminRealms: string,
    body?: unknown,
    allow: number[] = [],
  ): Promise<AdminAnswer<T>> {
    const r = await fetch(`${this.url}/admin/realms${pathUnderAdminRealms}`, {
      method,
      headers: {
        authorization: `Bearer ${await this.token()}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok && !allow.includes(r.status))
      throw new Error(`Keycloak ${method} ${pathUnderAdminRealms}: ${r.status} ${text.slice(0, 300)}`);
    const location = r.headers.get('location');
    return {
      status: r.status,
      json: (text ? JSON.parse(text) : null) as T,
      createdId: location ? decodeURIComponent(location.split('/').pop()!) : null,
    };
  }

  /** POSTs a representation and answers the new object's id. */
  async create(pathUnderAdminRealms: string, body: unknown): Promise<string> {
    const r = await this.call('POST', pathUnderAdminRealms, body);
    if (!r.createdId) throw new Error(`Keycloak POST ${pathUnderAdminRealms} named no new object`);
    return r.createdId;
  }

  /** Declares a user attribute in the realm's user profile, visible and editable by admins only. */
  async declareAttribute(realm: string, name: string): Promise<void> {
    const profile = (await this.call<{ attributes: { name: string }[] }>('GET', `/${realm}/users/profile`))
      .json;
    if (profile.attributes.some((a) => a.name === name)) return;
    profile.attributes.push({
      name,
      displayName: name,
      permissions: { view: ['admin'], edit: ['admin'] },
      multivalued: false,
    } as { name: string });
    await this.call('PUT', `/${realm}/users/profile`, profile);
  }

  /**
   * A confidential client whose service account may revoke users in `realm` and nothing else: the
   * realm-management roles manage-users, view-users and view-clients (listing the clients is how
   * offline sessions are found). Answers its uuid.
   */
  async createRevocationClient(realm: string, clientId: string, secret: string): Promise<string> {
    const uuid = await this.create(`/${realm}/clients`, {
      clientId,
      name: 'Offboard revocations',
      publicClient: false,
      secret,
      serviceAccountsEnabled: true,
      standardFlowEnabled: false,
      directAccessGrantsEnabled: false,
    });
    const sa = (await this.call<{ id: string }>('GET', `/${realm}/clients/${uuid}/service-account-user`))
      .json;
    const rm = (
      await this.call<{ id: string }[]>('GET', `/${realm}/clients?clientId=realm-management&exact=true`)
    ).json[0];
    if (!rm) throw new Error(`realm ${realm} has no realm-management client`);
    const roles = await Promise.all(
      ['manage-users', 'view-users', 'view-clients'].map(
        async (r) => (await this.call<unknown>('GET', `/${realm}/clients/${rm.id}/roles/${r}`)).json,
      ),
    );
    await this.call('POST', `/${realm}/users/${sa.id}/role-mappings/clients/${rm.id}`, roles);
    return uuid;
  }
}

if (require.main === module) {
  const cmd = process.argv[2];
  if (cmd !== 'fetch') {
    console.error('usage: node --import tsx embedded/keycloak.ts fetch');
    process.exit(64);
  }
  try {
    fetchKeycloak((m) => console.log(`[setup] ${m}`));
  } catch (e) {
    console.error(`[setup] ${(e as Error).message}`);
    process.exit(1);
  }
}
