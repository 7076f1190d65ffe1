import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POLICY_OPTIONS, SOFTWARE_OPTIONS } from '../../../ota/cli/custom-options.js';
import { tcuOta } from '../../../ota/cli/main.js';
import { writePrivateKeyFile } from '../../../ota/repo/index.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { testKey } from '../../helpers/ota-repos.js';

/**
 * tcu-ota in-process, command by command: every option that fills a target's `custom` object (add,
 * rollout create), the hashing progress bar of `add` on a terminal and off one.
 * (`root` and `publish --key`: test/unit/ota/fleet-root.test.ts.)
 */

let base: string;
const p = (...parts: string[]): string => join(base, ...parts);

interface Run {
  status: number;
  out: string;
  err: string;
  json: Record<string, unknown>;
}

async function run(args: string[], options: { tty?: boolean; clock?: FakeClock } = {}): Promise<Run> {
  const stdout = new PassThrough();
  const stderr = Object.assign(new PassThrough(), options.tty === undefined ? {} : { isTTY: options.tty });
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const status = await tcuOta(args, { stdin: new PassThrough(), stdout, stderr, isTTY: false }, { clock: options.clock ?? new FakeClock(Date.now()) });
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(out.trim().split('\n').pop() ?? '') as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return { status, out, err, json };
}

const KEYS = ['r1', 't1', 's1', 'ts1', 'dr', 'dt', 'ds', 'dts'];
const IMAGE_KEYS = () => ['--key', p('t1.pem')];
const DIRECTOR_KEYS = () => ['--key', p('dt.pem'), '--snapshot-key', p('ds.pem'), '--timestamp-key', p('dts.pem')];

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'tcu-ota-cli-'));
  KEYS.forEach((k, i) => writePrivateKeyFile(p(`${k}.pem`), testKey(100 + i)));
  for (const [repo, k] of [['image', ['r1', 't1', 's1', 'ts1']], ['director', ['dr', 'dt', 'ds', 'dts']]] as const) {
    const r = await run(['init', '--repo', p(repo), '--root-key', p(`${k[0]}.pem`), '--root-threshold', '1', '--targets-key', p(`${k[1]}.pem`), '--targets-threshold', '1', '--snapshot-key', p(`${k[2]}.pem`), '--timestamp-key', p(`${k[3]}.pem`)]);
    expect(r.status, r.err).toBe(0);
  }
  writeFileSync(p('app.bin'), 'application image');
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** Each option of `add` → the custom object it makes (besides `hardwareIds: ["tcu-a"]`). */
const ADD_TABLE: [string[], Record<string, unknown>][] = [
  [[], {}],
  [['--hardware-id', 'tcu-b'], { hardwareIds: ['tcu-a', 'tcu-b'] }],
  [['--version', '2.1.0'], { version: '2.1.0' }],
  [['--release-counter', '7'], { releaseCounter: 7 }],
  [['--rxswin', 'R156-A', 'R156-B'], { rxswin: ['R156-A', 'R156-B'] }],
  [['--purpose', 'security fix'], { userInfo: { purpose: 'security fix' } }],
  [['--changes', 'new maps'], { userInfo: { changes: 'new maps' } }],
  [['--duration-seconds', '600'], { userInfo: { durationSeconds: 600 } }],
  [['--unavailable', 'climate', '--unavailable', 'navigation'], { userInfo: { unavailableFunctions: ['climate', 'navigation'] } }],
  [['--min-soc', '30'], { preconditions: { minSocPercent: 30 } }],
  [['--parked'], { preconditions: { parked: true } }],
  [['--ignition-off'], { preconditions: { ignitionOff: true } }],
  [['--consent-required'], { preconditions: { consentRequired: true } }],
  [['--workshop-only'], { preconditions: { workshopOnly: true } }],
  [['--cellular-allowed'], { network: { cellularAllowed: true } }],
  [['--no-cellular'], { network: { cellularAllowed: false } }],
  [['--roaming-allowed'], { network: { roamingAllowed: true } }],
  [['--no-roaming'], { network: { roamingAllowed: false } }],
  [['--max-bytes', '50000000'], { network: { maxBytes: 50_000_000 } }],
  [['--window', '22:00-05:00'], { network: { window: '22:00-05:00' } }],
  [['--campaign', 'c-9'], { rollout: { campaign: 'c-9' } }],
  [['--campaign', 'c-9', '--stages', '1,10,100'], { rollout: { campaign: 'c-9', stages: [1, 10, 100], stage: 0 } }],
  [['--campaign', 'c-9', '--stages', 'group:pilot,100'], { rollout: { campaign: 'c-9', stages: [{ groups: ['pilot'] }, 100], stage: 0 } }],
  [
    ['--min-soc', '20', '--parked', '--ignition-off', '--no-cellular', '--roaming-allowed', '--purpose', 'p', '--duration-seconds', '0'],
    { preconditions: { minSocPercent: 20, parked: true, ignitionOff: true }, network: { cellularAllowed: false, roamingAllowed: true }, userInfo: { purpose: 'p', durationSeconds: 0 } },
  ],
];

