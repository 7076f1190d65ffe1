import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize, relative, sep } from 'node:path';
import { expect } from 'vitest';
import { TcuError, type ErrorCode } from '../../core/errors.js';
import { Ed25519PrivateKey, RepositoryBuilder, type Signer, type TufRole } from '../../ota/repo/index.js';
import { TrustedRepository, type RefreshOptions, type TrustedRepositoryOptions } from '../../ota/tuf/index.js';
import { resolveUpdate, type UpdateResolution } from '../../ota/uptane.js';

/**
 * Signed TUF repositories for the OTA tests, built with ota/repo (the same code `tcu-ota` uses),
 * served from temporary folders, as files or over a real HTTP server on 127.0.0.1.
 */

export const DAY = 24 * 3600 * 1000;

/** A deterministic Ed25519 key: seed = 32 bytes of `n`. */
export function testKey(n: number): Ed25519PrivateKey {
  return Ed25519PrivateKey.fromSeed(Buffer.alloc(32, n));
}

export type RoleKeys = Record<TufRole, Ed25519PrivateKey[]>;
export type Thresholds = Record<TufRole, number>;

export interface TestRepoOptions {
  /** The folder served. */
  dir: string;
  /** Distinguishes the keys of two repositories (seeds base+1 ...). */
  keyBase: number;
  thresholds?: Partial<Thresholds>;
  /** Time the expiries are counted from. Default: now. */
  nowMs?: number;
}

/** A repository with honest defaults; tests take it apart for each attack. */
export class TestRepo {
  readonly dir: string;
  readonly builder: RepositoryBuilder;
  keys: RoleKeys;
  readonly nowMs: number;

  constructor(options: TestRepoOptions) {
    this.dir = options.dir;
    this.nowMs = options.nowMs ?? Date.now();
    const t: Thresholds = { root: 2, targets: 2, snapshot: 1, timestamp: 1, ...options.thresholds };
    const b = options.keyBase;
    this.keys = {
      root: [testKey(b + 1), testKey(b + 2), testKey(b + 3)].slice(0, Math.max(t.root, 2)),
      targets: [testKey(b + 4), testKey(b + 5), testKey(b + 6)].slice(0, Math.max(t.targets, 2)),
      snapshot: [testKey(b + 7)].concat(t.snapshot > 1 ? [testKey(b + 8)] : []),
      timestamp: [testKey(b + 9)].concat(t.timestamp > 1 ? [testKey(b + 10)] : []),
    };
    const spec = (role: TufRole) => ({ keys: this.keys[role].map((k) => k.publicKey()), threshold: t[role] });
    this.builder = RepositoryBuilder.create({
      roles: { root: spec('root'), targets: spec('targets'), snapshot: spec('snapshot'), timestamp: spec('timestamp') },
      expires: this.expiries(),
    });
    this.builder.signRoot(this.keys.root);
  }

  expiries(): Record<TufRole, Date> {
    return {
      root: new Date(this.nowMs + 365 * DAY),
      targets: new Date(this.nowMs + 90 * DAY),
      snapshot: new Date(this.nowMs + 7 * DAY),
      timestamp: new Date(this.nowMs + 1 * DAY),
    };
  }

  addTarget(name: string, bytes: Uint8Array | string, custom: unknown): void {
    this.builder.addTarget(name, typeof bytes === 'string' ? Buffer.from(bytes) : bytes, custom);
  }

  /** Signs targets (all its keys), snapshot and timestamp, and writes the layout. */
  publish(): void {
    this.builder.signTargets(this.keys.targets);
    this.builder.publish(this.keys.snapshot, this.keys.timestamp);
    this.builder.write(this.dir);
  }

  /**
   * An honest release: targets, snapshot and timestamp signed by their keys at `version` (above
   * anything published before), with fresh expiries, written.
   */
  honestPublish(version: number): void {
    const e = this.expiries();
    this.builder.signTargets(this.keys.targets, { version, expires: e.targets });
    this.builder.signSnapshot(this.keys.snapshot, { version, expires: e.snapshot });
    this.builder.signTimestamp(this.keys.timestamp, { version, expires: e.timestamp });
    this.builder.write(this.dir);
  }

  /** Re-signs snapshot and timestamp only, and writes. */
  republish(): void {
    this.builder.publish(this.keys.snapshot, this.keys.timestamp);
    this.builder.write(this.dir);
  }

  /** Served metadata file bytes (to replay them later). */
  file(name: string): Buffer {
    return readFileSync(join(this.dir, name));
  }

  put(name: string, bytes: Uint8Array): void {
    writeFileSync(join(this.dir, name), bytes);
  }

  remove(name: string): void {
    rmSync(join(this.dir, name), { force: true });
  }
}

/** A signer that claims another key id (the same key counted twice). */
export function aliasSigner(key: Ed25519PrivateKey, keyId: string): Signer {
  return { keyId, sign: (data) => key.sign(data) };
}

export interface VehicleRepos {
  base: string;
  stateDir: string;
  image: TestRepo;
  director: TestRepo;
}

/**
 * An image repository (offline root and targets keys, thresholds of 2) and a director (root 2,
 * online targets key), each with `name` for hardware `hw`, and a state folder holding both roots
 * as the integrator puts them there.
 */
