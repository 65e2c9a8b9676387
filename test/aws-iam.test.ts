/**
 * The AWS IAM connector against a real moto server (PyPI `moto[server]`, one per file): every credential
 * kind moto supports revoked and read back, a second run changing nothing, matching (user name, tag,
 * not found, ambiguous, protected), the live audit before and after, `accessKeys: delete`.
 *
 * moto lacks service-specific credentials (NotImplementedError: a 500) and does not enforce IAM
 * permissions by default, so those calls, AccessDenied, Throttling and 5xx are unit tests at the end
 * against canned IAM answers from a tiny local HTTP responder (no stand-in of IAM, one answer per action).
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import {
  AddUserToGroupCommand,
  CreateAccessKeyCommand,
  CreateGroupCommand,
  CreateLoginProfileCommand,
  CreateUserCommand,
  CreateVirtualMFADeviceCommand,
  EnableMFADeviceCommand,
  GetLoginProfileCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListGroupsForUserCommand,
  ListMFADevicesCommand,
  ListSSHPublicKeysCommand,
  ListSigningCertificatesCommand,
  ListVirtualMFADevicesCommand,
  UploadSSHPublicKeyCommand,
  UploadSigningCertificateCommand,
} from '@aws-sdk/client-iam';
import { createAwsIamConnector, iamError } from '../activities/aws-iam';
import type { Subject } from '../activities/connector';
import {
  AmbiguousAccountError,
  AccountNotFoundError,
  ProtectedAccountError,
  TargetAuthError,
  TargetThrottledError,
  TargetUnavailableError,
} from '../activities/errors';
import { revokeMatched } from '../activities/matched';
import type { MatchContext } from '../activities/matching';
import type { AwsIamConnectorConfig, CatalogSystem } from '../config/catalog';
import { defaultKeys, type MatchKey } from '../config/matching';
import { closeServer, listen } from '../lib/http';
import { uniq } from './support/harness';
import { describeMoto, startMoto, type Moto } from './support/moto';

const creds = { accessKeyId: 'AKIDOFFBOARDTEST', secretAccessKey: 'offboard-test-secret' };

function cfg(endpoint: string, over: Partial<AwsIamConnectorConfig> = {}): AwsIamConnectorConfig {
  return {
    kind: 'aws-iam',
    region: 'us-east-1',
    endpoint,
    accessKeyIdEnv: 'AWS_IAM_KEY_ID',
    secretAccessKeyEnv: 'AWS_IAM_SECRET',
    accessKeys: 'deactivate',
    serviceSpecificCredentials: true,
    ...over,
  };
}

function ctx(keys: MatchKey[] = defaultKeys('aws-iam'), expectAccount = true, groups: string[] = []) {
  const m: MatchContext = {
    systemId: 'aws',
    match: { keys, expectAccount },
    protected: { accounts: [], groups },
  };
  return { m, system: { id: 'aws', name: 'AWS', ...m } as unknown as CatalogSystem };
}

function subject(employeeId: string, workEmail: string): Subject {
  return {
    departureId: uniq('dep'),
    employeeId,
    employeeName: 'Leaver',
    workEmail,
    confirmedAt: new Date().toISOString(),
    managerEmail: null,
  };
}

describeMoto('AWS IAM connector against moto', () => {
  let moto: Moto;
  let iam: IAMClient;
  let sshKey: string;
  let cert: string;

  beforeAll(async () => {
    moto = await startMoto();
    iam = new IAMClient({ region: 'us-east-1', endpoint: moto.endpoint, credentials: creds });
    const dir = execFileSync('mktemp', ['-d']).toString().trim();
    execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', `${dir}/k`], {
      stdio: 'ignore',
    });
    sshKey = execFileSync('cat', [`${dir}/k.pub`])
      .toString()
      .trim();
    const pem = execFileSync(
      'openssl',
      [
        ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${dir}/c.key`],
        ...['-subj', '/CN=offboard-test', '-days', '2'],
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    ).toString();
    cert = pem.trim();
    execFileSync('rm', ['-rf', dir]);
  });
  afterAll(async () => {
    iam?.destroy();
    await moto?.stop();
  });

  /** An IAM user holding every credential kind moto supports, and two groups. */
  async function seedFull(name: string, tags: Record<string, string> = {}) {
    await iam.send(
      new CreateUserCommand({
        UserName: name,
        Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
      }),
    );
    for (let i = 0; i < 2; i++) await iam.send(new CreateAccessKeyCommand({ UserName: name }));
    await iam.send(new CreateLoginProfileCommand({ UserName: name, Password: 'Secret-Passw0rd!' }));
    const mfa = await iam.send(new CreateVirtualMFADeviceCommand({ VirtualMFADeviceName: name }));
    const serial = mfa.VirtualMFADevice!.SerialNumber!;
    await iam.send(
      new EnableMFADeviceCommand({
        UserName: name,
        SerialNumber: serial,
        AuthenticationCode1: '123456',
        AuthenticationCode2: '654321',
      }),
    );
    await iam.send(new UploadSSHPublicKeyCommand({ UserName: name, SSHPublicKeyBody: sshKey }));
    await iam.send(new UploadSigningCertificateCommand({ UserName: name, CertificateBody: cert }));
    for (const g of ['developers', 'prod-admins']) {
      await iam.send(new CreateGroupCommand({ GroupName: g })).catch(() => undefined);
      await iam.send(new AddUserToGroupCommand({ UserName: name, GroupName: g }));
    }
    return serial;
  }

  /** What moto holds for the user, read with our own client (not the connector's). */
  async function held(name: string) {
    const u = { UserName: name };
    const login = await iam.send(new GetLoginProfileCommand(u)).then(
      () => true,
      (e: { name?: string }) => (e.name?.startsWith('NoSuchEntity') ? false : Promise.reject(e)),
    );
    return {
      keys: (await iam.send(new ListAccessKeysCommand(u))).AccessKeyMetadata!.map((k) => k.Status),
      login,
      mfa: (await iam.send(new ListMFADevicesCommand(u))).MFADevices!.length,
      ssh: (await iam.send(new ListSSHPublicKeysCommand(u))).SSHPublicKeys!.map((k) => k.Status),
      certs: (await iam.send(new ListSigningCertificatesCommand(u))).Certificates!.map((c) => c.Status),
      groups: (await iam.send(new ListGroupsForUserCommand(u))).Groups!.length,
    };
  }

  const noSsc = (over: Partial<AwsIamConnectorConfig> = {}) =>
    cfg(moto.endpoint, { serviceSpecificCredentials: false, ...over });

  test('every credential revoked and read back; a second run changes nothing; audit before and after', async () => {
    const local = uniq('dana');
    const name = `${local}@example.com`;
    const serial = await seedFull(name);
    const { m, system } = ctx();
    const c = createAwsIamConnector(noSsc(), creds, m);
    const who = subject(uniq('E'), name);

    const before = await c.audit(who);
    expect(before.found).toBe(1);
    expect(before.active).toEqual([
      expect.objectContaining({
        id: name,
        by: ['userName'],
        why: expect.stringMatching(
          /2 active access key.*console password.*1 MFA.*1 active SSH.*1 active signing.*2 group/,
        ),
      }),
    ]);

    const r = await revokeMatched(system, c, who);
    expect(r.match).toMatchObject({ outcome: 'found', by: 'userName', account: { id: name } });
    expect(r.changes).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^access key .* deactivated$/),
        'console login profile deleted',
        `MFA device ${serial} deactivated`,
        `virtual MFA device ${serial} deleted`,
        expect.stringMatching(/^SSH public key .* deactivated$/),
        expect.stringMatching(/^signing certificate .* deactivated$/),
        'removed from group developers',
        'removed from group prod-admins',
      ]),
    );
    expect(r.changes).toHaveLength(9);
    expect(r.confirmation).toMatchObject({
      loginProfile: 'NoSuchEntity',
      mfaDevices: [],
      groups: [],
      serviceSpecificCredentials: expect.stringMatching(/not checked/),
    });
    expect(await held(name)).toEqual({
      keys: ['Inactive', 'Inactive'],
      login: false,
      mfa: 0,
      ssh: ['Inactive'],
      certs: ['Inactive'],
      groups: 0,
    });
    const virtual = await iam.send(new ListVirtualMFADevicesCommand({}));
    expect(virtual.VirtualMFADevices!.map((d) => d.SerialNumber)).not.toContain(serial);

    const again = await revokeMatched(system, c, who);
    expect(again.changes).toEqual([]);
    expect(again.detail).toMatch(/nothing changed/);

    const after = await c.audit(who);
    expect(after).toMatchObject({ found: 1, active: [] });
    await c.close?.();
  });

  test('accessKeys: delete removes the keys; read back as none', async () => {
    const name = uniq('lee');
    await iam.send(new CreateUserCommand({ UserName: name }));
    await iam.send(new CreateAccessKeyCommand({ UserName: name }));
    const { m, system } = ctx();
    const c = createAwsIamConnector(noSsc({ accessKeys: 'delete' }), creds, m);
    const r = await revokeMatched(system, c, subject(uniq('E'), `${name}@example.com`));
    expect(r.match.by).toBe('userName');
    expect(r.changes).toEqual([expect.stringMatching(/^access key .* deleted$/)]);
    expect((await held(name)).keys).toEqual([]);
    await c.close?.();
  });

  test('found by an employeeId tag under another user name (ListUsers + ListUserTags)', async () => {
    const id = uniq('E');
    const name = uniq('former-name');
    await iam.send(new CreateUserCommand({ UserName: name, Tags: [{ Key: 'employeeId', Value: id }] }));
    await iam.send(new CreateAccessKeyCommand({ UserName: name }));
    const { m, system } = ctx([{ attribute: 'employeeId', from: 'employeeId' }, ...defaultKeys('aws-iam')]);
    const c = createAwsIamConnector(noSsc(), creds, m);
    const r = await revokeMatched(system, c, subject(id, `${uniq('new')}@example.com`));
    expect(r.match).toMatchObject({ outcome: 'found', by: 'employeeId', account: { id: name } });
    expect((await held(name)).keys).toEqual(['Inactive']);
    await c.close?.();
  });

  test('not found, ambiguous and protected are match errors; nothing changed', async () => {
    const { m, system } = ctx();
    const c = createAwsIamConnector(noSsc(), creds, m);
    await expect(
      revokeMatched(system, c, subject(uniq('E'), `${uniq('nobody')}@example.com`)),
    ).rejects.toThrow(AccountNotFoundError);

    // One user named by the work email, another by its local part: two candidates.
    const local = uniq('sam');
    for (const n of [local, `${local}@example.com`]) {
      await iam.send(new CreateUserCommand({ UserName: n }));
      await iam.send(new CreateAccessKeyCommand({ UserName: n }));
    }
    await expect(revokeMatched(system, c, subject(uniq('E'), `${local}@example.com`))).rejects.toThrow(
      AmbiguousAccountError,
    );
    expect((await held(local)).keys).toEqual(['Active']);
    expect((await held(`${local}@example.com`)).keys).toEqual(['Active']);

    const admin = uniq('admin');
    await seedFull(admin);
    const p = ctx(defaultKeys('aws-iam'), true, ['prod-admins']);
    const pc = createAwsIamConnector(noSsc(), creds, p.m);
    await expect(revokeMatched(p.system, pc, subject(uniq('E'), `${admin}@example.com`))).rejects.toThrow(
      ProtectedAccountError,
    );
    expect(await held(admin)).toMatchObject({ keys: ['Active', 'Active'], login: true, mfa: 1, groups: 2 });
    await Promise.all([c.close?.(), pc.close?.()]);
  });
});

