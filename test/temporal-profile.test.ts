/**
 * Temporal's standard client configuration (`@temporalio/envconfig`): TOML profiles from TEMPORAL_CONFIG_FILE or
 * the default path, the profile chosen by `--profile` / TEMPORAL_PROFILE, the precedence (variables over the
 * profile over the defaults), clear errors, and a real connection to the suite's server through a profile.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../src/config';
import { buildConnectionOptions, connectClient } from '../src/security/connection';
import { requireEnv, runCliCaptured } from './helpers';

let dir: string;
let file: string;

const TOML = `
[profile.default]
address = "default.example:7233"
namespace = "default-ns"

[profile.prod]
address = "prod.example:7233"
namespace = "prod-ns"
api_key = "secret-key"

[profile.mtls]
address = "mtls.example:7233"
[profile.mtls.tls]
server_name = "temporal.internal"
client_cert_data = "CERT-PEM"
client_key_data = "KEY-PEM"
server_ca_cert_path = "/etc/ca.pem"

[profile.plain-tls]
address = "tls.example:7233"
[profile.plain-tls.tls]

[profile.bad-address]
address = "not an address"

[profile.number]
namespace = 42
`;

/** Reads errors as the list of problems a ConfigError carries. */
function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'dlq-profile-'));
  file = join(dir, 'temporal.toml');
  writeFileSync(file, TOML);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('Temporal client profiles', () => {
  it('without a file, the defaults apply as before', () => {
    const config = loadConfig({ HOME: join(dir, 'no-home') });
    assert.equal(config.TEMPORAL_ADDRESS, '127.0.0.1:7233');
    assert.equal(config.TEMPORAL_NAMESPACE, 'default');
  });

  it('reads the default profile from TEMPORAL_CONFIG_FILE', () => {
    const config = loadConfig({ TEMPORAL_CONFIG_FILE: file });
    assert.equal(config.TEMPORAL_ADDRESS, 'default.example:7233');
    assert.equal(config.TEMPORAL_NAMESPACE, 'default-ns');
  });

  it('reads the default location under XDG_CONFIG_HOME, then HOME/.config', () => {
    const xdg = join(dir, 'xdg');
    mkdirSync(join(xdg, 'temporalio'), { recursive: true });
    writeFileSync(
      join(xdg, 'temporalio', 'temporal.toml'),
      '[profile.default]\naddress = "xdg.example:7233"\n',
    );
    assert.equal(loadConfig({ XDG_CONFIG_HOME: xdg }).TEMPORAL_ADDRESS, 'xdg.example:7233');
    const home = join(dir, 'home');
    mkdirSync(join(home, '.config', 'temporalio'), { recursive: true });
    writeFileSync(
      join(home, '.config', 'temporalio', 'temporal.toml'),
      '[profile.default]\nnamespace = "home-ns"\n',
    );
    assert.equal(loadConfig({ HOME: home }).TEMPORAL_NAMESPACE, 'home-ns');
  });

  it('selects a profile by TEMPORAL_PROFILE, and the option wins over the variable', () => {
    const env = { TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'mtls' };
    assert.equal(loadConfig(env).TEMPORAL_ADDRESS, 'mtls.example:7233');
    const prod = loadConfig(env, { profile: 'prod' });
    assert.equal(prod.TEMPORAL_ADDRESS, 'prod.example:7233');
    assert.equal(prod.TEMPORAL_NAMESPACE, 'prod-ns');
    assert.equal(prod.TEMPORAL_API_KEY, 'secret-key');
  });

  it('a variable that is set wins over the profile, key by key', () => {
    const config = loadConfig(
      { TEMPORAL_CONFIG_FILE: file, TEMPORAL_NAMESPACE: 'from-env' },
      { profile: 'prod' },
    );
    assert.equal(config.TEMPORAL_NAMESPACE, 'from-env');
    assert.equal(config.TEMPORAL_ADDRESS, 'prod.example:7233');
    // An empty variable counts as unset, as everywhere in the configuration.
    assert.equal(
      loadConfig({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_ADDRESS: '' }).TEMPORAL_ADDRESS,
      'default.example:7233',
    );
  });

  it("builds TLS from the profile's [tls] table: inline PEMs, a CA file, the server name; an API key implies TLS", () => {
    const mtls = loadConfig({ TEMPORAL_CONFIG_FILE: file }, { profile: 'mtls' });
    assert.equal(mtls.TEMPORAL_TLS, true);
    assert.equal(mtls.TEMPORAL_TLS_CA, '/etc/ca.pem');
    const options = buildConnectionOptions({ ...mtls, TEMPORAL_TLS_CA: undefined });
    assert.deepEqual(options, {
      address: 'mtls.example:7233',
      tls: {
        clientCertPair: { crt: Buffer.from('CERT-PEM'), key: Buffer.from('KEY-PEM') },
        serverNameOverride: 'temporal.internal',
      },
    });
    assert.deepEqual(
      buildConnectionOptions(loadConfig({ TEMPORAL_CONFIG_FILE: file }, { profile: 'plain-tls' })),
      {
        address: 'tls.example:7233',
        tls: {},
      },
    );
    assert.deepEqual(
      buildConnectionOptions(loadConfig({ TEMPORAL_CONFIG_FILE: file }, { profile: 'prod' })),
      {
        address: 'prod.example:7233',
        tls: {},
        apiKey: 'secret-key',
      },
    );
  });

  it("a PEM set by the variables replaces the profile's, whether given as file or text", () => {
    const config = loadConfig(
      { TEMPORAL_CONFIG_FILE: file, TEMPORAL_TLS_CLIENT_CERT_PATH: '/env/cert.pem' },
      { profile: 'mtls' },
    );
    assert.equal(config.TEMPORAL_TLS_CERT, '/env/cert.pem');
    assert.equal(config.TEMPORAL_TLS_CLIENT_CERT_DATA, undefined);
    assert.equal(config.TEMPORAL_TLS_CLIENT_KEY_DATA, 'KEY-PEM');
  });

  it("Temporal's standard TLS variable names are accepted; two names for one file must agree", () => {
    const config = loadConfig({
      TEMPORAL_TLS_CLIENT_CERT_PATH: '/c.pem',
      TEMPORAL_TLS_CLIENT_KEY_PATH: '/k.pem',
    });
    assert.equal(config.TEMPORAL_TLS_CERT, '/c.pem');
    assert.equal(config.TEMPORAL_TLS_KEY, '/k.pem');
    const problems = problemsOf(() =>
      loadConfig({ TEMPORAL_TLS_CA: '/a.pem', TEMPORAL_TLS_SERVER_CA_CERT_PATH: '/b.pem' }),
    );
    assert.match(problems.join('\n'), /TEMPORAL_TLS_CA and TEMPORAL_TLS_SERVER_CA_CERT_PATH/);
  });

  it('errors name the profile, the file and the key', () => {
    const bad = problemsOf(() => loadConfig({ TEMPORAL_CONFIG_FILE: file }, { profile: 'bad-address' }));
    assert.equal(bad.length, 1);
    assert.ok(bad[0]!.includes('TEMPORAL_ADDRESS="not an address"'), bad[0]);
    assert.ok(bad[0]!.includes(`key address of profile "bad-address" in ${file}`), bad[0]);
    assert.match(bad[0]!, /must be host:port/);

    // The file is read strictly: a misspelt key in any profile is reported, with its profile and key.
    const typoFile = join(dir, 'typo.toml');
    writeFileSync(typoFile, '[profile.default]\naddress = "x:1"\n[profile.typo]\nadress = "x:1"\n');
    const typo = problemsOf(() => loadConfig({ TEMPORAL_CONFIG_FILE: typoFile }));
    assert.ok(typo[0]!.startsWith(`TEMPORAL_CONFIG_FILE=${typoFile}: `), typo[0]);
    assert.match(typo[0]!, /unrecognized in profile\.typo: adress/);

    const number = problemsOf(() => loadConfig({ TEMPORAL_CONFIG_FILE: file }, { profile: 'number' }));
    assert.ok(
      number[0]!.includes(`TEMPORAL_CONFIG_FILE=${file}, profile "number", key namespace`),
      number[0],
    );

    const missing = problemsOf(() => loadConfig({ TEMPORAL_CONFIG_FILE: file }, { profile: 'nope' }));
    assert.match(missing[0]!, /profile "nope"/);
    assert.match(missing[0]!, /not found/);

    const noFile = problemsOf(() => loadConfig({ TEMPORAL_CONFIG_FILE: join(dir, 'missing.toml') }));
    assert.match(
      noFile[0]!,
      /TEMPORAL_CONFIG_FILE=.*missing\.toml: cannot read the Temporal config file \(ENOENT\)/,
    );

    const noneToRead = problemsOf(() => loadConfig({ HOME: join(dir, 'no-home') }, { profile: 'prod' }));
    assert.match(noneToRead[0]!, /profile "prod": there is no Temporal config file/);

    const broken = join(dir, 'broken.toml');
    writeFileSync(broken, '[profile.default\naddress = ');
    assert.match(
      problemsOf(() => loadConfig({ TEMPORAL_CONFIG_FILE: broken }))[0]!,
      /broken\.toml, profile "default"/,
    );
  });

  it('never echoes an API key in an error', () => {
    const secretFile = join(dir, 'secret.toml');
    writeFileSync(secretFile, '[profile.default]\napi_key = "s3cr3t"\naddress = "bad"\n');
    const problems = problemsOf(() => loadConfig({ TEMPORAL_CONFIG_FILE: secretFile })).join('\n');
    assert.match(problems, /TEMPORAL_ADDRESS="bad"/);
    assert.ok(!problems.includes('s3cr3t'));
  });
});