export function vehicleRepos(options: { name?: string; hw?: string; bytes?: string; releaseCounter?: number; nowMs?: number } = {}): VehicleRepos {
  const base = mkdtempSync(join(tmpdir(), 'ota-repos-'));
  const name = options.name ?? 'tcu/app-1.0.tar';
  const hw = options.hw ?? 'tcu-a';
  const bytes = options.bytes ?? 'application image 1.0';
  const image = new TestRepo({ dir: join(base, 'image'), keyBase: 10, nowMs: options.nowMs });
  const director = new TestRepo({ dir: join(base, 'director'), keyBase: 30, thresholds: { targets: 1 }, nowMs: options.nowMs });
  image.addTarget(name, bytes, { hardwareIds: [hw], version: '1.0', releaseCounter: options.releaseCounter ?? 1, rxswin: ['R156-X1'] });
  director.addTarget(name, bytes, { hardwareIds: [hw], preconditions: { minSocPercent: 40 } });
  image.publish();
  director.publish();
  const stateDir = join(base, 'state');
  for (const repo of [image, director]) {
    const d = join(stateDir, repo === image ? 'image' : 'director');
    mkdirSync(d, { recursive: true });
    copyFileSync(join(repo.dir, 'root.json'), join(d, 'root.json'));
  }
  return { base, stateDir, image, director };
}

/** Every file under `dir` (relative path → sha256), to assert a folder did not change. */
export function folderDigest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const entry of readdirSync(d)) {
      const p = join(d, entry);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

export type Intercept = (path: string, req: http.IncomingMessage, res: http.ServerResponse) => boolean;

export interface StaticServer {
  url: string;
  /** Paths requested, in order. */
  requests: string[];
  /** Set to take over a request (fault injection); return true when handled. */
  intercept: Intercept | undefined;
  close(): Promise<void>;
}

/** A static file server for `dir` on 127.0.0.1:0 (node:http), with a fault-injection hook. */
export async function serveFolder(dir: string): Promise<StaticServer> {
  const state: StaticServer = {
    url: '',
    requests: [],
    intercept: undefined,
    close: () => Promise.resolve(),
  };
  const server = http.createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    state.requests.push(path);
    if (state.intercept?.(path, req, res)) return;
    const file = normalize(join(dir, path));
    if (!file.startsWith(dir + sep)) {
      res.writeHead(403).end();
      return;
    }
    let body: Buffer;
    try {
      body = readFileSync(file);
    } catch {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  state.url = `http://127.0.0.1:${port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

export type RepoName = 'image' | 'director';

export interface Vehicle extends VehicleRepos {
  server: StaticServer | undefined;
  trusted: Record<RepoName, TrustedRepository>;
  /** Where each repository is served from (a folder or an http URL). */
  source: Record<RepoName, string>;
  repo(name: RepoName): TestRepo;
  close(): Promise<void>;
}

/**
 * `vehicleRepos` with a TrustedRepository for each (served as files, or over HTTP), both refreshed
 * once: the trusted state every attack starts from.
 */
export async function vehicle(options: { transport?: 'file' | 'http'; repo?: Partial<TrustedRepositoryOptions>; initialRefresh?: boolean } = {}): Promise<Vehicle> {
  const v = vehicleRepos();
  const server = options.transport === 'http' ? await serveFolder(v.base) : undefined;
  const source = { image: server ? `${server.url}/image` : v.image.dir, director: server ? `${server.url}/director` : v.director.dir };
  const make = (name: RepoName): TrustedRepository => new TrustedRepository({ name, stateDir: v.stateDir, source: source[name], ...options.repo });
  const trusted = { image: make('image'), director: make('director') };
  if (options.initialRefresh !== false) {
    await trusted.image.refresh();
    await trusted.director.refresh();
  }
  return {
    ...v,
    server,
    trusted,
    source,
    repo: (name) => (name === 'image' ? v.image : v.director),
    close: async () => {
      await server?.close();
      rmSync(v.base, { recursive: true, force: true });
    },
  };
}

/** The TcuError a promise rejects with (fails the test when it resolves). */
export async function rejection(p: Promise<unknown>): Promise<TcuError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a refusal').toBeInstanceOf(TcuError);
  return err as TcuError;
}

/** Refreshing `name` is refused with `code`, and nothing in the state folder changed. */
export async function expectRefused(v: Vehicle, name: RepoName, code: ErrorCode, options?: RefreshOptions): Promise<TcuError> {
  const before = folderDigest(v.stateDir);
  const err = await rejection(v.trusted[name].refresh(options));
  expect(err.code, err.message).toBe(code);
  expect(folderDigest(v.stateDir)).toEqual(before);
  return err;
}

/** Both repositories publish an honest release at `version`; both refresh; the update resolves. */
export async function expectValidUpdate(v: Vehicle, version: number, options?: RefreshOptions): Promise<UpdateResolution> {
  v.image.honestPublish(version);
  v.director.honestPublish(version);
  const image = await v.trusted.image.refresh(options);
  const director = await v.trusted.director.refresh(options);
  expect(image.versions.timestamp).toBe(version);
  expect(director.versions.timestamp).toBe(version);
  const resolution = resolveUpdate({ director, image, hardwareId: 'tcu-a' });
  expect(resolution.kind).toBe('update');
  return resolution;
}
