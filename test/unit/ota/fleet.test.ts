import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { TargetFile } from '@tufjs/models';
import { afterEach, describe, expect, it } from 'vitest';
import { TcuError } from '../../../core/errors.js';
import { parseOptions } from '../../../ota/cli/common.js';
import { tcuOta } from '../../../ota/cli/main.js';
import { progressBar, renderBar } from '../../../ota/cli/progress.js';
import { updateDirector } from '../../../ota/fleet/director.js';
import { parseDuration, parseLifetimes } from '../../../ota/fleet/expiry.js';
import { LOCK_FILE, loadRepository, withRepositoryLock } from '../../../ota/fleet/repo-io.js';
import { parseReport, parseReportLines, vinFromTopic, type OtaReport } from '../../../ota/fleet/reports.js';
import { abortRollout, advanceRollout, checkCampaignId, createRollout, parseStages, rolloutCampaign, setRolloutPaused } from '../../../ota/fleet/rollout-state.js';
import { RepoServer, byteRange } from '../../../ota/fleet/serve.js';
import { readKeyFile } from '../../../ota/fleet/signing.js';
import { ReportCollector, campaignOf, type KnownCampaign } from '../../../ota/fleet/summary.js';
import { RepositoryBuilder, writePrivateKeyFile, type TufRole } from '../../../ota/repo/index.js';
import { rolloutBucket } from '../../../ota/rollout.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { DAY, testKey } from '../../helpers/ota-repos.js';

/** The fleet side of tcu-ota, piece by piece: options, rollout state, reports, summaries, the server. */

const vins = (n: number): string[] => Array.from({ length: n }, (_, i) => `WVWZZZ1KZPW${String(i).padStart(6, '0')}`);
const ROLES: TufRole[] = ['root', 'targets', 'snapshot', 'timestamp'];

function builder(keyBase: number): RepositoryBuilder {
  const spec = { keys: [testKey(keyBase).publicKey()], threshold: 1 };
  const expires = new Date(Date.now() + 30 * DAY);
  const repo = RepositoryBuilder.create({ roles: { root: spec, targets: spec, snapshot: spec, timestamp: spec }, expires: { root: expires, targets: expires, snapshot: expires, timestamp: expires } });
  repo.signRoot([testKey(keyBase)]);
  return repo;
}

function imageWith(...targets: [string, string[]][]): RepositoryBuilder {
  const image = builder(70);
  targets.forEach(([name, hardwareIds], i) => image.addTarget(name, Buffer.from(`bytes of ${name}`), { hardwareIds, version: `${i + 2}.0`, releaseCounter: i + 2, rxswin: ['R'] }));
  return image;
}

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof TcuError ? err.code : 'not a TcuError';
  }
  return undefined;
};

let tmp: string | undefined;
afterEach(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
});

