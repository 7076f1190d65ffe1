import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tcuOta } from '../../../ota/cli/main.js';
import { rolesToResign } from '../../../ota/fleet/root-rotation.js';
import { parseMetadata, writePrivateKeyFile, writePublicKeyFile } from '../../../ota/repo/index.js';
import { DAY, testKey } from '../../helpers/ota-repos.js';
import { FakeClock } from '../../helpers/fake-clock.js';

/**
 * `tcu-ota root renew|rotate` and `publish --key` in-process: what is signed by which keys, what is
 * written, and everything refused before a byte is written. (The vehicle following the chain:
 * test/integration/tcu-ota-lifecycle.test.ts.)
 */

let base: string;
const p = (...parts: string[]): string => join(base, ...parts);
const NOW = Date.UTC(2025, 0, 1);

async function run(args: string[], nowMs = NOW): Promise<{ status: number; err: string; json: Record<string, unknown> }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const status = await tcuOta(args, { stdin: new PassThrough(), stdout, stderr, isTTY: false }, { clock: new FakeClock(nowMs) });
  return { status, err, json: out.trim() === '' ? {} : (JSON.parse(out.trim()) as Record<string, unknown>) };
}

const KEYS = ['r1', 'r2', 'r3', 'r4', 't1', 't2', 's1', 'ts1', 'ts2'];
const k = (name: string): string => p(`${name}.pem`);
const root = (repo: string, file = 'root.json') => parseMetadata('root', readFileSync(p(repo, file)));
const role = (repo: string, name: 'targets' | 'snapshot' | 'timestamp') => parseMetadata(name, readFileSync(p(repo, `${name}.json`)));
const snapshotOf = (repo: string): Record<string, Buffer> => Object.fromEntries(readdirSync(p(repo)).filter((f) => f.endsWith('.json')).map((f) => [f, readFileSync(p(repo, f))]));

/** A fresh copy of the repository made in beforeAll: root threshold 2 (r1, r2), one key for each other role. */
function repo(name: string): string {
  cpSync(p('repo'), p(name), { recursive: true });
  return name;
}

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'tcu-ota-root-'));
  KEYS.forEach((name, i) => writePrivateKeyFile(k(name), testKey(120 + i)));
  writePublicKeyFile(p('r4.pub'), testKey(120 + KEYS.indexOf('r4')).publicKey());
  writeFileSync(p('app.bin'), 'app');
  const init = await run(['init', '--repo', p('repo'), '--root-key', k('r1'), k('r2'), '--root-threshold', '2', '--targets-key', k('t1'), '--targets-threshold', '1', '--snapshot-key', k('s1'), '--timestamp-key', k('ts1'), '--expires', 'root=30d', 'targets=10d']);
  expect(init.status, init.err).toBe(0);
  const add = await run(['add', '--repo', p('repo'), '--target', 'a.bin', '--file', p('app.bin'), '--hardware-id', 'hw', '--key', k('t1'), '--snapshot-key', k('s1'), '--timestamp-key', k('ts1')]);
  expect(add.status, add.err).toBe(0);
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe('root renew', () => {
  it('root version 2 with a fresh expiry, signed by the root keys; the other files untouched', async () => {
    const r = repo('renew');
    const before = snapshotOf(r);
    const later = NOW + 20 * DAY;
    const res = await run(['root', 'renew', '--repo', p(r), '--key', k('r1'), k('r2'), '--expires', 'root=2y'], later);
    expect(res.status, res.err).toBe(0);
    expect(res.json).toMatchObject({ action: 'renew', from: { root: 1 }, versions: { root: 2, targets: 2 }, changed: [], resigned: [], written: ['2.root.json', 'root.json'], expires: { root: new Date(later + 730 * DAY).toISOString().slice(0, 19) + 'Z' } });
    const v1 = root(r, '1.root.json');
    const v2 = root(r, '2.root.json');
    expect(readFileSync(p(r, 'root.json'))).toEqual(readFileSync(p(r, '2.root.json')));
    expect(v2.signed.version).toBe(2);
    expect(v2.signed.keys).toEqual(v1.signed.keys);
    expect(v2.signed.roles).toEqual(v1.signed.roles);
    v1.verifyDelegate('root', v2); // the vehicle's check: the old root's threshold ...
    v2.verifyDelegate('root', v2); // ... and the new one's
    for (const f of ['1.root.json', 'targets.json', 'snapshot.json', 'timestamp.json']) expect(readFileSync(p(r, f)), f).toEqual(before[f]);
  });

  it('refuses keys below the root threshold, keys that are not root keys, and role keys (that is rotate)', async () => {
    const r = repo('renew-refused');
    const before = snapshotOf(r);
    for (const [args, message] of [
      [['--key', k('r1')], /the root role needs 2 signatures; 1 key given/],
      [['--key', k('r1'), k('t1')], /t1\.pem is not a root key of this repository/],
      [['--key', k('r1'), k('r2'), '--targets-key', k('t2')], /root renew keeps every key/],
      [['--key', k('r1'), k('r1')], /key given twice/],
    ] as const) {
      const res = await run(['root', 'renew', '--repo', p(r), ...args]);
      expect(res.status, args.join(' ')).toBe(2);
      expect(res.err).toMatch(message);
    }
    expect(snapshotOf(r)).toEqual(before);
  });
});

