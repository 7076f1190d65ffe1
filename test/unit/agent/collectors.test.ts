import { describe, expect, it } from 'vitest';
import { IgnitionWatcher, OnChangeCollector, PeriodicCollector, type RecordSink } from '../../../agent/collect/collectors.js';
import { Committer } from '../../../agent/collect/committer.js';
import { SignalState } from '../../../agent/collect/signal-state.js';
import type { Outbox } from '../../../agent/outbox/types.js';
import type { RecordInput } from '../../../agent/records.js';
import { TcuError } from '../../../core/errors.js';
import { compileDbc } from '../../../drivers/can/dbc/codec.js';
import { loadDbcFile } from '../../../drivers/can/dbc/parser.js';
import { makeFrame } from '../../../drivers/can/frame.js';
import { FakeClock } from '../../helpers/fake-clock.js';

const codec = compileDbc(loadDbcFile('test/fixtures/dbc-small/engine.dbc'));

/** Engine frame: speed in 0.25 rpm steps, coolant +40, gear. */
function engine(rpm: number, coolant = 50, gear = 3, ts = 0) {
  const raw = Math.round(rpm / 0.25);
  return makeFrame({ id: 0x100, data: Uint8Array.of(raw & 0xff, raw >> 8, coolant + 40, gear, 0, 0, 0, 0), ts });
}

function setup() {
  const clock = new FakeClock();
  const state = new SignalState('can0', codec, clock);
  const records: RecordInput[] = [];
  const sink: RecordSink = { push: (r) => records.push(r) };
  const bind = (key: string) => ({ ref: state.resolve(key), state });
  return { clock, state, records, sink, bind };
}