describe('command-line values', () => {
  it('stages: whole cumulative percentages; campaign ids; durations; role lifetimes', () => {
    expect(parseStages('1,10, 50,100')).toEqual([1, 10, 50, 100]);
    for (const bad of ['', '0,10', '1,101', '10,5', '1.5,10', '1,,2', 'x']) expect(code(() => parseStages(bad)), bad).toBe('CLI_USAGE');
    expect(checkCampaignId('C-2024.07_a')).toBe('C-2024.07_a');
    for (const bad of ['', 'a:b', '-x', 'a/b', 'x'.repeat(65)]) expect(code(() => checkCampaignId(bad)), bad).toBe('CLI_USAGE');
    expect(parseDuration('90d')).toBe(90 * DAY);
    expect(parseDuration('12h')).toBe(12 * 3600_000);
    for (const bad of ['0s', '10', '5x', '-1d', '1.5d']) expect(code(() => parseDuration(bad)), bad).toBe('CLI_USAGE');
    expect(parseLifetimes(['timestamp=2h', 'root=2y'])).toMatchObject({ timestamp: 2 * 3600_000, root: 730 * DAY, targets: 90 * DAY, snapshot: 7 * DAY });
    expect(code(() => parseLifetimes(['delegated=1d']))).toBe('CLI_USAGE');
  });

  it('an option declared multiple takes several values in a row', () => {
    const v = parseOptions(['--key', 'a', 'b', '--repo', 'r', '--key', 'c'], { key: { type: 'string', multiple: true }, repo: { type: 'string' } });
    expect(v).toMatchObject({ key: ['a', 'b', 'c'], repo: 'r' });
    expect(code(() => parseOptions(['--repo', 'r', 'stray'], { repo: { type: 'string' } }))).toBe('CLI_USAGE');
  });

  it('the progress bar: drawn on a terminal only, at most every 100 ms, ended by a newline', () => {
    expect(renderBar('hashing x', 45_000_000, 100_000_000, 10)).toBe('hashing x [#####-----]  45%  45.0/100.0 MB');
    expect(renderBar('x', 0, 0, 4)).toBe('x [####] 100%  0.0/0.0 MB');
    const clock = new FakeClock();
    const drawn = (isTTY: boolean): string => {
      const stream = Object.assign(new PassThrough(), { isTTY });
      let text = '';
      stream.on('data', (c: Buffer) => (text += c.toString()));
      const bar = progressBar(stream, 'hashing', clock);
      bar.update(1, 10);
      bar.update(2, 10); // within 100 ms: not drawn
      clock.advance(150);
      bar.update(5, 10);
      bar.finish();
      return text;
    };
    expect(drawn(false)).toBe('');
    const text = drawn(true);
    expect(text.split('\r').filter(Boolean).map((l) => /(\d+)%/.exec(l)![1])).toEqual(['10', '50', '50']);
    expect(text.endsWith('\n')).toBe(true);
  });
});

