// tcu-ota, the bundled program (dist/tcu-ota.mjs, `npm run build` first), as an operator runs it:
// keys, an image repository with thresholds of 2, a target, a director driving a staged rollout;
// the vehicles are the bundled `tcu-agent ota apply` (dist/tcu-agent.mjs), each with its own VIN,
// state folder and slots, over the folders and over `tcu-ota serve`; then `tcu-ota status` over a
// file of reports (the agent's own campaign reports) and over a real Mosquitto pauses the rollout.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rolloutBucket } from '../../ota/rollout.js';
import { Mosquitto, hasMosquitto } from '../helpers/mosquitto.js';
import { activeSlot, applyAs, fleetVehicle, reportsOf, type Applied, type FleetVehicle } from '../helpers/fleet-vehicle.js';

const OTA = join(process.cwd(), 'dist', 'tcu-ota.mjs');
const NAME = 'tcu/app-2.0.tar';
const CAMPAIGN = 'c-2024-07';

let base: string;
const p = (...parts: string[]): string => join(base, ...parts);

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
  json: Record<string, unknown>;
}

function ota(...args: string[]): Result {
  const r = spawnSync(process.execPath, [OTA, ...args], { cwd: base, encoding: 'utf8' });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(last) as Record<string, unknown>;
  } catch {
    // not JSON: the test looks at stdout itself
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, json };
}

function okOta(...args: string[]): Result {
  const r = ota(...args);
  expect(r.status, `tcu-ota ${args.join(' ')}\n${r.stderr}`).toBe(0);
  return r;
}

const IMAGE_KEYS = ['--key', 'it1.pem', 'it2.pem'];
const DIRECTOR_KEYS = ['--key', 'dt.pem', '--snapshot-key', 'ds.pem', '--timestamp-key', 'dts.pem'];

const vehicle = (vin: string): FleetVehicle => fleetVehicle(p('vehicles', vin), vin, { image: p('image'), director: p('director') });
const apply = (v: FleetVehicle, repos = { image: p('image'), director: p('director') }): Applied => applyAs(v, repos);