describe('root rotate', () => {
  it('new root keys and threshold: signed by the old root keys and the new ones; offline keys by their public half', async () => {
    const r = repo('rotate-root');
    const res = await run(['root', 'rotate', '--repo', p(r), '--key', k('r1'), k('r2'), '--root-key', k('r2'), k('r3'), p('r4.pub'), '--root-threshold', '2']);
    expect(res.status, res.err).toBe(0);
    expect(res.json).toMatchObject({ changed: ['root'], resigned: [], written: ['2.root.json', 'root.json'], roles: { root: { threshold: 2 } } });
    const v1 = root(r, '1.root.json');
    const v2 = root(r, 'root.json');
    expect(v2.signed.roles['root']!.keyIDs).toHaveLength(3);
    expect(Object.keys(v2.signatures)).toHaveLength(3); // r1, r2 (old and new), r3
    v1.verifyDelegate('root', v2);
    v2.verifyDelegate('root', v2);
    // The next rotation needs the new root keys: the old r1 is no root key any more.
    const next = await run(['root', 'rotate', '--repo', p(r), '--key', k('r1'), k('r2'), '--root-key', k('r1'), k('r2'), '--root-threshold', '2']);
    expect(next.status).toBe(2);
    expect(next.err).toMatch(/r1\.pem is not a root key of this repository/);
  });

  it('new targets keys: targets, snapshot and timestamp re-signed with the new and unchanged keys, each verifying against the new root', async () => {
    const r = repo('rotate-targets');
    const missing = await run(['root', 'rotate', '--repo', p(r), '--key', k('r1'), k('r2'), '--targets-key', k('t2')]);
    expect(missing.status).toBe(2);
    expect(missing.err).toMatch(/--snapshot-key is required: targets get new keys, so targets, snapshot, timestamp are re-signed/);
    expect(existsSync(p(r, '2.root.json'))).toBe(false);
    const res = await run(['root', 'rotate', '--repo', p(r), '--key', k('r1'), k('r2'), '--targets-key', k('t2'), '--snapshot-key', k('s1'), '--timestamp-key', k('ts1')]);
    expect(res.status, res.err).toBe(0);
    expect(res.json).toMatchObject({ changed: ['targets'], resigned: ['targets', 'snapshot', 'timestamp'], versions: { root: 2, targets: 3, snapshot: 3, timestamp: 3 } });
    const newRoot = root(r);
    for (const name of ['targets', 'snapshot', 'timestamp'] as const) newRoot.verifyDelegate(name, role(r, name));
    expect(() => root(r, '1.root.json').verifyDelegate('targets', role(r, 'targets'))).toThrow();
    expect(Object.keys(parseMetadata('targets', readFileSync(p(r, 'targets.json'))).signed.targets)).toEqual(['a.bin']);
  });

  it('new timestamp key only: the timestamp re-signed, and snapshot.json written as it hashed it', async () => {
    const r = repo('rotate-timestamp');
    const res = await run(['root', 'rotate', '--repo', p(r), '--key', k('r1'), k('r2'), '--timestamp-key', k('ts2')]);
    expect(res.status, res.err).toBe(0);
    expect(res.json).toMatchObject({ changed: ['timestamp'], resigned: ['timestamp'], written: ['2.root.json', 'root.json', 'snapshot.json', 'timestamp.json'], versions: { snapshot: 2, timestamp: 3 } });
    root(r, 'root.json').verifyDelegate('timestamp', role(r, 'timestamp'));
  });

  it('refuses what vehicles would refuse, writing nothing', async () => {
    const r = repo('rotate-refused');
    const before = snapshotOf(r);
    for (const [args, message] of [
      // Only the new keys: the old root's threshold is not met.
      [['--key', k('r3'), k('r4'), '--root-key', k('r3'), k('r4')], /r3\.pem is not a root key of this repository/],
      // The new root's own threshold: 2 of r3 and r4.pub, and r4 is public only.
      [['--key', k('r1'), k('r2'), '--root-key', k('r3'), p('r4.pub'), '--root-threshold', '2'], /the new root needs 2 signatures of its own root keys; 1 private key of them given/],
      [['--key', k('r1'), k('r2'), '--root-key', k('r3'), '--root-threshold', '2'], /--root-threshold 2: the root role would have 1 key/],
      [['--key', k('r1'), k('r2')], /no key or threshold changes; "tcu-ota root renew" extends the expiry/],
      [['--key', k('r1'), k('r2'), '--root-key', k('r1'), k('r2')], /no key or threshold changes/],
      [['--key', k('r1'), k('r2'), '--targets-key', k('t2'), '--targets-threshold', '1', '--image', '--snapshot-key', k('s1'), '--timestamp-key', k('ts1')], /an image repository needs --targets-threshold 2 or more/],
    ] as const) {
      const res = await run(['root', 'rotate', '--repo', p(r), ...args]);
      expect(res.status, args.join(' ')).toBe(2);
      expect(res.err, args.join(' ')).toMatch(message);
    }
    expect(snapshotOf(r)).toEqual(before);
  });

  it('refuses to rotate the targets keys while a targets.json signed by the old ones is staged', async () => {
    const r = repo('rotate-staged');
    const staged = await run(['add', '--repo', p(r), '--target', 'b.bin', '--file', p('app.bin'), '--hardware-id', 'hw2', '--key', k('t1')]);
    expect(staged.status, staged.err).toBe(0);
    const before = snapshotOf(r);
    const res = await run(['root', 'rotate', '--repo', p(r), '--key', k('r1'), k('r2'), '--targets-key', k('t2'), '--snapshot-key', k('s1'), '--timestamp-key', k('ts1')]);
    expect(res.status).toBe(2);
    expect(res.err).toMatch(/signed by the old targets keys; publish it/);
    expect(snapshotOf(r)).toEqual(before);
    // A root-only change leaves it staged, and a later publish makes it live.
    expect((await run(['root', 'renew', '--repo', p(r), '--key', k('r1'), k('r2')])).status).toBe(0);
    expect(existsSync(p(r, '.tcu-ota', 'staged-targets.json'))).toBe(true);
  });

  it('rolesToResign: a role and the roles that describe it', () => {
    expect(rolesToResign([])).toEqual([]);
    expect(rolesToResign(['root'])).toEqual([]);
    expect(rolesToResign(['timestamp'])).toEqual(['timestamp']);
    expect(rolesToResign(['snapshot', 'root'])).toEqual(['snapshot', 'timestamp']);
    expect(rolesToResign(['timestamp', 'targets'])).toEqual(['targets', 'snapshot', 'timestamp']);
  });
});

