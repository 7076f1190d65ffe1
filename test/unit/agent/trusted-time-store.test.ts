import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TRUSTED_TIME_FILE, TrustedTimeStore, trustedClock } from '../../../agent/runtime/trusted-time.js';
import { writeFileAtomic } from '../../../core/atomic-file.js';
import type { TcuError } from '../../../core/errors.js';
import { FakeClock } from '../../helpers/fake-clock.js';

const JAN_2026 = Date.UTC(2026, 0, 1);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tcu-trusted-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the trusted time across a power cut', () => {
  it('keeps the floor in a file in the state folder, so a board whose clock reset starts from it', () => {
    const before = new FakeClock(JAN_2026 - 86_400_000); // the board's clock is a day behind
    const first = new TrustedTimeStore(dir, before, () => undefined);
    expect(first.time.observe('gnss', JAN_2026)).toMatchObject({ accepted: true });
    const stamps = trustedClock(before, first.time);
    expect(stamps.now()).toBe(JAN_2026);
    before.advance(5000);
    expect(stamps.now()).toBe(JAN_2026 + 5000); // carried on the monotonic clock
    first.save();
    expect(JSON.parse(readFileSync(join(dir, TRUSTED_TIME_FILE), 'utf8'))).toMatchObject({ version: 1, utcMs: JAN_2026 + 5000, source: 'gnss' });

    const afterCut = new FakeClock(0); // 1970: the real-time clock lost its power
    const second = new TrustedTimeStore(dir, afterCut, () => undefined);
    expect(trustedClock(afterCut, second.time).now()).toBe(JAN_2026 + 5000);
    expect(second.time.isTrusted()).toBe(false); // restored, not observed this run
    // A source behind the floor is refused; the clock never goes back.
    expect(second.time.observe('gnss', JAN_2026 - 3_600_000)).toMatchObject({ accepted: false });
    expect(trustedClock(afterCut, second.time).now()).toBe(JAN_2026 + 5000);
  });

  it('ignores an unreadable file with a TIME_UNTRUSTED report, and keeps nothing without a state folder', () => {
    writeFileSync(join(dir, TRUSTED_TIME_FILE), '{"version": 1, "utcMs": "soon"');
    const reports: TcuError[] = [];
    const store = new TrustedTimeStore(dir, new FakeClock(JAN_2026), (e) => reports.push(e));
    expect(reports.map((e) => e.code)).toEqual(['TIME_UNTRUSTED']);
    expect(store.time.floor()).toBeUndefined();

    const memory = new TrustedTimeStore(undefined, new FakeClock(JAN_2026), () => undefined);
    memory.time.observe('gnss', JAN_2026);
    memory.save();
    expect(readdirSync(dir)).toEqual([TRUSTED_TIME_FILE]); // only the file written above
  });
});

describe('writeFileAtomic', () => {
  it('replaces the content whole and leaves no temporary file', () => {
    const path = join(dir, 'state.json');
    writeFileAtomic(path, 'old');
    writeFileAtomic(path, Buffer.from('new content'));
    expect(readFileSync(path, 'utf8')).toBe('new content');
    expect(readdirSync(dir)).toEqual(['state.json']);
    expect(() => writeFileAtomic(join(dir, 'missing', 'x.json'), 'x')).toThrow(/ENOENT/);
  });
});