/** Option values refused before anything is signed (exit 2), with the reason. */
const REFUSED: [string[], RegExp][] = [
  [['--cellular-allowed', '--no-cellular'], /--cellular-allowed and --no-cellular contradict each other/],
  [['--roaming-allowed', '--no-roaming'], /--roaming-allowed and --no-roaming contradict each other/],
  [['--stages', '1,100'], /--stages needs --campaign/],
  [['--campaign', 'a:b'], /a campaign id is 1 to 64/],
  [['--campaign', 'c', '--stages', '10,5'], /cumulative/],
  [['--min-soc', '101'], /--min-soc must be a whole number from 0 to 100/],
  [['--release-counter', '2.5'], /--release-counter must be a whole number from 0/],
  [['--duration-seconds', '604801'], /--duration-seconds must be a whole number from 0 to 604800/],
  [['--max-bytes', '1.5'], /--max-bytes must be a whole number/],
  [['--window', '24:00-01:00'], /--window is HH:MM-HH:MM/],
];

describe('add: every custom-field option → the target’s custom object', () => {
  it('the table names every software and policy option (a new option needs a row)', () => {
    const used = new Set([...ADD_TABLE, ...REFUSED].flatMap(([args]) => args.filter((a) => a.startsWith('--')).map((a) => a.slice(2))));
    expect([...Object.keys(SOFTWARE_OPTIONS), ...Object.keys(POLICY_OPTIONS), 'hardware-id', 'campaign', 'stages'].filter((o) => !used.has(o))).toEqual([]);
  });

  it.each(ADD_TABLE.map(([args, custom]) => [args.join(' ') || '(none)', args, custom] as const))('%s', async (_name, args, custom) => {
    const r = await run(['add', '--repo', p('image'), '--target', 'tcu/app.bin', '--file', p('app.bin'), '--hardware-id', 'tcu-a', ...args, ...IMAGE_KEYS()]);
    expect(r.status, r.err).toBe(0);
    expect((r.json['target'] as { custom: unknown }).custom).toEqual({ hardwareIds: ['tcu-a'], ...custom });
  });

  it.each(REFUSED.map(([args, message]) => [args.join(' '), args, message] as const))('refuses %s', async (_name, args, message) => {
    const staged = p('image', '.tcu-ota', 'staged-targets.json');
    const before = existsSync(staged) ? readFileSync(staged) : null;
    const r = await run(['add', '--repo', p('image'), '--target', 'tcu/app.bin', '--file', p('app.bin'), '--hardware-id', 'tcu-a', ...args, ...IMAGE_KEYS()]);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(message);
    expect(existsSync(staged) ? readFileSync(staged) : null).toEqual(before);
  });

  it('--replace: a published name changes its bytes only with it', async () => {
    writeFileSync(p('other.bin'), 'other bytes');
    const add = ['add', '--repo', p('image'), '--target', 'tcu/app.bin', '--file', p('other.bin'), '--hardware-id', 'tcu-a', ...IMAGE_KEYS()];
    const refused = await run(add);
    expect(refused.status).toBe(2);
    expect(refused.err).toMatch(/exists with other content; publish new content under a new name \(or pass --replace\)/);
    const replaced = await run([...add, '--replace', '--version', '3']);
    expect(replaced.status, replaced.err).toBe(0);
    expect(replaced.json['target']).toMatchObject({ length: 'other bytes'.length, custom: { hardwareIds: ['tcu-a'], version: '3' } });
    expect(readFileSync(p('image', 'targets', 'tcu', 'app.bin'), 'utf8')).toBe('other bytes');
  });
});

