/**
 * A real Mosquitto broker for tests and benchmarks: started on a free loopback port with a
 * generated configuration in a temporary folder (persistence off), ready once it accepts TCP
 * connections; `stop()`, `kill()` and `restart()` on the same port, for outages.
 *
 * Debian installs the broker as /usr/sbin/mosquitto, which is not on every user's PATH, so
 * `hasMosquitto()` looks there (and in /usr/local/sbin) before falling back to `hasProgram`, which
 * keeps the convention: skip with a message naming the program, fail with TCU_REQUIRE_SYSTEM_TESTS=1.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasProgram } from './system.js';

const HOST = '127.0.0.1';
const SBIN = ['/usr/sbin', '/usr/local/sbin'];

function which(program: string): string | undefined {
  for (const dir of SBIN) if (existsSync(join(dir, program))) return join(dir, program);
  try {
    return execFileSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The mosquitto binary, or undefined (no message: for benchmarks, which say so themselves). */
export function findMosquitto(): string | undefined {
  return which('mosquitto');
}

/** True when a mosquitto binary exists; otherwise skips (or fails in CI) through `hasProgram`. */
export function hasMosquitto(): boolean {
  return which('mosquitto') !== undefined || hasProgram('mosquitto');
}

/** mosquitto_passwd (package mosquitto) makes password files; tests needing one check this too. */
export function hasMosquittoPasswd(): boolean {
  return which('mosquitto_passwd') !== undefined || hasProgram('mosquitto_passwd', 'mosquitto');
}

export function hasOpenssl(): boolean {
  return which('openssl') !== undefined || hasProgram('openssl');
}

export interface MosquittoTls {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Clients must present a certificate signed by the CA. */
  requireCertificate?: boolean;
}

export interface MosquittoOptions {
  /** user → password; set: a password file (made with mosquitto_passwd -b) and no anonymous access. */
  users?: Record<string, string>;
  tls?: MosquittoTls;
  /** More configuration lines. */
  extra?: string[];
  /** Listen on this port (e.g. one a client has been failing to reach). Default: a free one. */
  port?: number;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, HOST, () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export class Mosquitto {
  readonly host = HOST;
  private child: ChildProcess | undefined;
  private output = '';
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    private readonly binary: string,
    public port: number,
    private readonly options: MosquittoOptions,
  ) {}

  /** Starts a broker on a free port (another port if the chosen one is taken meanwhile). */
  static async start(options: MosquittoOptions = {}): Promise<Mosquitto> {
    const binary = which('mosquitto');
    if (binary === undefined) throw new Error('mosquitto is not installed (Debian package mosquitto)');
    const dir = mkdtempSync(join(tmpdir(), 'tcu-mosquitto-'));
    const broker = new Mosquitto(dir, binary, 0, options);
    for (let attempt = 0; ; attempt++) {
      broker.port = options.port ?? (await freePort());
      broker.writeConfig();
      try {
        await broker.launch();
        return broker;
      } catch (err) {
        if (attempt >= 3 || options.port !== undefined) {
          rmSync(dir, { recursive: true, force: true });
          throw err;
        }
      }
    }
  }

