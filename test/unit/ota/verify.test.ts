import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../core/clock.js';
import { TcuError } from '../../../core/errors.js';
import { TrustedTime } from '../../../drivers/gnss/trusted-time.js';
import { signMetadata } from '../../../ota/repo/metadata.js';
import { IMAGE_MIN_THRESHOLDS, ISSUED_MARGIN_MS, TrustedRepository, type TrustedRepositoryOptions } from '../../../ota/tuf/index.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { DAY, TestRepo, expectRefused, expectValidUpdate, folderDigest, rejection, vehicle, vehicleRepos, type Vehicle } from '../../helpers/ota-repos.js';

/** TrustedRepository: where trust starts, how it is committed, the clock rules, and timing. */

let v: Vehicle | undefined;
afterEach(async () => {
  vi.useRealTimers();
  await v?.close();
  v = undefined;
});

function version(dir: string, file: string): number {
  return (JSON.parse(readFileSync(join(dir, file), 'utf8')) as { signed: { version: number } }).signed.version;
}

function thrown(fn: () => unknown): TcuError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TcuError);
    return e as TcuError;
  }
  throw new Error('did not throw');
}

describe('where trust starts', () => {
  it('the first run trusts the root the integrator put in the state folder, not the one served', async () => {
    v = await vehicle({ initialRefresh: false });
    // A repository with other keys pretends to be the image repository.
    const impostor = new TestRepo({ dir: join(v.base, 'impostor'), keyBase: 80 });
    impostor.addTarget('tcu/app-1.0.tar', 'evil', { hardwareIds: ['tcu-a'] });
    impostor.publish();
    const repo = new TrustedRepository({ name: 'image', stateDir: v.stateDir, source: impostor.dir });
    const before = folderDigest(v.stateDir);
    expect((await rejection(repo.refresh())).code).toBe('OTA_SIGNATURE');
    expect(folderDigest(v.stateDir)).toEqual(before);
    expect((await v.trusted.image.refresh()).versions).toEqual({ root: 1, timestamp: 1, snapshot: 1, targets: 1 });
  });

  it('an image repository whose root asks for fewer than two signatures (root or targets) is refused: OTA_SIGNATURE', async () => {
    v = await vehicle({ initialRefresh: false });
    const weak = new TestRepo({ dir: join(v.base, 'weak'), keyBase: 60, thresholds: { targets: 1 } });
    weak.addTarget('tcu/app-1.0.tar', 'one key signed this', { hardwareIds: ['tcu-a'] });
    weak.publish();
    const state = join(v.base, 'weak-state');
    mkdirSync(join(state, 'image'), { recursive: true });
    writeFileSync(join(state, 'image', 'root.json'), weak.file('root.json'));
    const image = new TrustedRepository({ name: 'image', stateDir: state, source: weak.dir, minThresholds: IMAGE_MIN_THRESHOLDS });
    const err = await rejection(image.refresh());
    expect(err.code).toBe('OTA_SIGNATURE');
    expect(err.details).toMatchObject({ role: 'targets', threshold: 1, min: 2 });
    expect(readdirSync(join(state, 'image'))).toEqual(['root.json']);
    // The same rule passes the image repository of the fleet tool (2 and 2); a director is online (no rule).
    const strong = new TrustedRepository({ name: 'image', stateDir: v.stateDir, source: v.image.dir, minThresholds: IMAGE_MIN_THRESHOLDS });
    expect((await strong.refresh()).versions.targets).toBe(1);
    const director = new TrustedRepository({ name: 'director', stateDir: v.stateDir, source: v.director.dir });
    await director.refresh();
  });

  it('no root in the state folder, or no state folder: OTA_METADATA', async () => {
    v = await vehicle({ initialRefresh: false });
    rmSync(join(v.stateDir, 'director', 'root.json'));
    expect((await rejection(v.trusted.director.refresh())).code).toBe('OTA_METADATA');
    const nowhere = new TrustedRepository({ name: 'image', stateDir: join(v.base, 'nowhere'), source: v.image.dir });
    expect((await rejection(nowhere.refresh())).code).toBe('OTA_METADATA');
    expect(() => new TrustedRepository({ name: '../image', stateDir: v!.stateDir, source: v!.image.dir })).toThrow(TcuError);
  });

  it('loadTrusted before any refresh: OTA_METADATA; after one, the same metadata without a network', async () => {
    v = await vehicle({ initialRefresh: false });
    expect(thrown(() => v!.trusted.image.loadTrusted()).code).toBe('OTA_METADATA');
    const refreshed = await v.trusted.image.refresh();
    rmSync(v.image.dir, { recursive: true });
    const offline = v.trusted.image.loadTrusted();
    expect(offline.versions).toEqual(refreshed.versions);
    expect([...offline.targets.values()]).toEqual([...refreshed.targets.values()]);
    expect(offline.targets.get('tcu/app-1.0.tar')!.custom).toEqual({ hardwareIds: ['tcu-a'], version: '1.0', releaseCounter: 1, rxswin: ['R156-X1'] });
  });
});