describe('signal state', () => {
  it('keeps the latest value of each signal; a short frame updates only what it carries', () => {
    const { state, bind } = setup();
    const speed = bind('Engine.EngineSpeed');
    const gear = bind('Engine.Gear');
    expect(state.read(speed.ref)).toBeNaN();
    state.ingest(engine(2000, 50, 3));
    state.ingest(makeFrame({ id: 0x100, data: Uint8Array.of(0x20, 0x03) })); // 200 rpm, no gear byte
    expect(state.read(speed.ref)).toBe(200);
    expect(state.read(gear.ref)).toBe(3);
    expect(state.ingest(makeFrame({ id: 0x7ff, data: new Uint8Array(8) }))).toBe(false);
    expect(state.counts()).toEqual({ decoded: 2, unknown: 1 });
  });

  it('refuses a signal the DBC does not have, naming it', () => {
    const { state } = setup();
    expect(() => state.resolve('Engine.Nope')).toThrow(/Engine.Nope/);
    expect(() => state.resolve('NoDot')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

describe('collectors', () => {
  it('periodic: one record per period with the latest values, drift-free, nothing before any value', () => {
    const { clock, state, records, sink, bind } = setup();
    const p = new PeriodicCollector({ name: 'fast', everyMs: 1000, maxAgeMs: 60_000, priority: 'normal', signals: [bind('Engine.EngineSpeed'), bind('Engine.CoolantTemp')] }, sink, clock);
    p.start();
    clock.advance(1000);
    expect(records).toHaveLength(0);
    state.ingest(engine(800, 90));
    clock.advance(2500);
    expect(records).toHaveLength(2);
    expect(records[0]).toMatchObject({ kind: 'signals', priority: 1, body: { collector: 'fast', values: { 'Engine.EngineSpeed': 800, 'Engine.CoolantTemp': 90 } } });
    expect(records[1]!.ts - records[0]!.ts).toBe(1000);
    p.stop();
    clock.advance(5000);
    expect(records).toHaveLength(2);
  });

  it('periodic: leaves out signals whose message stopped arriving, by arrival time, not frame time', () => {
    const { clock, state, records, sink, bind } = setup();
    const values = () => records.map((r) => Object.keys(r.body['values'] as Record<string, number>));
    const p = new PeriodicCollector({ name: 'p', everyMs: 1000, maxAgeMs: 2500, priority: 'normal', signals: [bind('Engine.EngineSpeed'), bind('Engine.CoolantTemp')] }, sink, clock);
    p.start();
    // A frame stamped an hour ago (a log replay) still counts as fresh when it arrives now.
    state.ingest(engine(800, 90, 3, 1_000));
    clock.advance(3000); // samples at 1000, 2000 (fresh), 3000 (arrived 3000 ms ago: stale)
    expect(values()).toEqual([
      ['Engine.EngineSpeed', 'Engine.CoolantTemp'],
      ['Engine.EngineSpeed', 'Engine.CoolantTemp'],
    ]);
    clock.advance(5000); // the bus stays silent: nothing at all
    expect(records).toHaveLength(2);
    state.ingest(engine(900, 91)); // the bus comes back: the next sample has it again
    clock.advance(1000);
    expect(records).toHaveLength(3);
    expect(records[2]!.body['values']).toEqual({ 'Engine.EngineSpeed': 900, 'Engine.CoolantTemp': 91 });
    p.stop();
  });

  it('on change: dead band, minimum interval, and the trailing edge', () => {
    const { clock, state, records, sink, bind } = setup();
    const c = new OnChangeCollector({ signal: bind('Engine.EngineSpeed'), deadband: 50, minIntervalMs: 1000, priority: 'high' }, sink, clock);
    state.ingest(engine(1000)); // first value: sent
    state.ingest(engine(1040)); // inside the dead band: not sent
    clock.advance(1500);
    state.ingest(engine(1100)); // moved 100 from 1000: sent
    clock.advance(100);
    state.ingest(engine(1500)); // held back by the interval ...
    state.ingest(engine(1700)); // ... and superseded
    expect(records.map((r) => (r.body['values'] as Record<string, number>)['Engine.EngineSpeed'])).toEqual([1000, 1100]);
    clock.advance(1000); // the interval ends: the latest value goes out
    expect(records.map((r) => (r.body['values'] as Record<string, number>)['Engine.EngineSpeed'])).toEqual([1000, 1100, 1700]);
    expect(records[2]!.priority).toBe(2);
    c.stop();
  });

  it('ignition: events on transitions; an agent starting with the ignition on says so', () => {
    const { clock, state, records, sink, bind } = setup();
    const w = new IgnitionWatcher({ signal: bind('Engine.Gear'), onValues: [3], priority: 'high' }, sink, clock);
    state.ingest(engine(0, 20, 3)); // first value, on: reported
    state.ingest(engine(0, 20, 3));
    state.ingest(engine(0, 20, 0)); // off
    state.ingest(engine(0, 20, 0));
    state.ingest(engine(0, 20, 3)); // on
    expect(records.map((r) => r.body)).toEqual([
      { name: 'ignition', on: true },
      { name: 'ignition', on: false },
      { name: 'ignition', on: true },
    ]);
    expect(w.state).toBe(true);
  });
});

describe('committer', () => {
  function fakeOutbox(fail: (records: readonly RecordInput[]) => Error | undefined) {
    const committed: RecordInput[][] = [];
    const counts = { calls: 0 };
    const outbox = {
      append(records: readonly RecordInput[]) {
        counts.calls++;
        const e = fail(records);
        if (e) throw e;
        committed.push([...records]);
        return [];
      },
    } as unknown as Outbox;
    return { outbox, committed, calls: () => counts.calls };
  }
  const rec = (priority: 0 | 1 | 2 | 3, n: number): RecordInput => ({ kind: 'signals', ts: n, priority, body: { n } });

  it('commits in batches by count and by interval, and notifies after each commit', () => {
    const clock = new FakeClock();
    const { outbox, committed } = fakeOutbox(() => undefined);
    let notified = 0;
    const c = new Committer(outbox, { intervalMs: 200, maxRecords: 3, onCommit: () => notified++ }, clock);
    for (let i = 0; i < 4; i++) c.push(rec(1, i));
    expect(committed.map((b) => b.length)).toEqual([3]);
    clock.advance(199);
    expect(committed).toHaveLength(1);
    clock.advance(1);
    expect(committed.map((b) => b.length)).toEqual([3, 1]);
    expect(notified).toBe(2);
  });

  it('keeps records through a failing outbox, bounded, shedding the lowest priority first', () => {
    const clock = new FakeClock();
    let failing = true;
    const { outbox, committed } = fakeOutbox(() => (failing ? new Error('disk I/O error') : undefined));
    const errors: string[] = [];
    const c = new Committer(outbox, { intervalMs: 100, maxRecords: 1000, maxPending: 4, onError: (e) => errors.push(e.code) }, clock);
    [rec(0, 1), rec(3, 2), rec(1, 3), rec(0, 4), rec(2, 5), rec(3, 6)].forEach((r) => c.push(r));
    clock.advance(100); // commit fails: kept
    expect(c.waiting).toBe(4);
    failing = false;
    clock.advance(1000);
    expect(committed.flat().map((r) => r.body['n'])).toEqual([2, 3, 5, 6]);
    expect(c.counters()).toMatchObject({ droppedMemoryFull: 2, commitFailures: 1, committed: 4 });
    expect(errors).toEqual(['OUTBOX_BACKLOG', 'OUTBOX_WRITE']);
  });

  it('does not retry on every push while the outbox fails, and counts what is left at stop', () => {
    const clock = new FakeClock();
    const { outbox, calls } = fakeOutbox(() => new Error('disk I/O error'));
    const c = new Committer(outbox, { intervalMs: 100, maxRecords: 2, maxPending: 100 }, clock);
    for (let i = 0; i < 50; i++) c.push(rec(1, i));
    expect(calls()).toBe(1); // the first full batch failed; the rest only queue until the retry
    clock.advance(1000);
    expect(calls()).toBe(2);
    c.stop();
    expect(c.counters()).toMatchObject({ droppedAtStop: 50, committed: 0 });
  });

  it('drops a record the outbox refuses as invalid and commits the others at once', () => {
    const clock = new FakeClock();
    const { outbox, committed } = fakeOutbox((records) => {
      const bad = records.findIndex((r) => r.body['n'] === 2);
      return bad >= 0 ? new TcuError('OUTBOX_RECORD_INVALID', 'not encodable', { details: { index: bad } }) : undefined;
    });
    const c = new Committer(outbox, { intervalMs: 100, maxRecords: 3 }, clock);
    [1, 2, 3].forEach((n) => c.push(rec(1, n)));
    expect(committed.flat().map((r) => r.body['n'])).toEqual([1, 3]);
    expect(c.counters()).toMatchObject({ droppedInvalid: 1, committed: 2 });
  });
});
