import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDbcFile } from '../../drivers/can/dbc/parser.js';

// The bundled programs as separate processes, talking only over the wire formats.
const DBC = 'hw-emulator/dbc/vw_mqb.dbc';
const dir = mkdtempSync(join(tmpdir(), 'tcu-e2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function start(program: string, args: string[]): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [`dist/${program}.mjs`, ...args]);
}

function lines(child: ChildProcessWithoutNullStreams): AsyncIterable<string> {
  return createInterface({ input: child.stdout });
}

function exited(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  return new Promise((resolve) => child.on('close', resolve));
}

describe('emulator and agent, end to end', () => {
  it('the agent watches the emulator over socketcand and sees the vehicle model move', async () => {
    const emulator = start('tcu-emulator', ['--dbc', DBC, '--socketcand', '127.0.0.1:0', '--duration', '8', '--seed', '3']);
    const first = (await lines(emulator)[Symbol.asyncIterator]().next()).value as string;
    const { socketcand } = JSON.parse(first) as { socketcand: { port: number } };
    const agent = start('tcu-agent', [
      'watch', '--dbc', DBC, '--socketcand', `127.0.0.1:${socketcand.port}`, '--bus', 'vcan0', '--json', '--duration', '3',
      '--signals', 'Kombi_02.KBI_Kilometerstand,Motor_07.MO_Kuehlmittel_Temp',
    ]);
    const statuses: { frames: number; decoded: number; unknownIds: number; signals: Record<string, number> }[] = [];
    for await (const line of lines(agent)) statuses.push(JSON.parse(line) as (typeof statuses)[number]);
    expect(await exited(agent)).toBe(0);
    emulator.kill('SIGTERM');
    expect(await exited(emulator)).toBe(0);

    const last = statuses.at(-1)!;
    expect(last.frames).toBeGreaterThan(1000);
    expect(last.unknownIds).toBe(0);
    expect(last.signals['Kombi_02.KBI_Kilometerstand']).toBeGreaterThan(0);
    expect(last.signals['Motor_07.MO_Kuehlmittel_Temp']).toBeGreaterThan(-50);
  });

  it('a candump log written by the emulator decodes completely, at each message cycle time', () => {
    const log = join(dir, 'drive.log');
    const emu = spawnSync(process.execPath, ['dist/tcu-emulator.mjs', '--dbc', DBC, '--candump-out', log, '--duration', '2', '--seed', '5']);
    expect(emu.status, emu.stderr.toString()).toBe(0);
    const decode = spawnSync(process.execPath, ['dist/tcu-agent.mjs', 'decode', '--dbc', DBC, '--log', log], { maxBuffer: 1 << 28 });
    expect(decode.status).toBe(0);
    expect(decode.stderr.toString()).toMatch(/ 0 unknown ids, 0 remote or error frames, 0 malformed lines/);

    const out = decode.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as { ts: number; name: string });
    expect(out.length).toBeGreaterThan(1000);
    const span = out.at(-1)!.ts - out[0]!.ts;
    const db = loadDbcFile(DBC);
    const counts = new Map<string, number>();
    for (const r of out) counts.set(r.name, (counts.get(r.name) ?? 0) + 1);
    // Every message is sent at its cycle time (the DBC's GenMsgCycleTime, else the emulator's 100 ms
    // default): the observed count over the span is within 10 % of it.
    for (const m of db.messages) {
      const expected = (span * 1000) / (m.cycleTimeMs ?? 100);
      expect(counts.get(m.name) ?? 0, m.name).toBeGreaterThan(expected * 0.9 - 1);
      expect(counts.get(m.name) ?? 0, m.name).toBeLessThan(expected * 1.1 + 1);
    }
    expect(readFileSync(log, 'utf8').split('\n')[0]).toMatch(/^\(\d+\.\d{6}\) vcan0 [0-9A-F]{3,8}#/);
  });

  it('flood mode sends as fast as it can, to a log and to a socketcand client, and says what it dropped', async () => {
    const log = join(dir, 'flood.log');
    const emulator = start('tcu-emulator', ['--dbc', DBC, '--candump-out', log, '--socketcand', '127.0.0.1:0', '--flood', '--duration', '2']);
    const first = (await lines(emulator)[Symbol.asyncIterator]().next()).value as string;
    const { socketcand } = JSON.parse(first) as { socketcand: { port: number } };
    const agent = start('tcu-agent', ['watch', '--dbc', DBC, '--socketcand', `127.0.0.1:${socketcand.port}`, '--json', '--duration', '1.5']);
    const statuses: { frames: number; unknownIds: number }[] = [];
    for await (const line of lines(agent)) statuses.push(JSON.parse(line) as (typeof statuses)[number]);
    let summary = '';
    emulator.stderr.on('data', (c: Buffer) => (summary += c.toString()));
    expect(await exited(agent)).toBe(0);
    expect(await exited(emulator)).toBe(0);
    const stopped = JSON.parse(summary.trim().split('\n').at(-1)!) as { frames: number; candump: { written: number; dropped: number }; socketcand: { framesSent: number; framesDropped: number } };
    // Thousands of frames a second at the least (a paced run of this DBC sends about 1,100/s).
    expect(stopped.frames).toBeGreaterThan(20_000);
    expect(stopped.candump.written + stopped.candump.dropped).toBe(stopped.frames);
    expect(statuses.at(-1)!.frames).toBeGreaterThan(5_000);
    expect(statuses.at(-1)!.unknownIds).toBe(0);
    const decode = spawnSync(process.execPath, ['dist/tcu-agent.mjs', 'decode', '--dbc', DBC, '--log', log], { maxBuffer: 1 << 30 });
    expect(decode.stderr.toString()).toMatch(new RegExp(`${stopped.candump.written} frames read, ${stopped.candump.written} decoded, 0 unknown ids, 0 remote or error frames, 0 malformed lines`));
  });

  it('asked for a vcan output on a kernel without CAN, the emulator says what is missing', () => {
    if (existsSync('/sys/module/vcan')) return; // a kernel with vcan: nothing to show here
    const r = spawnSync(process.execPath, ['dist/tcu-emulator.mjs', '--dbc', DBC, '--vcan', 'vcan0', '--duration', '1']);
    expect(r.status).toBe(1);
    expect(r.stderr.toString()).toMatch(/SOCKETCAN_UNAVAILABLE: .*(kernel has no CAN support|does not exist)/);
  });

  it('npm start (the demo) shows decoded signals from the emulator', async () => {
    const demo = start('tcu-emulator', ['demo', '--duration', '2']);
    const statuses: { frames: number; signals: Record<string, number | string> }[] = [];
    for await (const line of lines(demo)) statuses.push(JSON.parse(line) as (typeof statuses)[number]);
    expect(await exited(demo)).toBe(0);
    const last = statuses.at(-1)!;
    expect(last.frames).toBeGreaterThan(500);
    expect(Object.keys(last.signals).length).toBeGreaterThan(5);
  });
});
