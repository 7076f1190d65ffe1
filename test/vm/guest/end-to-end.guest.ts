import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileDbc } from '../../../drivers/can/dbc/codec.js';
import { loadDbcFile } from '../../../drivers/can/dbc/parser.js';
import { Candump, addVcan, allFrameReceivers, linkStats, removeLink, waitFor } from './peers.js';

// The bundled programs as separate processes on one kernel interface: the emulator's SocketCAN
// writer (tcu-emulator --vcan vcan0) and the agent's SocketCAN reader (tcu-agent watch --socketcan
// vcan0), with candump recording the same wire. What the agent decoded is checked against the
// kernel's count of frames and against candump's copy decoded with the same DBC.
const IFACE = 'vcan0';
const DBC = 'hw-emulator/dbc/vw_mqb.dbc';
const SIGNALS = ['ESP_21.ESP_v_Signal', 'Motor_12.MO_Drehzahl_01', 'Kombi_02.KBI_Kilometerstand', 'Kombi_02.KBI_Inhalt_Tank', 'Motor_07.MO_Kuehlmittel_Temp', 'Klemmen_Status_01.ZAS_Kl_15'];
/** Plausible ranges: what a car reports, tighter than the DBC's. */
const SANE: Record<string, [number, number]> = {
  'ESP_21.ESP_v_Signal': [0, 250],
  'Motor_12.MO_Drehzahl_01': [0, 7000],
  'Kombi_02.KBI_Kilometerstand': [1, 1_000_000],
  'Kombi_02.KBI_Inhalt_Tank': [0, 100],
  'Motor_07.MO_Kuehlmittel_Temp': [-40, 130],
  'Klemmen_Status_01.ZAS_Kl_15': [0, 1],
};
const RMEM = '/proc/sys/net/core/rmem_default';
let rmemBefore = '';

beforeAll(async () => {
  for (const program of ['dist/tcu-agent.mjs', 'dist/tcu-emulator.mjs']) {
    if (!existsSync(program)) throw new Error(`${program} is missing: run "npm run build" first (npm test does)`);
  }
  // 8 MiB receive buffers for the sockets made from here on: a process stalled for a moment
  // (emulation is slow, the host is shared) loses nothing, so every count below is exact.
  rmemBefore = readFileSync(RMEM, 'utf8');
  writeFileSync(RMEM, String(8 << 20));
  await addVcan(IFACE);
});
afterAll(async () => {
  if (rmemBefore) writeFileSync(RMEM, rmemBefore);
  await removeLink(IFACE);
});

function start(program: string, args: string[]): { child: ChildProcess; stdout: string[]; stderr: { text: string }; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [`dist/${program}.mjs`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  const stderr = { text: '' };
  createInterface({ input: child.stdout! }).on('line', (line) => stdout.push(line));
  child.stderr!.on('data', (c: Buffer) => (stderr.text += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, stdout, stderr, exited };
}

describe('emulator and agent on one vcan interface', () => {
  it('every frame the emulator wrote reaches the agent, and its decoded signals match the wire', async (ctx) => {
    const dump = await Candump.start(IFACE);
    const before = linkStats(IFACE);
    const agent = start('tcu-agent', ['watch', '--dbc', DBC, '--socketcan', IFACE, '--json', '--signals', SIGNALS.join(',')]);
    // The agent's socket is bound once a second receiver of all frames shows up next to candump's.
    await waitFor('the agent to bind vcan0', () => allFrameReceivers(IFACE).length === 2, 60_000);
    const emulator = start('tcu-emulator', ['--dbc', DBC, '--vcan', IFACE, '--duration', '4', '--seed', '3']);
    expect(await emulator.exited, emulator.stderr.text).toBe(0);
    const summary = JSON.parse(emulator.stderr.text.trim().split('\n').at(-1)!) as { frames: number; vcanSendFailed: number };
    const wire = linkStats(IFACE).txPackets - before.txPackets;
    await dump.waitFrames(wire, 30_000);
    // The agent has had every frame once its count stops short of nothing; then stop it.
    await waitFor('the agent to report every frame', () => {
      const last = agent.stdout.at(-1);
      return last !== undefined && (JSON.parse(last) as { frames: number }).frames >= wire;
    }, 30_000);
    agent.child.kill('SIGTERM');
    expect(await agent.exited, agent.stderr.text).toBe(0);
    await dump.stop();

    expect(summary.vcanSendFailed).toBe(0);
    expect(summary.frames).toBeGreaterThan(1000);
    expect(wire, 'tx_packets of vcan0: every frame the emulator wrote').toBe(summary.frames);
    expect(dump.frames).toHaveLength(wire);
    const status = JSON.parse(agent.stdout.at(-1)!) as { frames: number; decoded: number; unknownIds: number; signals: Record<string, number> };
    expect({ frames: status.frames, decoded: status.decoded, unknownIds: status.unknownIds }).toEqual({ frames: wire, decoded: wire, unknownIds: 0 });
    expect(agent.stderr.text).toMatch(new RegExp(`watch: ${wire} frames, ${wire} decoded, 0 unknown ids`));

    // candump's copy, decoded with the same DBC: the agent's last value of each signal is the value
    // in the last frame of its message on the wire.
    const codec = compileDbc(loadDbcFile(DBC));
    const lastOnWire: Record<string, number> = {};
    for (const frame of dump.frames) {
      const message = codec.get(frame.id, frame.ext);
      expect(message, `id 0x${frame.id.toString(16)} is in the DBC`).toBeDefined();
      for (const [name, value] of Object.entries(message!.decode(frame.data))) lastOnWire[`${message!.message.name}.${name}`] = value;
    }
    for (const key of SIGNALS) {
      expect(status.signals[key], key).toBe(lastOnWire[key]);
      const [lo, hi] = SANE[key]!;
      expect(status.signals[key], key).toBeGreaterThanOrEqual(lo);
      expect(status.signals[key], key).toBeLessThanOrEqual(hi);
    }
    ctx.task.meta.guest = { frames: wire, signals: status.signals };
  }, 240_000); // two bundled programs starting under emulation: about 40 s on an idle 2-core host
});