describe('committing trusted metadata', () => {
  it('a refresh with nothing new commits nothing; a new release replaces each file and keeps the previous copy', async () => {
    v = await vehicle({ transport: 'http' });
    const dir = v.trusted.image.dir;
    const before = folderDigest(dir);
    const oldTimestamp = readFileSync(join(dir, 'timestamp.json'));
    v.server!.requests.length = 0;
    const same = await v.trusted.image.refresh();
    expect(same.changed).toEqual([]);
    expect(folderDigest(dir)).toEqual(before);
    expect(v.server!.requests).toEqual(['/image/2.root.json', '/image/timestamp.json']);
    v.image.honestPublish(2);
    const next = await v.trusted.image.refresh();
    expect(next.changed).toEqual(['timestamp.json', 'snapshot.json', 'targets.json']);
    expect(readFileSync(join(dir, 'previous', 'timestamp.json'))).toEqual(oldTimestamp);
    expect(version(dir, 'timestamp.json')).toBe(2);
    expect(existsSync(join(dir, '.work'))).toBe(false);
    expect(existsSync(join(dir, 'commit.json'))).toBe(false);
  });

  it('a power cut after the commit point: the next use rolls the commit forward', async () => {
    v = await vehicle();
    const dir = v.trusted.image.dir;
    // The new set, as a refresh in a copy of the state folder commits it.
    const copy = join(v.base, 'state-copy');
    cpSync(v.stateDir, copy, { recursive: true });
    v.image.honestPublish(2);
    await new TrustedRepository({ name: 'image', stateDir: copy, source: v.image.dir }).refresh();
    for (const f of ['timestamp.json', 'snapshot.json', 'targets.json']) writeFileSync(join(dir, `${f}.new`), readFileSync(join(copy, 'image', f)));
    writeFileSync(join(dir, 'commit.json'), JSON.stringify({ files: ['timestamp.json', 'snapshot.json', 'targets.json'] }));
    // The cut fell after the first rename.
    writeFileSync(join(dir, 'timestamp.json'), readFileSync(join(dir, 'timestamp.json.new')));
    rmSync(join(dir, 'timestamp.json.new'));
    expect(v.trusted.image.loadTrusted().versions).toEqual({ root: 1, timestamp: 2, snapshot: 2, targets: 2 });
    expect(existsSync(join(dir, 'commit.json'))).toBe(false);
    expect(existsSync(join(dir, 'snapshot.json.new'))).toBe(false);
  });

  it('a power cut before the commit point: the half-written new files are discarded', async () => {
    v = await vehicle();
    const dir = v.trusted.image.dir;
    const before = folderDigest(dir);
    writeFileSync(join(dir, 'timestamp.json.new'), '{"half":');
    expect(v.trusted.image.loadTrusted().versions.timestamp).toBe(1);
    expect(folderDigest(dir)).toEqual(before);
  });

  it('a damaged root.json is replaced by previous/root.json; with no previous copy: OTA_METADATA', async () => {
    v = await vehicle();
    const r = v.image;
    r.builder.rotateRoot({}, r.keys.root);
    r.builder.write(r.dir);
    await v.trusted.image.refresh();
    const dir = v.trusted.image.dir;
    expect(version(dir, 'root.json')).toBe(2);
    writeFileSync(join(dir, 'root.json'), '\0\0\0garbage');
    // From root 1 (previous/), tuf-js walks to root 2 again.
    await expectValidUpdate(v, 5);
    expect(version(dir, 'root.json')).toBe(2);
    // A mirror that no longer serves 2.root.json: the refresh ends on root 1 and writes it back.
    const good = readFileSync(join(dir, 'previous', 'root.json'));
    writeFileSync(join(dir, 'root.json'), 'damaged again');
    r.remove('2.root.json');
    await v.trusted.image.refresh();
    expect(readFileSync(join(dir, 'root.json'))).toEqual(good);
    expect(readFileSync(join(dir, 'previous', 'root.json'))).toEqual(good);
    writeFileSync(join(v.trusted.director.dir, 'root.json'), 'not json');
    expect((await rejection(v.trusted.director.refresh())).code).toBe('OTA_METADATA');
  });

  it('two refreshes at once run one after the other', async () => {
    v = await vehicle();
    v.image.honestPublish(2);
    const [a, b] = await Promise.all([v.trusted.image.refresh(), v.trusted.image.refresh()]);
    expect(a.changed).toHaveLength(3);
    expect(b.changed).toEqual([]);
  });
});