/** Canned IAM Query API answers, one per action: the calls moto cannot answer or cannot refuse. */
describe('AWS IAM connector: calls moto lacks, and error mapping (canned answers)', () => {
  const NS = 'https://iam.amazonaws.com/doc/2010-05-08/';
  let server: Server;
  let endpoint: string;
  let answers: Record<string, (body: URLSearchParams) => [number, string]>;
  const calls: string[] = [];

  const ok = (action: string, result = '') =>
    [
      200,
      `<${action}Response xmlns="${NS}"><${action}Result>${result}</${action}Result><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></${action}Response>`,
    ] as [number, string];
  const fail = (status: number, code: string, message: string) =>
    [
      status,
      `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>r</RequestId></ErrorResponse>`,
    ] as [number, string];
  const empty = (action: string, field: string) => () =>
    ok(action, `<${field}/><IsTruncated>false</IsTruncated>`);

  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (d: Buffer) => (raw += d.toString()));
      req.on('end', () => {
        const body = new URLSearchParams(raw);
        const action = body.get('Action') ?? '';
        calls.push(action);
        const [status, xml] = answers[action]?.(body) ?? fail(400, 'InvalidAction', action);
        res.writeHead(status, { 'content-type': 'text/xml' }).end(xml);
      });
    });
    endpoint = `http://127.0.0.1:${await listen(server, 0)}`;
  });
  afterAll(async () => {
    await closeServer(server);
  });

  function base(sscStatus: () => string) {
    return {
      GetUser: () =>
        ok(
          'GetUser',
          `<User><Path>/</Path><UserName>dana</UserName><UserId>AIDA1</UserId><Arn>arn:aws:iam::123456789012:user/dana</Arn><CreateDate>2026-01-01T00:00:00Z</CreateDate></User>`,
        ),
      ListAccessKeys: empty('ListAccessKeys', 'AccessKeyMetadata'),
      GetLoginProfile: () => fail(404, 'NoSuchEntity', 'Login Profile for User dana cannot be found.'),
      ListMFADevices: empty('ListMFADevices', 'MFADevices'),
      ListSSHPublicKeys: empty('ListSSHPublicKeys', 'SSHPublicKeys'),
      ListSigningCertificates: empty('ListSigningCertificates', 'Certificates'),
      ListGroupsForUser: empty('ListGroupsForUser', 'Groups'),
      ListServiceSpecificCredentials: () =>
        ok(
          'ListServiceSpecificCredentials',
          `<ServiceSpecificCredentials><member><UserName>dana</UserName><Status>${sscStatus()}</Status><ServiceUserName>dana-at-1</ServiceUserName><CreateDate>2026-01-01T00:00:00Z</CreateDate><ServiceSpecificCredentialId>ACCA1</ServiceSpecificCredentialId><ServiceName>codecommit.amazonaws.com</ServiceName></member></ServiceSpecificCredentials>`,
        ),
    } as typeof answers;
  }

  test('service-specific credentials (moto lacks them): deactivated and read back', async () => {
    let status = 'Active';
    answers = {
      ...base(() => status),
      UpdateServiceSpecificCredential: (b) => {
        expect(b.get('ServiceSpecificCredentialId')).toBe('ACCA1');
        status = b.get('Status') ?? '';
        return ok('UpdateServiceSpecificCredential');
      },
    };
    const { m, system } = ctx([{ attribute: 'userName', from: 'workEmailLocalPart' }]);
    const c = createAwsIamConnector(cfg(endpoint), creds, m);
    const r = await revokeMatched(system, c, subject('E-1', 'dana@example.com'));
    expect(status).toBe('Inactive');
    expect(r.changes).toEqual(['service-specific credential ACCA1 (codecommit.amazonaws.com) deactivated']);
    expect(r.confirmation.serviceSpecificCredentials).toEqual([
      { id: 'ACCA1', status: 'Inactive', service: 'codecommit.amazonaws.com' },
    ]);
    await c.close?.();
  });

  test('AccessDenied names the missing IAM action; Throttling and 5xx are retryable', async () => {
    const { m } = ctx([{ attribute: 'userName', from: 'workEmailLocalPart' }]);
    const c = createAwsIamConnector(cfg(endpoint, { serviceSpecificCredentials: false }), creds, m);
    const who = subject('E-1', 'dana@example.com');
    const account = (await (async () => ((answers = base(() => 'Active')), c.find(who)))()).account!;
    answers.ListAccessKeys = () =>
      fail(
        403,
        'AccessDenied',
        'User: arn:aws:iam::123456789012:user/offboard is not authorized to perform: iam:ListAccessKeys on resource: user dana because no identity-based policy allows the iam:ListAccessKeys action',
      );
    const denied = c.revoke(who, account);
    await expect(denied).rejects.toThrow(TargetAuthError);
    await expect(denied).rejects.toThrow(/lacks iam:ListAccessKeys/);
    answers.ListAccessKeys = () => fail(400, 'Throttling', 'Rate exceeded');
    await expect(c.revoke(who, account)).rejects.toThrow(TargetThrottledError);
    answers.ListAccessKeys = () => fail(503, 'ServiceUnavailable', 'try later');
    await expect(c.revoke(who, account)).rejects.toThrow(TargetUnavailableError);
    await c.close?.();

    const down = createAwsIamConnector(cfg('http://127.0.0.1:1'), creds, m);
    await expect(down.find(who)).rejects.toThrow(TargetUnavailableError);
    await down.close?.();
    // No answer text at all: the action called is named.
    expect(
      iamError({ name: 'AccessDenied', message: 'denied', $metadata: { httpStatusCode: 403 } }, 'iam:GetUser')
        .message,
    ).toMatch(/lacks iam:GetUser/);
  });
});