describe('a profile file that is not TOML', () => {
  it('names the file and the syntax error without quoting its lines (they may hold keys)', () => {
    const broken = join(dir, 'broken.toml');
    writeFileSync(broken, '[profile.default]\napi_key = "SECRET-KEY-123\n');
    const problems = problemsOf(() => loadConfig({ TEMPORAL_CONFIG_FILE: broken })).join('\n');
    assert.match(problems, /broken\.toml/);
    assert.ok(!problems.includes('SECRET-KEY-123'), problems);
  });
});

describe('a profile against the real server', () => {
  let serverFile: string;
  const address = requireEnv('TEMPORAL_ADDRESS');

  before(() => {
    serverFile = join(dir, 'server.toml');
    // The suite's server has only the `default` namespace; the profile names it, and the address.
    writeFileSync(serverFile, `[profile.suite]\naddress = "${address}"\nnamespace = "default"\n`);
  });

  it('connectClient reaches the suite server through the profile alone', async () => {
    const config = loadConfig({ TEMPORAL_CONFIG_FILE: serverFile, TEMPORAL_PROFILE: 'suite' });
    assert.equal(config.TEMPORAL_ADDRESS, address);
    const client = await connectClient(config);
    try {
      const info = await client.workflowService.describeNamespace({ namespace: 'default' });
      assert.equal(info.namespaceInfo?.name, 'default');
    } finally {
      await client.connection.close();
    }
  });

  it('dlq --profile picks the profile (and an unknown profile exits 2 naming it)', async () => {
    // Scoped to a topic no other test uses: the suite's server also holds other tests' messages, some of them
    // encrypted with a key this command does not have.
    const ok = await runCliCaptured({ TEMPORAL_CONFIG_FILE: serverFile }, [
      '--profile',
      'suite',
      'list',
      '--topic',
      'profile-test-nothing-here',
      '--json',
    ]);
    assert.equal(ok.code, 0, ok.err);
    assert.ok(Array.isArray(JSON.parse(ok.out)) || typeof JSON.parse(ok.out) === 'object');
    const bad = await runCliCaptured({ TEMPORAL_CONFIG_FILE: serverFile }, ['list', '--profile', 'nope']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /profile "nope"/);
    const fallback = await runCliCaptured(
      { TEMPORAL_CONFIG_FILE: serverFile, TEMPORAL_ADDRESS: '127.0.0.1:1' },
      ['--profile', 'suite', 'list', '--topic', 'profile-test-nothing-here', '--json'],
    );
    // A variable that is set wins over the profile: port 1 answers nothing.
    assert.equal(fallback.code, 2);
    assert.match(fallback.err, /127\.0\.0\.1:1/);
  });
});