describe('publish --key: re-signing targets without adding', () => {
  it('targets one version up with a fresh expiry, then snapshot and timestamp', async () => {
    const r = repo('publish-targets');
    const later = NOW + 9 * DAY;
    const plain = await run(['publish', '--repo', p(r), '--snapshot-key', k('s1'), '--timestamp-key', k('ts1')], later);
    expect(plain.json).toMatchObject({ versions: { targets: 2, snapshot: 3, timestamp: 3 } });
    expect(role(r, 'targets').signed.expires).toBe(new Date(NOW + 90 * DAY).toISOString().slice(0, 19) + 'Z'); // as add signed it: unchanged
    const res = await run(['publish', '--repo', p(r), '--key', k('t1'), '--snapshot-key', k('s1'), '--timestamp-key', k('ts1'), '--expires', 'targets=90d'], later);
    expect(res.status, res.err).toBe(0);
    const expires = new Date(later + 90 * DAY).toISOString().slice(0, 19) + 'Z';
    expect(res.json).toMatchObject({ versions: { targets: 3, snapshot: 4, timestamp: 4 }, targets: ['a.bin'], expires: { targets: expires } });
    const targets = role(r, 'targets');
    expect(targets.signed.expires).toBe(expires);
    root(r, 'root.json').verifyDelegate('targets', targets);
    const wrong = await run(['publish', '--repo', p(r), '--key', k('s1'), '--snapshot-key', k('s1'), '--timestamp-key', k('ts1')], later);
    expect(wrong.status).toBe(2);
    expect(wrong.err).toMatch(/s1\.pem is not a targets key/);
  });
});