describe('the clock', () => {
  const realNow = Date.now();

  function clockedRepo(base: Vehicle, systemMs: number, floorMs: number | undefined, extra: Partial<TrustedRepositoryOptions> = {}): TrustedRepository {
    const clock = new FakeClock(systemMs);
    const trustedTime = new TrustedTime({ clock });
    if (floorMs !== undefined) trustedTime.restore({ version: 1, utcMs: floorMs, source: 'gnss' });
    return new TrustedRepository({ name: 'image', stateDir: base.stateDir, source: base.image.dir, clock, trustedTime, ...extra });
  }

  it('a system clock behind the trusted time is refused (OTA_CLOCK) before anything is fetched; within the tolerance it is fine', async () => {
    v = await vehicle();
    const before = folderDigest(v.stateDir);
    const setBack = clockedRepo(v, realNow - 30 * DAY, realNow);
    const err = await rejection(setBack.refresh());
    expect(err.code).toBe('OTA_CLOCK');
    expect(err.details['floorMs']).toBe(realNow);
    expect(thrown(() => setBack.loadTrusted()).code).toBe('OTA_CLOCK');
    expect(folderDigest(v.stateDir)).toEqual(before);
    await clockedRepo(v, realNow - 2000, realNow).refresh();
    await clockedRepo(v, realNow, undefined).refresh();
  });

  it('a reference time (--now) behind the trusted time, or not a date: OTA_CLOCK', async () => {
    v = await vehicle();
    const repo = clockedRepo(v, realNow, realNow);
    expect((await rejection(repo.refresh({ now: new Date(realNow - DAY) }))).code).toBe('OTA_CLOCK');
    expect((await rejection(repo.refresh({ now: new Date('garbage') }))).code).toBe('OTA_CLOCK');
    await repo.refresh({ now: new Date(realNow + 3600_000) });
  });

  it('the reference time is the trusted floor when the system clock is behind it within the tolerance', async () => {
    v = await vehicle();
    const repo = clockedRepo(v, realNow - 1000, realNow + 2 * DAY, { clockToleranceMs: 3 * DAY });
    // The floor is 2 days ahead: the timestamp (1 day) has expired by it.
    const err = await rejection(repo.refresh());
    expect(err.code).toBe('OTA_EXPIRED');
    expect(err.details['role']).toBe('timestamp');
  });

  it('a system clock set back hides an expired timestamp from tuf-js; the trusted time does not', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(realNow);
    v = await vehicle();
    // The repository's timestamp expired an hour ago, and the board's clock is set back a day.
    v.image.builder.signTimestamp(v.image.keys.timestamp, { expires: new Date(realNow - 3600_000) });
    v.image.builder.write(v.image.dir);
    vi.setSystemTime(realNow - DAY);
    const trustedTime = new TrustedTime({ clock: systemClock() });
    trustedTime.restore({ version: 1, utcMs: realNow, source: 'gnss' });
    const guarded = new TrustedRepository({ name: 'image', stateDir: v.stateDir, source: v.image.dir, trustedTime });
    await expectRefused({ ...v, trusted: { ...v.trusted, image: guarded } }, 'image', 'OTA_CLOCK');
    // Without the trusted time, tuf-js alone accepts the expired timestamp.
    const naive = new TrustedRepository({ name: 'image', stateDir: v.stateDir, source: v.image.dir });
    expect((await naive.refresh()).versions.timestamp).toBe(2);
  });
});

