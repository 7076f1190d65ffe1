import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINE_DBC, ENGINE_LOG, candumpBus, writeAgentConfig } from '../helpers/agent-config.js';
import { NotifySocket } from '../helpers/notify-socket.js';
import { hasProgram } from '../helpers/system.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// The bundled agent under a stand-in for systemd: the real systemd-notify program delivers READY,
// WATCHDOG and STOPPING to a real Unix datagram socket, as in a unit with Type=notify and WatchdogSec.
describe.runIf(hasProgram('systemd-notify', 'systemd') && hasProgram('python3', 'python3-minimal'))('tcu-agent run under a service manager', () => {
  let dir: string;
  let socket: NotifySocket;
  let agent: ChildProcess;
  let exited: Promise<number | null>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tcu-notify-'));
    socket = await NotifySocket.start(join(dir, 'notify.sock'));
    const config = writeAgentConfig(join(dir, 'agent.json'), {
      buses: [candumpBus({ path: ENGINE_LOG, dbc: ENGINE_DBC, loop: true })],
      outbox: join(dir, 'outbox.db'),
      // No broker: the watchdog does not depend on the uplink.
      uplink: 'mqtt://127.0.0.1:1',
      logging: { level: 'warn' },
    });
    // The watchdog period systemd would pass for WatchdogSec=0.4s: a ping every 200 ms.
    agent = spawn(process.execPath, ['dist/tcu-agent.mjs', 'run', '--config', config], {
      env: { ...process.env, NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: '400000' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    exited = new Promise((resolve) => agent.once('exit', (code) => resolve(code)));
  });

  afterAll(() => {
    agent?.kill('SIGKILL');
    socket?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports READY once running, then pings the watchdog at half its period', async () => {
    await socket.waitFor('READY=1', 10_000);
    const before = socket.with('WATCHDOG=1').length;
    await sleep(1500);
    // Nominally 7; a loaded machine delays some.
    expect(socket.with('WATCHDOG=1').length - before).toBeGreaterThanOrEqual(3);
  });

  it('stops pinging while its event loop does not turn (frozen with SIGSTOP), and resumes after', async () => {
    agent.kill('SIGSTOP');
    await sleep(100); // a ping already handed to systemd-notify may still arrive
    const frozen = socket.with('WATCHDOG=1').length;
    await sleep(1200);
    expect(socket.with('WATCHDOG=1').length).toBe(frozen);
    agent.kill('SIGCONT');
    await sleep(1200);
    expect(socket.with('WATCHDOG=1').length).toBeGreaterThan(frozen);
  });

  it('reports STOPPING on SIGTERM and exits cleanly', async () => {
    agent.kill('SIGTERM');
    expect(await exited).toBe(0);
    const stopping = await socket.waitFor('STOPPING=1', 1000);
    expect(stopping.fields).toContain('STATUS=stopping: signal');
    expect(socket.with('WATCHDOG=1').every((m) => m.t <= stopping.t)).toBe(true);
  });
});
