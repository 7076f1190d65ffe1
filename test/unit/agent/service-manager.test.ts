import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { createLogger, silentLogger } from '../../../core/logger.js';
import { ServiceManager, type NotifySender } from '../../../agent/runtime/service-manager.js';
import { FakeClock } from '../../helpers/fake-clock.js';

function recorder(): { sent: string[][]; send: NotifySender; hold: () => () => void } {
  const sent: string[][] = [];
  let gate: Promise<void> | undefined;
  return {
    sent,
    send: async (fields) => {
      sent.push([...fields]);
      await gate;
    },
    hold: () => {
      let open!: () => void;
      gate = new Promise((resolve) => (open = resolve));
      return () => {
        gate = undefined;
        open();
      };
    },
  };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ServiceManager', () => {
  it('does nothing without NOTIFY_SOCKET (not started by systemd)', () => {
    expect(ServiceManager.fromEnv({ env: { WATCHDOG_USEC: '1000000' }, pid: 1, clock: new FakeClock(), logger: silentLogger() })).toBeUndefined();
  });

  it('sends READY, then a watchdog ping every half period, then STOPPING and no more pings', async () => {
    const clock = new FakeClock();
    const r = recorder();
    const sm = ServiceManager.fromEnv({ env: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, pid: 42, clock, logger: silentLogger(), send: r.send })!;
    expect(sm.pingEveryMs).toBe(15_000);
    sm.ready('1.2.3');
    await flush();
    expect(r.sent).toEqual([['READY=1', 'STATUS=tcu-agent 1.2.3 running']]);
    clock.advance(14_999);
    await flush();
    expect(r.sent).toHaveLength(1);
    clock.advance(1);
    await flush();
    clock.advance(15_000);
    await flush();
    expect(r.sent.slice(1)).toEqual([['WATCHDOG=1'], ['WATCHDOG=1']]);
    await sm.stopping('signal');
    clock.advance(60_000);
    await flush();
    expect(r.sent.slice(3)).toEqual([['STOPPING=1', 'STATUS=stopping: signal']]);
    expect(sm.counters()).toEqual({ sent: 4, failed: 0, skipped: 0 });
  });

  it('sends no pings when the watchdog is meant for another process (WATCHDOG_PID), but still READY', async () => {
    const clock = new FakeClock();
    const r = recorder();
    const sm = ServiceManager.fromEnv({ env: { NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '2000000', WATCHDOG_PID: '7' }, pid: 8, clock, logger: silentLogger(), send: r.send })!;
    expect(sm.pingEveryMs).toBeUndefined();
    sm.ready('v');
    clock.advance(10_000);
    await flush();
    expect(r.sent.map((f) => f[0])).toEqual(['READY=1']);
  });

  it('does not pile up pings while the manager has not taken the last one', async () => {
    const clock = new FakeClock();
    const r = recorder();
    const sm = ServiceManager.fromEnv({ env: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '2000000' }, pid: 1, clock, logger: silentLogger(), send: r.send })!;
    sm.ready('v');
    await flush();
    const release = r.hold();
    clock.advance(1000); // ping 1 sent, waiting on the manager
    await flush();
    clock.advance(1000); // skipped
    clock.advance(1000); // skipped
    await flush();
    expect(r.sent.filter((f) => f[0] === 'WATCHDOG=1')).toHaveLength(1);
    release();
    await flush();
    clock.advance(1000);
    await flush();
    expect(r.sent.filter((f) => f[0] === 'WATCHDOG=1')).toHaveLength(2);
    expect(sm.counters()).toMatchObject({ skipped: 2 });
  });

  it('logs the first failure with its code, counts the rest, and keeps pinging', async () => {
    const clock = new FakeClock();
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', name: 't', destination: new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(chunk.toString()), done()) }) });
    let calls = 0;
    const sm = ServiceManager.fromEnv({
      env: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '2000000' },
      pid: 1,
      clock,
      logger,
      send: async () => {
        calls++;
        throw new Error('Failed to notify init system: No such file or directory');
      },
    })!;
    sm.ready('v');
    await flush();
    for (let i = 0; i < 3; i++) {
      clock.advance(1000);
      await flush();
    }
    // Pings go on, and READY is tried again (until taken) besides them.
    expect(calls).toBeGreaterThanOrEqual(5);
    expect(sm.counters()).toMatchObject({ sent: 0, failed: calls });
    expect(lines.map((l) => (JSON.parse(l) as { code: string }).code)).toEqual(['SERVICE_NOTIFY_FAILED']);
  });

  it('sends READY again, backing off, until the manager takes it; then no more', async () => {
    const clock = new FakeClock();
    const sent: string[] = [];
    let failures = 2;
    const sm = ServiceManager.fromEnv({
      env: { NOTIFY_SOCKET: '/run/x' },
      pid: 1,
      clock,
      logger: silentLogger(),
      send: async (fields) => {
        sent.push(fields[0]!);
        if (failures-- > 0) throw new Error('Failed to notify init system: Connection refused');
      },
    })!;
    sm.ready('v');
    await flush();
    clock.advance(1000); // second try
    await flush();
    clock.advance(2000); // third try: taken
    await flush();
    clock.advance(60_000);
    await flush();
    expect(sent).toEqual(['READY=1', 'READY=1', 'READY=1']);
    expect(sm.counters()).toEqual({ sent: 1, failed: 2, skipped: 0 });
  });
});