  get url(): string {
    return `${this.options.tls ? 'mqtts' : 'mqtt'}://${HOST}:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** What the broker logged (stderr), for failure messages. */
  log(): string {
    return this.output;
  }

  /** SIGTERM, and waits for the process to exit. */
  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  /** SIGKILL: the broker vanishes without closing anything. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** Starts again on the same port. */
  async restart(): Promise<void> {
    if (this.child !== undefined) await this.stop();
    await this.launch();
  }

  /** Stops the broker and removes its folder. */
  async dispose(): Promise<void> {
    await this.signal('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  private writeConfig(): void {
    const lines = [`listener ${this.port} ${HOST}`, 'persistence false', 'log_dest stderr', 'log_type error', 'log_type warning', 'max_queued_messages 100000', 'max_inflight_messages 0'];
    // As root, mosquitto would switch to the "mosquitto" user, which cannot read our temporary folder.
    if (process.getuid?.() === 0) lines.push('user root');
    const { users, tls } = this.options;
    if (users !== undefined) {
      const file = join(this.dir, 'passwd');
      writeFileSync(file, '', { mode: 0o600 });
      for (const [user, password] of Object.entries(users)) execFileSync(which('mosquitto_passwd') ?? 'mosquitto_passwd', ['-b', file, user, password]);
      lines.push('allow_anonymous false', `password_file ${file}`);
    } else {
      lines.push('allow_anonymous true');
    }
    if (tls !== undefined) {
      lines.push(`cafile ${tls.caFile}`, `certfile ${tls.certFile}`, `keyfile ${tls.keyFile}`, `require_certificate ${tls.requireCertificate ? 'true' : 'false'}`);
    }
    lines.push(...(this.options.extra ?? []));
    writeFileSync(join(this.dir, 'mosquitto.conf'), `${lines.join('\n')}\n`);
  }

  private async launch(): Promise<void> {
    const child = spawn(this.binary, ['-c', join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr?.on('data', (d: Buffer) => {
      this.output = (this.output + d.toString('utf8')).slice(-20_000);
    });
    let exitedEarly = false;
    this.exited = new Promise((resolve) => {
      child.once('exit', () => {
        exitedEarly = true;
        if (this.child === child) this.child = undefined;
        resolve();
      });
    });
    const deadline = performance.now() + 10_000;
    while (!(await accepts(this.port))) {
      if (exitedEarly) throw new Error(`mosquitto exited at start on port ${this.port}: ${this.output}`);
      if (performance.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`mosquitto did not accept connections on port ${this.port} within 10 s: ${this.output}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * A TCP proxy in front of a broker, to cut a client's connection the way a network does: `dropAll()`
 * destroys every connection (the broker sees the client vanish: its will is published),
 * `block()` refuses new connections, `holdReplies()` stops forwarding the broker's bytes (PUBACKs
 * never arrive) until the connections are dropped.
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private blocked = false;
  private holding = false;
  connections = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    const ref: { proxy?: TcpProxy } = {};
    const server = createServer((client) => ref.proxy!.accept(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, HOST, () => resolve()));
    ref.proxy = new TcpProxy(server, (server.address() as AddressInfo).port);
    return ref.proxy;
  }

  get url(): string {
    return `mqtt://${HOST}:${this.port}`;
  }

  block(): void {
    this.blocked = true;
  }

  unblock(): void {
    this.blocked = false;
    this.holding = false;
  }

  holdReplies(): void {
    this.holding = true;
  }

  dropAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.holding = false;
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, targetPort: number): void {
    client.on('error', () => undefined);
    if (this.blocked) {
      client.destroy();
      return;
    }
    this.connections++;
    const upstream = connect({ host: HOST, port: targetPort });
    upstream.on('error', () => undefined);
    this.sockets.add(client);
    this.sockets.add(upstream);
    client.on('data', (d: Buffer) => upstream.write(d));
    upstream.on('data', (d: Buffer) => {
      if (!this.holding) client.write(d);
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('close', end);
    upstream.on('close', end);
  }
}

/** A test CA, a broker certificate for 127.0.0.1 and localhost, and a client certificate, made with openssl. */
export interface TestCertificates {
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
}

export function makeCertificates(dir: string): TestCertificates {
  const f = (name: string): string => join(dir, name);
  const run = (args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'ignore', cwd: dir });
  };
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...key, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=tcu-test-ca']);
  writeFileSync(f('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  for (const who of ['server', 'client']) {
    run(['req', ...key, '-keyout', f(`${who}.key`), '-out', f(`${who}.csr`), '-subj', `/CN=tcu-test-${who}`]);
    const ext = who === 'server' ? ['-extfile', f('server.ext')] : [];
    run(['x509', '-req', '-in', f(`${who}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${who}.crt`), '-days', '2', ...ext]);
  }
  return { caFile: f('ca.crt'), serverCertFile: f('server.crt'), serverKeyFile: f('server.key'), clientCertFile: f('client.crt'), clientKeyFile: f('client.key') };
}
