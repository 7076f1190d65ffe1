import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import { HttpFetcher, LocalFetcher, TrustedRepository } from '../../../ota/tuf/index.js';
import { expectRefused, expectValidUpdate, rejection, vehicle, type Vehicle } from '../../helpers/ota-repos.js';

/** Fetchers, endless data, slow retrieval and interrupted refreshes, over files and real HTTP. */

let v: Vehicle | undefined;
const servers: http.Server[] = [];
afterEach(async () => {
  await v?.close();
  v = undefined;
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function rawServer(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function bytesOf(p: Promise<Buffer>): Promise<string> {
  return (await p).toString();
}

describe('LocalFetcher', () => {
  it('serves files of its folder, given as a path or a file:// URL; a missing file is a 404', async () => {
    v = await vehicle({ initialRefresh: false });
    const byPath = new LocalFetcher(v.image.dir);
    const byUrl = new LocalFetcher(pathToFileURL(v.image.dir).href);
    expect(byPath.baseUrl).toBe(byUrl.baseUrl);
    expect(await bytesOf(byPath.downloadBytes(`${byPath.baseUrl}targets/tcu/app-1.0.tar`, 1000))).toBe('application image 1.0');
    const missing = await byPath.downloadBytes(`${byPath.baseUrl}nothing.json`, 1000).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(DownloadHTTPError);
    expect((missing as DownloadHTTPError).statusCode).toBe(404);
  });

  it('refuses a URL or a symbolic link that leads outside the folder (OTA_FETCH)', async () => {
    v = await vehicle({ initialRefresh: false });
    const f = new LocalFetcher(v.image.dir);
    writeFileSync(join(v.base, 'secret.json'), '{}');
    symlinkSync(join(v.base, 'secret.json'), join(v.image.dir, 'link.json'));
    for (const url of [`${f.baseUrl}../secret.json`, `${f.baseUrl}link.json`, `${pathToFileURL(v.base).href}/secret.json`]) {
      const err = await rejection(f.downloadBytes(url, 1000));
      expect(err.code).toBe('OTA_FETCH');
    }
  });

  it('stops at the length limit and reports OTA_ENDLESS_DATA (a 100 kB timestamp.json)', async () => {
    v = await vehicle();
    const padded = Buffer.concat([v.image.file('timestamp.json'), Buffer.alloc(100_000, 0x20)]);
    v.image.put('timestamp.json', padded);
    await expectRefused(v, 'image', 'OTA_ENDLESS_DATA');
    await expectValidUpdate(v, 10);
  });

  it('a snapshot longer than the length its timestamp gives: OTA_ENDLESS_DATA', async () => {
    v = await vehicle();
    v.image.honestPublish(2);
    v.image.put('snapshot.json', Buffer.concat([v.image.file('snapshot.json'), Buffer.from('    ')]));
    await expectRefused(v, 'image', 'OTA_ENDLESS_DATA');
    await expectValidUpdate(v, 10);
  });

  it('a file missing half-way through a refresh (snapshot.json): OTA_FETCH, nothing committed', async () => {
    v = await vehicle();
    v.director.honestPublish(2);
    v.director.remove('snapshot.json');
    const err = await expectRefused(v, 'director', 'OTA_FETCH');
    expect(err.details['status']).toBe(404);
    await expectValidUpdate(v, 10);
  });
});

describe('HttpFetcher and refreshes over HTTP', () => {
  it('an HTTP 500 on timestamp.json: OTA_FETCH with the status', async () => {
    v = await vehicle({ transport: 'http' });
    v.server!.intercept = (path, _req, res) => {
      if (path !== '/image/timestamp.json') return false;
      res.writeHead(500).end();
      return true;
    };
    const err = await expectRefused(v, 'image', 'OTA_FETCH');
    expect(err.details['status']).toBe(500);
    v.server!.intercept = undefined;
    await expectValidUpdate(v, 10);
  });

  it('the connection dropped in the middle of snapshot.json: OTA_FETCH, the trusted folder untouched', async () => {
    v = await vehicle({ transport: 'http' });
    v.image.honestPublish(2);
    const snapshot = v.image.file('snapshot.json');
    v.server!.intercept = (path, _req, res) => {
      if (path !== '/image/snapshot.json') return false;
      res.writeHead(200, { 'content-length': snapshot.length });
      res.write(snapshot.subarray(0, 100), () => res.destroy());
      return true;
    };
    await expectRefused(v, 'image', 'OTA_FETCH');
    v.server!.intercept = undefined;
    await expectValidUpdate(v, 10);
  });

  it('an endless timestamp.json: cut at the limit (OTA_ENDLESS_DATA) and the connection closed', async () => {
    v = await vehicle({ transport: 'http' });
    let closed: Promise<void> = Promise.resolve();
    v.server!.intercept = (path, _req, res) => {
      if (path !== '/image/timestamp.json') return false;
      closed = new Promise((resolve) => res.on('close', () => resolve()));
      res.writeHead(200);
      const chunk = Buffer.alloc(4096, 0x20);
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
      return true;
    };
    await expectRefused(v, 'image', 'OTA_ENDLESS_DATA');
    await closed;
    v.server!.intercept = undefined;
    await expectValidUpdate(v, 10);
  });

  it('a server that stops sending: OTA_SLOW_RETRIEVAL after the idle timeout', async () => {
    v = await vehicle({ transport: 'http', repo: { http: { timeoutMs: 200 } } });
    v.server!.intercept = (path, _req, res) => {
      if (path !== '/director/timestamp.json') return false;
      res.writeHead(200, { 'content-length': 1000 });
      res.write('{"signed":');
      return true;
    };
    await expectRefused(v, 'director', 'OTA_SLOW_RETRIEVAL');
    v.server!.intercept = undefined;
    await expectValidUpdate(v, 10);
  });

  it('a server that trickles bytes under the idle timeout: OTA_SLOW_RETRIEVAL at the deadline', async () => {
    const url = await rawServer((_req, res) => {
      res.writeHead(200);
      const timer = setInterval(() => res.write(' '), 20);
      res.on('close', () => clearInterval(timer));
    });
    const f = new HttpFetcher({ timeoutMs: 1000, deadlineMs: 300 });
    const started = performance.now();
    const err = await rejection(f.downloadBytes(`${url}/timestamp.json`, 1_000_000));
    expect(err.code).toBe('OTA_SLOW_RETRIEVAL');
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('no server listening: OTA_FETCH', async () => {
    const url = await rawServer(() => undefined);
    const port = new URL(url).port;
    const s = servers.pop()!;
    await new Promise((r) => s.close(r));
    const err = await rejection(new HttpFetcher({ timeoutMs: 1000 }).downloadBytes(`http://127.0.0.1:${port}/timestamp.json`, 1000));
    expect(err.code).toBe('OTA_FETCH');
  });

  it('follows a redirect; a 404 is DownloadHTTPError (how tuf-js ends the root walk)', async () => {
    const url = await rawServer((req, res) => {
      if (req.url === '/old/timestamp.json') res.writeHead(302, { location: '/new/timestamp.json' }).end();
      else if (req.url === '/new/timestamp.json') res.writeHead(200).end('{"ok":true}');
      else res.writeHead(404).end();
    });
    const f = new HttpFetcher();
    expect(await bytesOf(f.downloadBytes(`${url}/old/timestamp.json`, 100))).toBe('{"ok":true}');
    const missing = await f.downloadBytes(`${url}/2.root.json`, 100).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(DownloadHTTPError);
    expect((missing as DownloadHTTPError).statusCode).toBe(404);
  });

  it('an unsupported protocol or a bad URL: OTA_FETCH', async () => {
    const f = new HttpFetcher();
    expect((await rejection(f.downloadBytes('ftp://127.0.0.1/x', 10))).code).toBe('OTA_FETCH');
    expect((await rejection(f.downloadBytes('not a url', 10))).code).toBe('OTA_FETCH');
  });

  it('the image repository from a folder and the director over HTTP, together', async () => {
    v = await vehicle({ transport: 'http' });
    const mixedState = join(v.base, 'mixed');
    mkdirSync(join(mixedState, 'image'), { recursive: true });
    mkdirSync(join(mixedState, 'director'), { recursive: true });
    writeFileSync(join(mixedState, 'image', 'root.json'), v.image.file('1.root.json'));
    writeFileSync(join(mixedState, 'director', 'root.json'), v.director.file('1.root.json'));
    const image = await new TrustedRepository({ name: 'image', stateDir: mixedState, source: v.image.dir }).refresh();
    const director = await new TrustedRepository({ name: 'director', stateDir: mixedState, source: v.source.director }).refresh();
    expect([...image.targets.keys()]).toEqual(['tcu/app-1.0.tar']);
    expect([...director.targets.keys()]).toEqual(['tcu/app-1.0.tar']);
  });
});