describe("the timestamp's signed issued time", () => {
  const realNow = Math.floor(Date.now() / 1000) * 1000; // TUF dates are whole seconds
  function signIssued(repo: TestRepo, issued: Date | string, expires?: Date): void {
    repo.builder.signTimestamp(repo.keys.timestamp, { ...(typeof issued === 'string' ? {} : { issued }), ...(expires ? { expires } : {}) });
    if (typeof issued === 'string') {
      // A malformed value, signed properly: only a publisher's bug produces this.
      repo.builder.timestamp.signed.unrecognizedFields['issued'] = issued;
      signMetadata(repo.builder.timestamp, repo.keys.timestamp);
    }
    repo.builder.write(repo.dir);
  }

  it('raises the trusted time after a verified refresh; a clock set back below it is refused next time', async () => {
    v = await vehicle();
    const clock = new FakeClock(realNow);
    const trustedTime = new TrustedTime({ clock });
    const repo = new TrustedRepository({ name: 'image', stateDir: v.stateDir, source: v.image.dir, clock, trustedTime });
    // Signed two hours "ahead" of this board's clock: the floor goes to that less the hour of margin.
    signIssued(v.image, new Date(realNow + 2 * 3_600_000));
    const result = await repo.refresh();
    expect(result.issued).toBe(new Date(realNow + 2 * 3_600_000).toISOString().replace('.000Z', 'Z'));
    expect(trustedTime.floor()).toBe(realNow + 2 * 3_600_000 - ISSUED_MARGIN_MS);
    expect(trustedTime.source()).toBe('metadata');
    // The board's clock is now an hour behind the trusted time: not accepted any more.
    // (The floor moves on with the monotonic clock, so waiting does not help: the clock must be set right.)
    expect((await rejection(repo.refresh())).code).toBe('OTA_CLOCK');
  });

  it('a signer whose clock runs a minute fast does not lock the vehicle out (the margin)', async () => {
    v = await vehicle();
    const clock = new FakeClock(realNow);
    const trustedTime = new TrustedTime({ clock });
    const repo = new TrustedRepository({ name: 'image', stateDir: v.stateDir, source: v.image.dir, clock, trustedTime });
    signIssued(v.image, new Date(realNow + 60_000));
    await repo.refresh();
    expect(trustedTime.floor()).toBe(realNow + 60_000 - ISSUED_MARGIN_MS);
    await repo.refresh();
  });

  it('a set stale at its own signing time is refused (OTA_EXPIRED), even on a clock that sees it fresh', async () => {
    v = await vehicle();
    const before = folderDigest(v.stateDir);
    // The snapshot expires in 7 days; a timestamp signed 8 days from now still names it.
    signIssued(v.image, new Date(realNow + 8 * DAY), new Date(realNow + 9 * DAY));
    const err = await rejection(v.trusted.image.refresh());
    expect(err.code).toBe('OTA_EXPIRED');
    expect(err.details['role']).toBe('snapshot');
    expect(folderDigest(v.stateDir)).toEqual(before);
    await expectValidUpdate(v, 5);
  });

  it('an issued field that is not a TUF date is refused (OTA_METADATA); its absence is fine', async () => {
    v = await vehicle();
    signIssued(v.image, 'yesterday');
    expect((await rejection(v.trusted.image.refresh())).code).toBe('OTA_METADATA');
    v.image.republish();
    expect((await v.trusted.image.refresh()).issued).toBeUndefined();
  });
});

describe('timing (reported, not a limit)', () => {
  it('measures a refresh with nothing new and one where every role changed', async () => {
    const repos = vehicleRepos();
    try {
      for (let i = 0; i < 20; i++) repos.image.addTarget(`tcu/extra-${i}.bin`, `extra ${i}`, { hardwareIds: ['tcu-a'], releaseCounter: i });
      repos.image.publish();
      const repo = new TrustedRepository({ name: 'image', stateDir: repos.stateDir, source: repos.image.dir });
      await repo.refresh();
      const unchanged: number[] = [];
      const changed: number[] = [];
      for (let round = 0; round < 5; round++) {
        let t = performance.now();
        expect((await repo.refresh()).changed).toEqual([]);
        unchanged.push(performance.now() - t);
        const r = repos.image;
        r.builder.rotateRoot({}, r.keys.root);
        r.honestPublish(10 + round);
        t = performance.now();
        expect((await repo.refresh()).changed).toEqual(['root.json', 'timestamp.json', 'snapshot.json', 'targets.json']);
        changed.push(performance.now() - t);
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      console.log(JSON.stringify({ name: 'ota.refresh.unchanged', value: Number(median(unchanged).toFixed(1)), unit: 'ms' }));
      console.log(JSON.stringify({ name: 'ota.refresh.all-changed', value: Number(median(changed).toFixed(1)), unit: 'ms' }));
    } finally {
      rmSync(repos.base, { recursive: true, force: true });
    }
  });
});