describe('rollout state in the director', () => {
  it('create copies the image entry at stage 0; advance, pause, resume and abort change only the rollout', () => {
    const image = imageWith(['tcu/app-2.0.tar', ['tcu-a', 'tcu-b']]);
    const director = builder(80);
    expect(createRollout(director, image, { campaign: 'c1', stages: [1, 10, 100], targets: ['tcu/app-2.0.tar'], hardwareIds: ['tcu-a'], extra: { preconditions: { minSocPercent: 30 } } })).toEqual([]);
    const entry = director.targets.signed.targets['tcu/app-2.0.tar']!;
    const fromImage = image.targets.signed.targets['tcu/app-2.0.tar']!;
    expect(entry.length).toBe(fromImage.length);
    expect(entry.hashes).toEqual(fromImage.hashes);
    expect(entry.custom).toEqual({ hardwareIds: ['tcu-a'], version: '2.0', releaseCounter: 2, preconditions: { minSocPercent: 30 }, rollout: { campaign: 'c1', stages: [1, 10, 100], stage: 0 } });

    expect(advanceRollout(director, 'c1')).toMatchObject({ stage: 1, paused: false });
    expect(setRolloutPaused(director, 'c1', true)).toMatchObject({ changed: true, state: { paused: true } });
    expect(setRolloutPaused(director, 'c1', true).changed).toBe(false);
    expect(code(() => advanceRollout(director, 'c1'))).toBe('CLI_USAGE'); // paused
    setRolloutPaused(director, 'c1', false);
    expect((director.targets.signed.targets['tcu/app-2.0.tar']!.custom as { rollout: object }).rollout).toEqual({ campaign: 'c1', stages: [1, 10, 100], stage: 1 });
    expect(code(() => advanceRollout(director, 'c1', 1))).toBe('CLI_USAGE'); // not forward
    expect(code(() => advanceRollout(director, 'c1', 3))).toBe('CLI_USAGE'); // past the last
    expect(advanceRollout(director, 'c1', 2).stage).toBe(2);
    expect(code(() => advanceRollout(director, 'c1'))).toBe('CLI_USAGE');
    expect(abortRollout(director, 'c1')).toEqual(['tcu/app-2.0.tar']);
    expect(director.targetNames()).toEqual([]);
    expect(code(() => rolloutCampaign(director, 'c1'))).toBe('CLI_USAGE');
  });

  it('keeps fields it does not know in the custom object', () => {
    const director = builder(80);
    createRollout(director, imageWith(['a.bin', ['hw']]), { campaign: 'c1', stages: [50, 100], targets: ['a.bin'] });
    const e = director.targets.signed.targets['a.bin']!;
    const custom = { ...e.custom, vendor: { x: 1 }, rollout: { ...(e.custom['rollout'] as object), note: 'n' } };
    director.putTarget(new TargetFile({ path: e.path, length: e.length, hashes: e.hashes, unrecognizedFields: { custom: custom as never } }));
    advanceRollout(director, 'c1');
    expect(director.targets.signed.targets['a.bin']!.custom).toMatchObject({ vendor: { x: 1 }, rollout: { note: 'n', stage: 1 } });
  });

  it('refuses what vehicles could not resolve: a hardware id named twice, an unknown target, a campaign id reused', () => {
    const image = imageWith(['a.bin', ['hw-1']], ['b.bin', ['hw-1', 'hw-2']], ['c.bin', ['hw-3']]);
    const director = builder(80);
    expect(code(() => createRollout(director, image, { campaign: 'c1', stages: [100], targets: ['a.bin', 'b.bin'] }))).toBe('CLI_USAGE');
    expect(code(() => createRollout(director, image, { campaign: 'c1', stages: [100], targets: ['nope.bin'] }))).toBe('CLI_USAGE');
    expect(code(() => createRollout(director, image, { campaign: 'c1', stages: [100], targets: ['a.bin'], hardwareIds: ['hw-9'] }))).toBe('CLI_USAGE');
    createRollout(director, image, { campaign: 'c1', stages: [100], targets: ['a.bin', 'c.bin'] });
    expect(code(() => createRollout(director, image, { campaign: 'c1', stages: [100], targets: ['c.bin'] }))).toBe('CLI_USAGE');
    // b.bin is for hw-1 too: refused while a.bin is named for it, unless --replace.
    expect(code(() => createRollout(director, image, { campaign: 'c2', stages: [100], targets: ['b.bin'] }))).toBe('CLI_USAGE');
    expect(createRollout(director, image, { campaign: 'c2', stages: [100], targets: ['b.bin'], replace: true })).toEqual(['a.bin']);
    expect(director.targetNames().sort()).toEqual(['b.bin', 'c.bin']);
  });
});

describe('reports', () => {
  const base = { vin: 'WVWZZZ1KZPW000001', state: 'failed', seq: 4, campaign: 'c1:tcu/app-2.0.tar:1700000000000', target: 'tcu/app-2.0.tar', code: 'OTA_INSTALL', at: '2024-07-01T10:00:00.000Z', ecu: 'tcu-a' };

  it('reads the fields the fleet uses, the topic naming the VIN', () => {
    expect(parseReport(base)).toMatchObject({ vin: base.vin, state: 'failed', seq: 4, campaign: base.campaign, target: base.target, code: 'OTA_INSTALL', rolloutCampaign: null });
    expect(parseReport({ ...base, vin: undefined, rollout: { campaign: 'c9' } }, 'VIN2')).toMatchObject({ vin: 'VIN2', rolloutCampaign: 'c9' });
    expect(vinFromTopic('fleet/', 'fleet/VIN1/ota')).toBe('VIN1');
    for (const t of ['fleet/VIN1/telemetry', 'other/VIN1/ota', 'fleet/a/b/ota', 'fleet//ota']) expect(vinFromTopic('fleet', t), t).toBeUndefined();
  });

  for (const [what, value] of [
    ['not an object', [1]],
    ['no vin', { ...base, vin: '' }],
    ['an unknown state', { ...base, state: 'idle' }],
    ['a bad seq', { ...base, seq: 1.5 }],
    ['neither campaign nor target', { ...base, campaign: undefined, target: undefined }],
    ['a bad code', { ...base, code: 7 }],
    ['a bad rollout', { ...base, rollout: 'c1' }],
  ] as const) {
    it(`refuses ${what}`, () => expect(code(() => parseReport(value))).toBe('OTA_METADATA'));
  }

  it('a JSON-lines file: blank lines skipped, bad lines returned with their number', () => {
    const lines = parseReportLines(`${JSON.stringify(base)}\n\nnot json\n${JSON.stringify({ ...base, state: 'sleeping' })}\n`);
    expect(lines.map((l) => [l.line, l.report !== undefined])).toEqual([
      [1, true],
      [3, false],
      [4, false],
    ]);
  });
});