describe('rollout create: the director’s preconditions and network options', () => {
  const POLICY_TABLE: [string[], Record<string, unknown>][] = ADD_TABLE.filter(([args]) => args.length > 0 && args.every((a) => !a.startsWith('--') || a.slice(2) in POLICY_OPTIONS)).map(([args, custom]) => [args, custom]);

  beforeAll(async () => {
    writeFileSync(p('rollout.bin'), 'rollout image');
    const r = await run(['add', '--repo', p('image'), '--target', 'tcu/rollout.bin', '--file', p('rollout.bin'), '--hardware-id', 'tcu-r', '--version', '1.0', '--release-counter', '3', '--snapshot-key', p('s1.pem'), '--timestamp-key', p('ts1.pem'), ...IMAGE_KEYS()]);
    expect(r.status, r.err).toBe(0);
  });

  it('covers every policy option', () => {
    const used = new Set(POLICY_TABLE.flatMap(([args]) => args.filter((a) => a.startsWith('--')).map((a) => a.slice(2))));
    expect(Object.keys(POLICY_OPTIONS).filter((o) => !used.has(o))).toEqual([]);
  });

  it.each(POLICY_TABLE.map(([args, custom], i) => [args.join(' '), args, custom, i] as const))('%s', async (_name, args, custom, i) => {
    const r = await run(['rollout', 'create', '--repo', p('director'), '--image-repo', p('image'), '--campaign', `p-${i}`, '--target', 'tcu/rollout.bin', '--stages', '100', '--replace', ...args, ...DIRECTOR_KEYS()]);
    expect(r.status, r.err).toBe(0);
    const targets = JSON.parse(readFileSync(p('director', 'targets.json'), 'utf8')) as { signed: { targets: Record<string, { custom: unknown }> } };
    expect(targets.signed.targets['tcu/rollout.bin']!.custom).toEqual({ hardwareIds: ['tcu-r'], version: '1.0', releaseCounter: 3, ...custom, rollout: { campaign: `p-${i}`, stages: [100], stage: 0 } });
  });

  it.each(REFUSED.filter(([args]) => args.every((a) => !a.startsWith('--') || a.slice(2) in POLICY_OPTIONS)).map(([args, message]) => [args.join(' '), args, message] as const))('refuses %s', async (_name, args, message) => {
    const before = readFileSync(p('director', 'targets.json'));
    const r = await run(['rollout', 'create', '--repo', p('director'), '--image-repo', p('image'), '--campaign', 'refused', '--target', 'tcu/rollout.bin', '--replace', ...args, ...DIRECTOR_KEYS()]);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(message);
    expect(readFileSync(p('director', 'targets.json'))).toEqual(before);
  });

  it('software options are the image repository’s: rollout create does not take them', async () => {
    const r = await run(['rollout', 'create', '--repo', p('director'), '--image-repo', p('image'), '--campaign', 'sw', '--target', 'tcu/rollout.bin', '--replace', '--release-counter', '9', ...DIRECTOR_KEYS()]);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/release-counter/);
  });
});

describe('add: the hashing progress bar', () => {
  const big = (): string => {
    const path = p('big.bin');
    if (!existsSync(path)) writeFileSync(path, Buffer.alloc(3 << 20, 1)); // three 1 MiB chunks
    return path;
  };
  const add = (tty: boolean | undefined) => run(['add', '--repo', p('image'), '--target', 'tcu/big.bin', '--file', big(), '--hardware-id', 'tcu-a', ...IMAGE_KEYS()], { ...(tty === undefined ? {} : { tty }), clock: new FakeClock(Date.now()) });

  it('on a terminal: drawn in place on standard error while hashing, ended by a newline; standard output stays JSON', async () => {
    const r = await add(true);
    expect(r.status, r.err).toBe(0);
    const bars = r.err.split('\r').filter((l) => l.startsWith('hashing'));
    // The clock stands still: the first chunk draws, the second is within 100 ms, the last and finish draw.
    expect(bars.map((l) => /^hashing tcu\/big\.bin \[[#-]{30}\] +(\d+)%/.exec(l)?.[1])).toEqual(['33', '100', '100']);
    expect(bars[2]).toMatch(/^hashing tcu\/big\.bin \[#{30}\] 100% {2}3\.1\/3\.1 MB\n/);
    expect(r.out).not.toContain('\r');
    expect(r.json['name']).toBe('tcu/big.bin');
  });

  it('not on a terminal (a pipe, a log): no bar at all', async () => {
    for (const tty of [false, undefined]) {
      const r = await add(tty);
      expect(r.status, r.err).toBe(0);
      expect(r.err).not.toMatch(/hashing|\r|#{3}/);
    }
  });
});
