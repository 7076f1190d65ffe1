import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatCandumpLine, parseCandumpLine } from '../../drivers/can/candump/format.js';
import { bytesToHex, formatId } from '../../drivers/can/frame.js';
import { canFrameArb } from '../helpers/arbitraries.js';
import { hasProgram } from '../helpers/system.js';

// can-utils is the independent peer: its log2long reads our candump lines with can-utils' own
// parser (lib.c parse_canframe) and prints them in its long form, which we check field by field.
// Remote frames without a length and FD frames without ESI, as this test has always drawn them.
const frameArb = canFrameArb({ bus: fc.constantFrom('can0', 'vcan1', 'can10'), remoteLength: false, esi: false });

describe.runIf(hasProgram('log2long', 'can-utils'))('candump lines and can-utils', () => {
  it('log2long reads every line we write as the same frame', () => {
    const frames = fc.sample(frameArb, { numRuns: 400, seed: 42 });
    const input = frames.map(formatCandumpLine).join('\n') + '\n';
    const output = execFileSync('log2long', { input }).toString().trimEnd().split('\n');
    expect(output).toHaveLength(frames.length);
    frames.forEach((f, i) => {
      const fields = output[i]!.trim().split(/\s+/);
      const [ts, bus, id, len] = fields;
      // log2long pads the seconds with zeros; compare the time as an exact number of microseconds.
      const [sec, usec] = ts!.slice(1, -1).split('.');
      expect(Number(sec) * 1e6 + Number(usec)).toBe(f.ts);
      expect(bus).toBe(f.bus);
      expect(id).toBe(formatId(f.id, f.ext));
      if (f.rtr) {
        expect(output[i]).toMatch(/remote request/);
        return;
      }
      expect(len).toBe(f.fd ? `[${String(f.data.length).padStart(2, '0')}]` : `[${f.data.length}]`);
      const hex = fields.slice(4, 4 + f.data.length).join('');
      expect(hex).toBe(bytesToHex(f.data));
    });
  });

  it('we read the candump lines can-utils writes (our log, through log2asc and asc2log)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcu-canutils-'));
    try {
      // One bus and increasing times, as a real log has; asc2log stamps the lines with its own start time.
      let ts = 1_600_000_000_000_000;
      const frames = fc.sample(frameArb, { numRuns: 300, seed: 9 }).map((f) => ({ ...f, bus: 'can0', ts: (ts += 1 + (f.ts % 5000)) }));
      writeFileSync(join(dir, 'ours.log'), frames.map(formatCandumpLine).join('\n') + '\n');
      const asc = execFileSync('log2asc', ['-I', join(dir, 'ours.log'), 'can0'], { stdio: ['ignore', 'pipe', 'ignore'] });
      writeFileSync(join(dir, 'theirs.asc'), asc);
      const lines = execFileSync('asc2log', ['-I', join(dir, 'theirs.asc')], { stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trimEnd()
        .split('\n');
      const parsed = lines.map(parseCandumpLine);
      expect(parsed).toHaveLength(frames.length);
      parsed.forEach((p, i) => {
        const f = frames[i]!;
        expect({ id: p.id, ext: p.ext, fd: p.fd, brs: p.brs, rtr: p.rtr, data: p.data }).toEqual({ id: f.id, ext: f.ext, fd: f.fd, brs: f.brs, rtr: f.rtr, data: f.data });
        expect(p.ts - parsed[0]!.ts).toBe(f.ts - frames[0]!.ts);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('our parser reads back what we wrote, for the same sample', () => {
    for (const f of fc.sample(frameArb, { numRuns: 400, seed: 7 })) {
      expect(parseCandumpLine(formatCandumpLine(f))).toEqual(f);
    }
  });
});