describe('summaries and the automatic-pause threshold', () => {
  const known: KnownCampaign = { campaign: 'c1', stages: [10, 50, 100], stage: 1, paused: false, targets: ['tcu/app-2.0.tar'] };
  const byStage = (stage: number): string[] => vins(3000).filter((v) => {
    const b = rolloutBucket('c1', v);
    return stage === 0 ? b < 10 : stage === 1 ? b >= 10 && b < 50 : b >= 50;
  });
  let seq = 0;
  const report = (vin: string, state: OtaReport['state'], extra: Partial<OtaReport> = {}): OtaReport => ({ vin, state, seq: ++seq, campaign: `c1:tcu/app-2.0.tar:${seq}`, target: 'tcu/app-2.0.tar', rolloutCampaign: null, code: state === 'failed' ? 'OTA_INSTALL' : state === 'rolled-back' ? 'OTA_HEALTH' : null, at: null, raw: {}, ...extra });

  it('counts each vehicle once, in its latest state, in the stage its VIN joins at', () => {
    const [a, b, c] = byStage(0);
    const [d] = byStage(1);
    const col = new ReportCollector([known]);
    for (const r of [report(a!, 'downloading'), report(a!, 'installing'), report(a!, 'succeeded'), report(b!, 'downloading'), report(c!, 'rolled-back'), report(d!, 'failed')]) col.add(r);
    col.add({ ...report(b!, 'succeeded'), seq: 0 }); // older than its downloading report: ignored
    const [s] = col.summarise({ thresholdPercent: 60 });
    expect(s).toMatchObject({ campaign: 'c1', stages: [10, 50, 100], stage: 1, vehicles: 4, overThreshold: true });
    expect(s!.groups.map((g) => [g.stage, g.vehicles, g.finished, g.failures, g.failureRate, g.overThreshold])).toEqual([
      [0, 3, 2, 1, 50, false],
      [1, 1, 1, 1, 100, true],
    ]);
    expect(s!.groups[0]!.states).toMatchObject({ succeeded: 1, downloading: 1, 'rolled-back': 1, failed: 0 });
    expect(s!.groups[1]!.failureCodes).toEqual({ OTA_INSTALL: 1 });
  });

  it('passes the threshold only above it, with enough finished vehicles; cancellations are no failures', () => {
    const vs = byStage(0);
    const col = new ReportCollector([known]);
    for (const v of vs.slice(0, 19)) col.add(report(v, 'succeeded'));
    col.add(report(vs[19]!, 'failed')); // 1 of 20: 5 %
    col.add(report(vs[20]!, 'failed', { code: 'OTA_CANCELLED' }));
    const at = (thresholdPercent: number, minVehicles?: number) => col.summarise({ thresholdPercent, ...(minVehicles === undefined ? {} : { minVehicles }) })[0]!.groups[0]!;
    expect(at(5)).toMatchObject({ finished: 20, failures: 1, cancelled: 1, failureRate: 5, overThreshold: false });
    expect(at(4.99).overThreshold).toBe(true);
    expect(at(4.99, 21).overThreshold).toBe(false);
  });

  it('without the director: one group; reports attributed by rollout, campaign id prefix or target', () => {
    const col = new ReportCollector();
    col.add(report('V1', 'failed'));
    expect(col.summarise({ thresholdPercent: 5 })[0]).toMatchObject({ campaign: 'c1', stages: null, groups: [{ group: 'all', vehicles: 1, overThreshold: true }] });
    const r = (x: Partial<OtaReport>) => ({ ...report('V', 'succeeded'), ...x });
    expect(campaignOf(r({ rolloutCampaign: 'cX' }), [known])).toBe('cX');
    expect(campaignOf(r({ campaign: 'c1:other:1' }), [known])).toBe('c1');
    expect(campaignOf(r({ campaign: 'ota:tcu/app-2.0.tar:1' }), [known])).toBe('c1');
    expect(campaignOf(r({ campaign: 'ota:x:1', target: 'x' }), [known])).toBe('ota');
    expect(campaignOf(r({ campaign: null, target: 'x' }), [])).toBe('(target x)');
  });
});

