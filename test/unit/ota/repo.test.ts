import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalize } from '@tufjs/canonical-json';
import { Updater } from 'tuf-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TcuError } from '../../../core/errors.js';
import {
  Ed25519PrivateKey,
  RepositoryBuilder,
  canonicalJson,
  ed25519KeyId,
  parsePublicKey,
  publicKeyJson,
  readPrivateKeyFile,
  readPublicKeyFile,
  writePrivateKeyFile,
  writePublicKeyFile,
  type TufRole,
} from '../../../ota/repo/index.js';
import { LocalFetcher } from '../../../ota/tuf/index.js';
import { hasProgram } from '../../helpers/system.js';
import { DAY, testKey } from '../../helpers/ota-repos.js';

/** Authoring: keys in TUF's format, the standard layout, and metadata tuf-js accepts. */

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ota-repo-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TcuError);
    return (e as TcuError).code;
  }
  return 'accepted';
}

// RFC 8032, section 7.1, test 1.
const RFC_SEED = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const RFC_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const RFC_SIG_EMPTY = 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';

describe('keys', () => {
  it('Ed25519 from a seed matches RFC 8032; the key id is sha256 of the canonical TUF key object', () => {
    const key = Ed25519PrivateKey.fromSeed(Buffer.from(RFC_SEED, 'hex'));
    expect(key.publicHex).toBe(RFC_PUBLIC);
    expect(key.sign(new Uint8Array())).toBe(RFC_SIG_EMPTY);
    const text = `{"keytype":"ed25519","keyval":{"public":"${RFC_PUBLIC}"},"scheme":"ed25519"}`;
    expect(key.keyId).toBe(createHash('sha256').update(text).digest('hex'));
    expect(ed25519KeyId(RFC_PUBLIC)).toBe(key.keyId);
  });

  it('private key files: PEM and JSON round trips, written 0600, never over an existing file', () => {
    const key = Ed25519PrivateKey.generate();
    writePrivateKeyFile(join(dir, 'k.pem'), key, 'pem');
    writePrivateKeyFile(join(dir, 'k.json'), key, 'json');
    expect(readFileSync(join(dir, 'k.pem'), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const json = JSON.parse(readFileSync(join(dir, 'k.json'), 'utf8')) as Record<string, unknown>;
    expect(json).toMatchObject({ keytype: 'ed25519', scheme: 'ed25519', keyid: key.keyId, keyval: { public: key.publicHex } });
    for (const f of ['k.pem', 'k.json']) {
      expect(readPrivateKeyFile(join(dir, f)).keyId).toBe(key.keyId);
      expect(statSync(join(dir, f)).mode & 0o777).toBe(0o600);
    }
    expect(code(() => writePrivateKeyFile(join(dir, 'k.pem'), Ed25519PrivateKey.generate()))).toBe('FILE_WRITE');
    expect(readPrivateKeyFile(join(dir, 'k.pem')).keyId).toBe(key.keyId);
  });

  it('public key files: the TUF key object (with its keyid), an SPKI PEM, or a private key file', () => {
    const key = testKey(7);
    writePublicKeyFile(join(dir, 'k.pub.json'), key.publicKey());
    expect(readPublicKeyFile(join(dir, 'k.pub.json'))).toEqual(key.publicKey());
    expect(JSON.parse(publicKeyJson(key))).toEqual({ keytype: 'ed25519', scheme: 'ed25519', keyval: { public: key.publicHex }, keyid: key.keyId });
    expect(parsePublicKey(key.toJson())).toEqual(key.publicKey());
    expect(parsePublicKey(key.toPem())).toEqual(key.publicKey());
  });

  it('refuses key files that are not Ed25519 or do not hold together (OTA_METADATA), and unreadable ones (FILE_READ)', () => {
    const key = testKey(7);
    const json = JSON.parse(key.toJson()) as { keyid: string; keyval: { public: string } };
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const cases = [
      'garbage',
      '[1]',
      JSON.stringify({ ...json, keyid: '00'.repeat(32) }),
      JSON.stringify({ ...json, keyval: { ...json.keyval, public: testKey(8).publicHex } }),
      JSON.stringify({ ...json, keytype: 'rsa' }),
      ec.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----',
    ];
    for (const text of cases) expect(code(() => Ed25519PrivateKey.parse(text)), text.slice(0, 40)).toBe('OTA_METADATA');
    expect(code(() => parsePublicKey(ec.publicKey.export({ format: 'pem', type: 'spki' }).toString()))).toBe('OTA_METADATA');
    expect(code(() => parsePublicKey(JSON.stringify({ keytype: 'ed25519', scheme: 'ed25519', keyval: { public: 'zz' } })))).toBe('OTA_METADATA');
    expect(code(() => readPrivateKeyFile(join(dir, 'missing.pem')))).toBe('FILE_READ');
  });

  it.runIf(hasProgram('openssl'))('reads keys made by openssl genpkey -algorithm ed25519', () => {
    execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', join(dir, 'o.pem')]);
    execFileSync('openssl', ['pkey', '-in', join(dir, 'o.pem'), '-pubout', '-out', join(dir, 'o.pub.pem')]);
    const key = readPrivateKeyFile(join(dir, 'o.pem'));
    expect(readPublicKeyFile(join(dir, 'o.pub.pem'))).toEqual(key.publicKey());
    const raw = execFileSync('openssl', ['pkey', '-in', join(dir, 'o.pem'), '-pubout', '-outform', 'DER']);
    expect(key.publicHex).toBe(raw.subarray(raw.length - 32).toString('hex'));
  });
});

describe('canonical JSON', () => {
  it('is the same text as @tufjs/canonical-json (which tuf-js verifies with) on real metadata', () => {
    const repo = sampleRepo();
    for (const md of [repo.root, repo.targets, repo.snapshot, repo.timestamp]) {
      const signed = md.signed.toJSON();
      expect(canonicalJson(signed)).toBe(canonicalize(signed));
    }
    const odd = { b: [1, 'q"uo\\te', null, true], a: { 'é': 'ü', A: -3 } };
    expect(canonicalJson(odd)).toBe(canonicalize(odd));
    expect(canonicalJson(odd)).toBe('{"a":{"A":-3,"é":"ü"},"b":[1,"q\\"uo\\\\te",null,true]}');
  });

  it('refuses floats and values JSON does not have (OTA_METADATA)', () => {
    expect(code(() => canonicalJson({ a: 1.5 }))).toBe('OTA_METADATA');
    expect(code(() => canonicalJson({ a: () => 1 }))).toBe('OTA_METADATA');
  });
});

const KEYS: Record<TufRole, Ed25519PrivateKey[]> = {
  root: [testKey(1), testKey(2)],
  targets: [testKey(3), testKey(4)],
  snapshot: [testKey(5)],
  timestamp: [testKey(6)],
};
const NOW = Date.now();

function sampleRepo(): RepositoryBuilder {
  const spec = (role: TufRole, threshold: number) => ({ keys: KEYS[role].map((k) => k.publicKey()), threshold });
  const repo = RepositoryBuilder.create({
    roles: { root: spec('root', 2), targets: spec('targets', 2), snapshot: spec('snapshot', 1), timestamp: spec('timestamp', 1) },
    expires: { root: new Date(NOW + 365 * DAY), targets: new Date(NOW + 90 * DAY), snapshot: new Date(NOW + 7 * DAY), timestamp: new Date(NOW + DAY) },
  });
  repo.addTarget('ecu/abc.bin', Buffer.from('abc'), { hardwareIds: ['hw-1'], releaseCounter: 4, userInfo: { purpose: 'test' } });
  repo.signRoot(KEYS.root);
  repo.signTargets(KEYS.targets);
  repo.publish(KEYS.snapshot, KEYS.timestamp);
  return repo;
}

describe('RepositoryBuilder', () => {
  it('writes TUF’s standard layout with consistent_snapshot false, hashes of the files it names, and TUF dates', () => {
    sampleRepo().write(dir);
    expect(readdirSync(dir).sort()).toEqual(['1.root.json', 'root.json', 'snapshot.json', 'targets', 'targets.json', 'timestamp.json']);
    expect(readFileSync(join(dir, 'targets', 'ecu', 'abc.bin'), 'utf8')).toBe('abc');
    expect(readFileSync(join(dir, '1.root.json'))).toEqual(readFileSync(join(dir, 'root.json')));
    const read = (f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as { signed: Record<string, unknown>; signatures: { keyid: string; sig: string }[] };
    const root = read('root.json');
    expect(root.signed['consistent_snapshot']).toBe(false);
    expect(root.signed['expires']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(root.signatures.map((s) => s.keyid).sort()).toEqual(KEYS.root.map((k) => k.keyId).sort());
    const targets = read('targets.json').signed['targets'] as Record<string, { length: number; hashes: Record<string, string>; custom: unknown }>;
    expect(targets['ecu/abc.bin']).toEqual({
      length: 3,
      hashes: {
        sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
        sha512: 'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
      },
      custom: { hardwareIds: ['hw-1'], releaseCounter: 4, userInfo: { purpose: 'test' } },
    });
    const sha = (f: string) => createHash('sha256').update(readFileSync(join(dir, f))).digest('hex');
    expect(read('snapshot.json').signed['meta']).toEqual({ 'targets.json': { version: 1, length: statSync(join(dir, 'targets.json')).size, hashes: { sha256: sha('targets.json') } } });
    expect(read('timestamp.json').signed['meta']).toEqual({ 'snapshot.json': { version: 1, length: statSync(join(dir, 'snapshot.json')).size, hashes: { sha256: sha('snapshot.json') } } });
  });

  it('is accepted by tuf-js’s Updater, which also downloads and verifies the target file', async () => {
    sampleRepo().write(dir);
    const client = mkdtempSync(join(tmpdir(), 'ota-client-'));
    try {
      const fetcher = new LocalFetcher(dir);
      copyFileSync(join(dir, 'root.json'), join(client, 'root.json'));
      const updater = new Updater({ metadataDir: client, metadataBaseUrl: fetcher.baseUrl, targetBaseUrl: `${fetcher.baseUrl}targets/`, targetDir: client, fetcher });
      await updater.refresh();
      const info = await updater.getTargetInfo('ecu/abc.bin');
      expect(info?.custom).toEqual({ hardwareIds: ['hw-1'], releaseCounter: 4, userInfo: { purpose: 'test' } });
      const path = await updater.downloadTarget(info!, join(client, 'abc.bin'));
      expect(readFileSync(path, 'utf8')).toBe('abc');
    } finally {
      rmSync(client, { recursive: true, force: true });
    }
  });

  it('raises each role’s version when it is signed again, and loads what it wrote', async () => {
    const repo = sampleRepo();
    repo.write(dir);
    repo.signTargets(KEYS.targets);
    repo.publish(KEYS.snapshot, KEYS.timestamp);
    expect([repo.targets.signed.version, repo.snapshot.signed.version, repo.timestamp.signed.version]).toEqual([2, 2, 2]);
    repo.write(dir);
    const loaded = RepositoryBuilder.load(dir);
    expect(loaded.metadataFiles().get('targets.json')).toEqual(readFileSync(join(dir, 'targets.json')));
    writeFileSync(join(dir, 'big.bin'), Buffer.alloc(300_000, 7));
    const viaFile = await loaded.addTargetFile('ecu/big.bin', join(dir, 'big.bin'), { hardwareIds: ['hw-1'] });
    const inMemory = RepositoryBuilder.create({ roles: rolesOf(loaded), expires: expiriesOf() }).addTarget('ecu/big.bin', Buffer.alloc(300_000, 7), { hardwareIds: ['hw-1'] });
    expect(viaFile.hashes).toEqual(inMemory.hashes);
    loaded.signTargets(KEYS.targets, { expires: new Date(NOW + 10 * DAY) });
    loaded.publish(KEYS.snapshot, KEYS.timestamp);
    loaded.write(dir);
    expect(existsSync(join(dir, 'targets', 'ecu', 'big.bin'))).toBe(true);
    expect(RepositoryBuilder.load(dir).targets.signed.version).toBe(3);
    expect(loaded.removeTarget('ecu/big.bin')).toBe(true);
    expect(loaded.removeTarget('ecu/big.bin')).toBe(false);
  });

  it('a root rotation writes N.root.json and keeps the roles it does not change', () => {
    const repo = sampleRepo();
    const newRoot = [testKey(11), testKey(12)];
    repo.rotateRoot({ roles: { root: { keys: newRoot.map((k) => k.publicKey()), threshold: 2 } } }, [...KEYS.root, ...newRoot]);
    repo.write(dir);
    expect(readdirSync(dir).filter((f) => f.endsWith('root.json')).sort()).toEqual(['1.root.json', '2.root.json', 'root.json']);
    expect(readFileSync(join(dir, '2.root.json'))).toEqual(readFileSync(join(dir, 'root.json')));
    expect(repo.roleSpec('root').keys.map((k) => k.keyId)).toEqual(newRoot.map((k) => k.keyId));
    expect(repo.roleSpec('targets')).toEqual({ keys: KEYS.targets.map((k) => k.publicKey()), threshold: 2 });
  });

  it('refuses what vehicles would refuse: unsafe names, a bad custom, impossible thresholds, floats', () => {
    const repo = sampleRepo();
    expect(code(() => repo.addTarget('../evil', Buffer.from('x'), { hardwareIds: ['hw-1'] }))).toBe('OTA_TARGET_NAME');
    expect(code(() => repo.addTarget('ok.bin', Buffer.from('x'), { version: '1' }))).toBe('OTA_METADATA');
    expect(code(() => repo.addTarget('ok.bin', Buffer.from('x'), undefined))).toBe('OTA_METADATA');
    repo.addTarget('float.bin', Buffer.from('x'), { hardwareIds: ['hw-1'], vendor: 0.5 });
    expect(code(() => repo.signTargets(KEYS.targets))).toBe('OTA_METADATA');
    const roles = rolesOf(repo);
    expect(code(() => RepositoryBuilder.create({ roles: { ...roles, targets: { ...roles.targets, threshold: 3 } }, expires: expiriesOf() }))).toBe('OTA_METADATA');
    expect(code(() => RepositoryBuilder.create({ roles: { ...roles, snapshot: { keys: [...roles.snapshot.keys, ...roles.snapshot.keys], threshold: 1 } }, expires: expiriesOf() }))).toBe(
      'OTA_METADATA',
    );
  });

  it('load refuses a repository with consistent_snapshot true', () => {
    sampleRepo().write(dir);
    const root = JSON.parse(readFileSync(join(dir, 'root.json'), 'utf8')) as { signed: Record<string, unknown> };
    root.signed['consistent_snapshot'] = true;
    writeFileSync(join(dir, 'root.json'), JSON.stringify(root));
    expect(code(() => RepositoryBuilder.load(dir))).toBe('OTA_METADATA');
    rmSync(join(dir, 'timestamp.json'));
    expect(code(() => RepositoryBuilder.load(dir))).toBe('FILE_READ');
  });
});

function rolesOf(repo: RepositoryBuilder) {
  return { root: repo.roleSpec('root'), targets: repo.roleSpec('targets'), snapshot: repo.roleSpec('snapshot'), timestamp: repo.roleSpec('timestamp') };
}

function expiriesOf(): Record<TufRole, Date> {
  return { root: new Date(NOW + DAY), targets: new Date(NOW + DAY), snapshot: new Date(NOW + DAY), timestamp: new Date(NOW + DAY) };
}
