import { describe, expect, it } from 'vitest';
import type { TcuError } from '../../../core/errors.js';
import { BusBase, type BusState } from '../../../drivers/can/bus.js';
import { makeFrame, type CanFrame } from '../../../drivers/can/frame.js';

/** The smallest driver: frames go in through `inject`; `openEarly` sets `open` inside doOpen, as socketcand does. */
class TestBus extends BusBase {
  constructor(private readonly openEarly = false) {
    super('test0');
  }

  inject(frame: CanFrame): void {
    this.deliver(frame);
  }

  fail(err: TcuError): void {
    this.emitError(err);
  }

  protected doOpen(): Promise<void> {
    if (this.openEarly) {
      this.setState('open');
      this.inject(makeFrame({ id: 0x7 })); // a frame streamed right behind the handshake
    }
    return Promise.resolve();
  }

  protected doClose(): Promise<void> {
    return Promise.resolve();
  }

  protected doSend(): Promise<void> {
    return Promise.resolve();
  }
}

describe('BusBase listener fan-out', () => {
  it('a frame listener that throws is counted and reported; the other listeners still get every frame', async () => {
    const bus = new TestBus();
    await bus.open();
    const before: number[] = [];
    const after: number[] = [];
    const errors: TcuError[] = [];
    bus.subscribe((f) => before.push(f.id));
    bus.subscribe((f) => {
      if (f.id === 1) throw new Error('consumer bug');
    });
    bus.subscribe((f) => after.push(f.id));
    bus.on('error', (e) => errors.push(e));

    expect(() => bus.inject(makeFrame({ id: 1 }))).not.toThrow();
    bus.inject(makeFrame({ id: 2 }));

    expect(before).toEqual([1, 2]);
    expect(after).toEqual([1, 2]);
    expect(bus.counters()).toMatchObject({ rxFrames: 2, listenerErrors: 1 });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'CAN_LISTENER_FAILED', details: { bus: 'test0', id: 1 } });
    expect(errors[0]!.message).toMatch(/consumer bug/);
    expect((errors[0]!.cause as Error).message).toBe('consumer bug');
  });

  it('an error listener that throws is counted and does not stop the other error listeners or the frame', async () => {
    const bus = new TestBus();
    await bus.open();
    const seen: string[] = [];
    const frames: number[] = [];
    bus.on('error', () => {
      throw new Error('logger bug');
    });
    bus.on('error', (e) => seen.push(e.code));
    bus.subscribe(() => {
      throw 'not even an Error';
    });
    bus.subscribe((f) => frames.push(f.id));

    expect(() => bus.inject(makeFrame({ id: 3 }))).not.toThrow();
    expect(frames).toEqual([3]);
    expect(seen).toEqual(['CAN_LISTENER_FAILED']);
    // the frame listener, then the error listener that threw on its report
    expect(bus.counters().listenerErrors).toBe(2);
  });

  it('a state listener that throws does not break open() or close()', async () => {
    const bus = new TestBus();
    const states: BusState[] = [];
    const errors: TcuError[] = [];
    bus.on('state', (s) => {
      if (s === 'opening') throw new Error('state bug');
    });
    bus.on('state', (s) => states.push(s));
    bus.on('error', (e) => errors.push(e));
    await bus.open();
    await bus.close();
    expect(states).toEqual(['opening', 'open', 'closed']);
    expect(errors.map((e) => [e.code, e.details['state']])).toEqual([['CAN_LISTENER_FAILED', 'opening']]);
    expect(bus.counters().listenerErrors).toBe(1);
  });

  it('a driver that sets open itself during doOpen delivers at once, and open() does not announce open twice', async () => {
    const bus = new TestBus(true);
    const states: BusState[] = [];
    const frames: number[] = [];
    bus.on('state', (s) => states.push(s));
    bus.subscribe((f) => frames.push(f.id));
    await bus.open();
    expect(frames).toEqual([0x7]);
    expect(states).toEqual(['opening', 'open']);
    expect(bus.state).toBe('open');
  });
});