describe('updateDirector and the status command in-process: the automatic pause', () => {
  function directorOnDisk(): { dir: string; keyPath: string } {
    tmp = mkdtempSync(join(tmpdir(), 'tcu-ota-fleet-'));
    const dir = join(tmp, 'director');
    const key = testKey(80);
    const keyPath = join(tmp, 'director.pem');
    writePrivateKeyFile(keyPath, key);
    const d = builder(80);
    createRollout(d, imageWith(['tcu/app-2.0.tar', ['tcu-a']]), { campaign: 'c1', stages: [10, 100], targets: ['tcu/app-2.0.tar'] });
    d.signTargets([key]);
    d.publish([key], [key]);
    d.write(dir);
    return { dir, keyPath };
  }

  it('refuses keys that are not the role’s, writing nothing; a live lock is respected', async () => {
    const { dir, keyPath } = directorOnDisk();
    const wrong = join(tmp!, 'other.pem');
    writePrivateKeyFile(wrong, testKey(81));
    const before = readFileSync(join(dir, 'targets.json'));
    const keys = (k: string) => ({ targets: [readKeyFile(k)], snapshot: [readKeyFile(keyPath)], timestamp: [readKeyFile(keyPath)] });
    const err = await updateDirector(dir, keys(wrong), { expires: Object.fromEntries(ROLES.map((r) => [r, new Date(Date.now() + DAY)])) as Record<TufRole, Date>, issued: new Date() }, () => ({ result: 0, write: true })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CLI_USAGE' });
    expect(readFileSync(join(dir, 'targets.json'))).toEqual(before);
    writeFileSync(join(dir, LOCK_FILE), `${process.pid}\n`);
    await expect(withRepositoryLock(dir, () => 1)).rejects.toMatchObject({ code: 'FILE_WRITE' });
    writeFileSync(join(dir, LOCK_FILE), '999999999\n'); // a process that is gone
    await expect(withRepositoryLock(dir, () => 2)).resolves.toBe(2);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('status over a reports file pauses the campaign when a stage passes the threshold (exit 3)', async () => {
    const { dir, keyPath } = directorOnDisk();
    const inStage = vins(500).filter((v) => rolloutBucket('c1', v) < 10);
    const lines = inStage.slice(0, 4).map((vin, i) => JSON.stringify({ vin, state: i === 0 ? 'rolled-back' : 'succeeded', seq: 1, campaign: 'c1:tcu/app-2.0.tar:1', target: 'tcu/app-2.0.tar', code: i === 0 ? 'OTA_HEALTH' : null }));
    const file = join(tmp!, 'reports.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n{"broken": true}\n`);
    const run = async (args: string[]) => {
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      let out = '';
      let err = '';
      stdout.on('data', (c: Buffer) => (out += c.toString()));
      stderr.on('data', (c: Buffer) => (err += c.toString()));
      const status = await tcuOta(args, { stdin: new PassThrough(), stdout, stderr, isTTY: false });
      return { status, out, err };
    };
    const keys = ['--key', keyPath, '--snapshot-key', keyPath, '--timestamp-key', keyPath];
    // 1 of 4 = 25 %: under a 30 % threshold nothing happens.
    const calm = await run(['status', '--reports', file, '--director', dir, '--threshold', '30', '--json', ...keys]);
    expect(calm.status, calm.err).toBe(0);
    expect(JSON.parse(calm.out)).toMatchObject({ reports: 4, invalid: 1, campaigns: [{ campaign: 'c1', paused: false, action: 'none', groups: [{ stage: 0, failureRate: 25 }] }] });
    expect(calm.err).toMatch(/reports\.jsonl:5: malformed report/);
    const hot = await run(['status', '--reports', file, '--director', dir, '--threshold', '20', '--json', ...keys]);
    expect(hot.status, hot.err).toBe(3);
    expect(JSON.parse(hot.out)).toMatchObject({ campaigns: [{ campaign: 'c1', paused: true, action: 'paused', overThreshold: true }] });
    expect(hot.err).toMatch(/campaign c1 paused: stage 0 failure rate 25 % is above 20 %/);
    const { repo } = loadRepository(dir);
    expect(rolloutCampaign(repo, 'c1')).toMatchObject({ paused: true, stage: 0 });
    expect(repo.targets.signed.version).toBe(2);
    // Again: already paused, nothing re-signed.
    const again = await run(['status', '--reports', file, '--director', dir, '--threshold', '20', '--json', ...keys]);
    expect(JSON.parse(again.out)).toMatchObject({ campaigns: [{ action: 'already paused' }] });
    expect(loadRepository(dir).repo.targets.signed.version).toBe(2);
  });
});

describe('serve', () => {
  it('byteRange: single ranges, suffixes, unsatisfiable, ignored', () => {
    expect(byteRange(undefined, 10)).toEqual({ kind: 'none' });
    expect(byteRange('bytes=2-5', 10)).toEqual({ kind: 'range', start: 2, end: 5 });
    expect(byteRange('bytes=4-', 10)).toEqual({ kind: 'range', start: 4, end: 9 });
    expect(byteRange('bytes=-3', 10)).toEqual({ kind: 'range', start: 7, end: 9 });
    expect(byteRange('bytes=5-100', 10)).toEqual({ kind: 'range', start: 5, end: 9 });
    expect(byteRange('bytes=10-', 10)).toEqual({ kind: 'unsatisfiable' });
    for (const h of ['bytes=5-2', 'bytes=0-1,3-4', 'items=0-1', 'bytes=-']) expect(byteRange(h, 10), h).toEqual({ kind: 'none' });
  });

  it('serves files with Range over real HTTP, and nothing outside its folder', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'tcu-ota-serve-'));
    const root = join(tmp, 'repo');
    mkdirSync(join(root, 'targets', 'tcu'), { recursive: true });
    writeFileSync(join(root, 'targets', 'tcu', 'app.bin'), '0123456789');
    writeFileSync(join(tmp, 'secret'), 'secret');
    symlinkSync(join(tmp, 'secret'), join(root, 'link'));
    const server = new RepoServer({ root });
    const { url } = await server.start('127.0.0.1', 0);
    const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
      new Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
        const req = http.request(`${url}${path}`, { method, headers }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      expect(await get('targets/tcu/app.bin')).toMatchObject({ status: 200, body: '0123456789', headers: { 'accept-ranges': 'bytes', 'content-length': '10' } });
      expect(await get('targets/tcu/app.bin', { range: 'bytes=4-' })).toMatchObject({ status: 206, body: '456789', headers: { 'content-range': 'bytes 4-9/10' } });
      expect(await get('targets/tcu/app.bin', { range: 'bytes=20-' })).toMatchObject({ status: 416, headers: { 'content-range': 'bytes */10' } });
      expect(await get('targets/tcu/app.bin', {}, 'HEAD')).toMatchObject({ status: 200, body: '' });
      expect((await get('targets/tcu/app.bin', {}, 'POST')).status).toBe(405);
      for (const p of ['link', 'targets', 'targets/tcu/', '..%2fsecret', 'targets/%2e%2e/%2e%2e/secret', 'missing']) expect((await get(p)).status, p).toBe(404);
    } finally {
      await server.stop();
    }
  });
});