const vins = Array.from({ length: 3000 }, (_, i) => `WVWZZZ1KZPW${String(i).padStart(6, '0')}`);
const inBucket = (lo: number, hi: number): string[] => vins.filter((v) => rolloutBucket(CAMPAIGN, v) >= lo && rolloutBucket(CAMPAIGN, v) < hi);
const FIRST = inBucket(0, 1); // stage 0 (1 %)
const LAST = inBucket(50, 100); // stage 3 (100 %)

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'tcu-ota-it-'));
  writeFileSync(p('app-2.0.tar'), Buffer.alloc(256 * 1024, 7));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe('tcu-ota (bundled) with tcu-agent ota apply: a staged rollout end to end', () => {
  it('keygen, init (image, thresholds 2), add, publish, director, rollout create, advance, pause, resume, and the automatic pause', () => {
    // Keys: the image's offline root and targets keys (two each), the online ones, the director's.
    for (const k of ['ir1', 'ir2', 'it1', 'it2', 'is', 'its', 'dr', 'dt', 'ds', 'dts']) {
      const r = okOta('keygen', '--out', `${k}.pem`);
      expect(r.json).toMatchObject({ keytype: 'ed25519', scheme: 'ed25519', keyval: { public: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown }, keyid: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown });
      expect(statSync(p(`${k}.pem`)).mode & 0o777).toBe(0o600);
      expect(JSON.parse(readFileSync(p(`${k}.pem.pub`), 'utf8'))).toMatchObject({ keyid: r.json['keyid'] });
    }
    expect(ota('keygen', '--out', 'ir1.pem').status).toBe(2); // never over a key

    // The image repository: --image refuses a threshold of 1; with 2 it is created.
    const imageInit = ['init', '--repo', 'image', '--root-key', 'ir1.pem', 'ir2.pem', '--targets-key', 'it1.pem', 'it2.pem', '--targets-threshold', '2', '--snapshot-key', 'is.pem', '--timestamp-key', 'its.pem', '--image'];
    const weak = ota(...imageInit, '--root-threshold', '1');
    expect(weak.status).toBe(2);
    expect(weak.stderr).toMatch(/image repository needs --root-threshold 2/);
    expect(existsSync(p('image', 'root.json'))).toBe(false);
    expect(okOta(...imageInit, '--root-threshold', '2').json).toMatchObject({ versions: { root: 1, targets: 1, snapshot: 1, timestamp: 1 }, thresholds: { root: 2, targets: 2 } });
    expect(existsSync(p('image', '1.root.json'))).toBe(true);

    // add: one targets key is below the threshold of 2.
    const add = ['add', '--repo', 'image', '--target', NAME, '--file', 'app-2.0.tar', '--hardware-id', 'tcu-a', '--version', '2.0', '--release-counter', '2', '--rxswin', 'R156-X2', '--purpose', 'security fix', '--min-soc', '30'];
    expect(ota(...add, '--key', 'it1.pem').stderr).toMatch(/needs 2 signatures; 1 key given/);
    const added = okOta(...add, ...IMAGE_KEYS);
    expect(added.json).toMatchObject({ published: false, versions: { targets: 2, snapshot: 1 } });
    expect(readFileSync(p('image', 'targets', 'tcu', 'app-2.0.tar'))).toEqual(readFileSync(p('app-2.0.tar')));
    expect(okOta('publish', '--repo', 'image', '--snapshot-key', 'is.pem', '--timestamp-key', 'its.pem').json).toMatchObject({ versions: { targets: 2, snapshot: 2, timestamp: 2 }, targets: [NAME] });

    // The director: online keys, threshold 1 (a warning, not a refusal).
    const director = okOta('init', '--repo', 'director', '--root-key', 'dr.pem', '--root-threshold', '1', '--targets-key', 'dt.pem', '--targets-threshold', '1', '--snapshot-key', 'ds.pem', '--timestamp-key', 'dts.pem');
    expect(director.stderr).toMatch(/warning: targets threshold 1/);
    const created = okOta('rollout', 'create', '--repo', 'director', '--image-repo', 'image', '--campaign', CAMPAIGN, '--target', NAME, '--stages', '1,10,50,100', ...DIRECTOR_KEYS);
    expect(created.json).toMatchObject({ state: { campaign: CAMPAIGN, stages: [1, 10, 50, 100], stage: 0, paused: false, targets: [NAME] } });
    expect(ota('rollout', 'create', '--repo', 'director', '--image-repo', 'image', '--campaign', 'other', '--target', NAME, ...DIRECTOR_KEYS).status).toBe(2); // tcu-a is taken

    // Stage 0 (1 %): a VIN in the first bucket installs, one outside is up to date.
    const a = vehicle(FIRST[0]!);
    const b = vehicle(LAST[0]!);
    const ra = apply(a);
    expect(ra.outcome, ra.stderr).toMatchObject({ result: 'installed', code: 'OK', target: NAME });
    expect(ra.status).toBe(0);
    expect(readFileSync(join(a.dir, 'slots', activeSlot(a)!, 'app-2.0.tar'))).toEqual(readFileSync(p('app-2.0.tar')));
    const rb = apply(b);
    expect(rb).toMatchObject({ status: 0, outcome: { result: 'up-to-date', code: 'UP_TO_DATE', target: NAME } });
    expect(rb.outcome.detail).toMatch(/^not-in-rollout-stage: rollout "c-2024-07" is at 1 % \(stage 0\)/);
    expect(activeSlot(b)).toBeNull();

    // Advance to 100 %: the second vehicle installs.
    expect(okOta('rollout', 'advance', '--repo', 'director', '--campaign', CAMPAIGN, '--to-stage', '3', ...DIRECTOR_KEYS).json).toMatchObject({ state: { stage: 3 } });
    const rb2 = apply(b);
    expect(rb2.outcome, rb2.stderr).toMatchObject({ result: 'installed', target: NAME });

    // Paused: no new installs, wherever the VIN lies; resumed: they go on.
    okOta('rollout', 'pause', '--repo', 'director', '--campaign', CAMPAIGN, ...DIRECTOR_KEYS);
    const c = vehicle(FIRST[1]!);
    const rc = apply(c);
    expect(rc).toMatchObject({ status: 0, outcome: { result: 'up-to-date', target: NAME } });
    expect(rc.outcome.detail).toMatch(/^rollout-paused/);
    expect(activeSlot(c)).toBeNull();
    expect(ota('rollout', 'advance', '--repo', 'director', '--campaign', CAMPAIGN, ...DIRECTOR_KEYS).status).toBe(2);
    okOta('rollout', 'resume', '--repo', 'director', '--campaign', CAMPAIGN, ...DIRECTOR_KEYS);
    expect(okOta('rollout', 'list', '--repo', 'director').json).toMatchObject({ campaigns: [{ campaign: CAMPAIGN, stage: 3, paused: false }] });

    // status over a file: the vehicles' own reports, and two rollbacks in stage 0 → 2 of 3 failed there.
    const failed = FIRST.slice(2, 4).map((vin, i) => ({ vin, state: 'rolled-back', seq: 9, campaign: `${CAMPAIGN}:${NAME}:1`, target: NAME, code: 'OTA_HEALTH', detail: 'health check failed', at: new Date().toISOString(), ecu: 'tcu-a', event: 'rolled-back', from: 'rebooting', version: '2.0', releaseCounter: 2, auditHead: String(i) }));
    const reports = [...reportsOf(ra, a.vin), ...reportsOf(rb2, b.vin), ...failed];
    expect(reports.filter((r) => r['state'] === 'succeeded').map((r) => r['vin'])).toEqual([a.vin, b.vin]);
    writeFileSync(p('reports.jsonl'), reports.map((r) => JSON.stringify(r)).join('\n'));
    const report = ota('status', '--reports', 'reports.jsonl', '--director', 'director', '--threshold', '20', '--json', ...DIRECTOR_KEYS);
    expect(report.status, report.stderr).toBe(3);
    const summary = report.json as { reports: number; campaigns: { campaign: string; action: string; paused: boolean; groups: { stage: number | null; vehicles: number; failureRate: number; states: Record<string, number> }[] }[] };
    expect(summary.reports).toBe(reports.length);
    expect(summary.campaigns).toHaveLength(1);
    expect(summary.campaigns[0]).toMatchObject({ campaign: CAMPAIGN, action: 'paused', paused: true });
    const stage0 = summary.campaigns[0]!.groups.find((g) => g.stage === 0)!;
    expect(stage0).toMatchObject({ vehicles: 3, failureRate: 66.67, states: { succeeded: 1, 'rolled-back': 2 } });
    expect(summary.campaigns[0]!.groups.find((g) => g.stage === 3)).toMatchObject({ vehicles: 1, failureRate: 0 });
    expect(report.stderr).toMatch(/campaign c-2024-07 paused: stage 0 failure rate 66.67 % is above 20 %/);
    expect(apply(c).outcome.detail).toMatch(/^rollout-paused/);
    // The text form, and no keys: reported, not paused again.
    const text = ota('status', '--reports', 'reports.jsonl', '--director', 'director', '--threshold', '20');
    expect(text.status).toBe(3);
    expect(text.stdout).toMatch(/campaign c-2024-07: stages 1, 10, 50, 100 %, at stage 3 \(100 %\), PAUSED/);
    expect(text.stdout).toMatch(/stage 0 \(up to 1 %\): 3 vehicles \(succeeded 1, rolled-back 2\); failures: OTA_HEALTH 2; failure rate 66.67 % OVER THE 20 % THRESHOLD/);

    okOta('rollout', 'resume', '--repo', 'director', '--campaign', CAMPAIGN, ...DIRECTOR_KEYS);
    expect(apply(c).outcome).toMatchObject({ result: 'installed' });

    // Abort: the director stops naming the target; a vehicle that has not installed is up to date.
    okOta('rollout', 'abort', '--repo', 'director', '--campaign', CAMPAIGN, ...DIRECTOR_KEYS);
    expect(apply(vehicle(FIRST[4]!)).outcome).toMatchObject({ result: 'up-to-date', target: null, detail: 'nothing to install for this hardware' });
  }, 120_000);

  it('tcu-ota serve: the repositories over HTTP with Range, for a vehicle', async () => {
    // Again at 100 % for a fresh campaign, then a vehicle over HTTP.
    okOta('rollout', 'create', '--repo', 'director', '--image-repo', 'image', '--campaign', 'http-1', '--target', NAME, '--stages', '100', ...DIRECTOR_KEYS);
    const server = spawn(process.execPath, [OTA, 'serve', '--repo', base, '--listen', '127.0.0.1:0']);
    try {
      const url = await firstLine(server);
      const { url: root } = JSON.parse(url) as { url: string };
      const range = await new Promise<{ status: number; length: number; contentRange: string | undefined }>((resolve, reject) => {
        http.get(`${root}image/targets/tcu/app-2.0.tar`, { headers: { range: 'bytes=1000-' } }, (res) => {
          let length = 0;
          res.on('data', (c: Buffer) => (length += c.length));
          res.on('end', () => resolve({ status: res.statusCode!, length, contentRange: res.headers['content-range'] }));
        }).on('error', reject);
      });
      expect(range).toEqual({ status: 206, length: 256 * 1024 - 1000, contentRange: `bytes 1000-${256 * 1024 - 1}/${256 * 1024}` });
      const v = vehicle(LAST[1]!);
      const r = apply(v, { image: `${root}image`, director: `${root}director` });
      expect(r.outcome, r.stderr).toMatchObject({ result: 'installed', target: NAME });
    } finally {
      server.kill('SIGTERM');
      await new Promise((resolve) => server.once('close', resolve));
    }
    expect(server.exitCode).toBe(0);
  }, 60_000);

  it.skipIf(!hasMosquitto())('tcu-ota status --broker pauses the campaign as soon as reports from a real Mosquitto pass the threshold', async () => {
    const broker = await Mosquitto.start();
    const status = spawn(process.execPath, [OTA, 'status', '--broker', broker.url, '--topic', 'fleet', '--director', 'director', '--campaign', 'http-1', '--threshold', '10', '--json', ...DIRECTOR_KEYS], { cwd: base });
    try {
      let stderr = '';
      let stdout = '';
      status.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      const paused = new Promise<void>((resolve) =>
        status.stderr.on('data', (c: Buffer) => {
          stderr += c.toString();
          if (/campaign http-1 paused/.test(stderr)) resolve();
        }),
      );
      await until(() => stderr.includes('listening on'));
      const client = await connectAsync(broker.url);
      const at = new Date().toISOString();
      const vin = LAST[2]!;
      await client.publishAsync(`fleet/${vin}/ota`, JSON.stringify({ state: 'downloading', seq: 1, campaign: `http-1:${NAME}:1`, target: NAME, code: null, at }), { qos: 1 });
      await client.publishAsync('fleet/VINX/ota', 'not json', { qos: 1 });
      await client.publishAsync(`fleet/${vin}/ota`, JSON.stringify({ state: 'failed', seq: 2, campaign: `http-1:${NAME}:1`, target: NAME, code: 'OTA_INSTALL', at }), { qos: 1 });
      await client.endAsync();
      await paused;
      status.kill('SIGTERM');
      const code = await new Promise<number | null>((resolve) => status.once('close', resolve));
      expect(code, stderr).toBe(3);
      expect(JSON.parse(stdout)).toMatchObject({ reports: 2, invalid: 1, campaigns: [{ campaign: 'http-1', action: 'paused', groups: [{ stage: 0, vehicles: 1, failureRate: 100 }] }] });
      expect(stderr).toMatch(/fleet\/VINX\/ota: malformed report/);
      expect(okOta('rollout', 'list', '--repo', 'director').json).toMatchObject({ campaigns: [{ campaign: 'http-1', paused: true }] });
    } finally {
      if (status.exitCode === null) status.kill('SIGKILL');
      await broker.dispose();
    }
  }, 60_000);

  it('usage errors exit 2 with the reason; --help exits 0', () => {
    expect(ota('--help').status).toBe(0);
    for (const c of ['keygen', 'init', 'add', 'publish', 'rollout', 'status', 'serve']) expect(ota(c, '--help').stdout, c).toMatch(/^Usage: tcu-ota/);
    expect(ota('frobnicate').status).toBe(2);
    expect(ota('add', '--repo', 'image').stderr).toMatch(/--target is required/);
    expect(ota('publish', '--repo', 'image', '--snapshot-key', 'dts.pem', '--timestamp-key', 'its.pem').stderr).toMatch(/dts\.pem is not a snapshot key of this repository/);
    expect(ota('rollout', 'advance', '--repo', 'director', '--campaign', 'nope', ...DIRECTOR_KEYS).status).toBe(2);
    expect(ota('status').status).toBe(2);
  });
});

function firstLine(child: ChildProcessWithoutNullStreams): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    child.once('close', (code) => reject(new Error(`exited ${code} before printing its URL`)));
  });
}

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
