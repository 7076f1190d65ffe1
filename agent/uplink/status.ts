/**
 * The vehicle's retained status (docs/PROTOCOL.md, Status): the last status the agent gave, sent
 * online on every connect and when it changes; the will (offline) registered with each connection;
 * the offline status of a clean stop. Each publish can be followed to its PUBACK.
 */
import type { IClientPublishOptions } from 'mqtt';
import type { Clock } from '../../core/clock.js';
import type { Counters } from '../../core/counters.js';
import { asTcuError, type TcuError } from '../../core/errors.js';
import type { UplinkCounterName } from './options.js';
import { createWireEncoder, wireInt } from './wire.js';

/** What the status needs of a live connection (an MqttClient). */
export interface StatusTarget {
  publish(topic: string, payload: Buffer, options: IClientPublishOptions, callback: (err?: Error) => void): unknown;
}

interface Pending {
  target: StatusTarget;
  resolve: (acknowledged: boolean) => void;
}

export class StatusPublisher {
  private readonly encoder = createWireEncoder();
  private last: Record<string, unknown> = {};
  /** Status publishes sent and not yet answered, per connection. */
  private readonly pending = new Set<Pending>();

  constructor(
    private readonly topic: string,
    private readonly vin: string,
    private readonly clock: Clock,
    private readonly counters: Counters<UplinkCounterName>,
    private readonly report: (err: TcuError) => void,
  ) {}

  /** The last will of a new connection: offline, stamped now (when the connection is made). */
  will(): { topic: string; payload: Buffer } {
    return { topic: this.topic, payload: this.payload(false, {}) };
  }

  /**
   * Keeps `status` as the last one (sent online on every connect) and, with a live connection,
   * publishes it now. Resolves true once the broker acknowledged this publish (PUBACK); false at
   * once without a connection (it is only stored), or when the publish fails or its connection ends
   * before the PUBACK. Never rejects.
   */
  update(status: Record<string, unknown>, target: StatusTarget | undefined): Promise<boolean> {
    this.last = { ...status };
    return target === undefined ? Promise.resolve(false) : this.send(target, true, this.last);
  }

  /** A connection is up: `fresh` (the status now) when given, else the last one, online. */
  online(target: StatusTarget, fresh?: Record<string, unknown>): void {
    if (fresh !== undefined) this.last = { ...fresh };
    void this.send(target, true, this.last);
  }

  /** A clean stop: offline, with `extra` (the reason). Resolves true on its PUBACK. */
  offline(target: StatusTarget, extra: Record<string, unknown>): Promise<boolean> {
    return this.send(target, false, extra);
  }

  /** A connection is gone: what was sent on it and not yet acknowledged never will be. */
  release(target: StatusTarget): void {
    for (const p of this.pending) {
      if (p.target !== target) continue;
      this.pending.delete(p);
      p.resolve(false);
    }
  }

  private send(target: StatusTarget, online: boolean, extra: Record<string, unknown>): Promise<boolean> {
    return new Promise((resolve) => {
      const entry: Pending = { target, resolve };
      const settle = (acknowledged: boolean): void => {
        if (this.pending.delete(entry)) resolve(acknowledged);
      };
      this.pending.add(entry);
      try {
        target.publish(this.topic, this.payload(online, extra), { qos: 1, retain: true }, (err) => settle(!err));
        this.counters.inc('statusPublished');
      } catch (err) {
        this.report(asTcuError(err, 'UPLINK_PUBLISH', 'cannot publish the status'));
        settle(false);
      }
    });
  }

  private payload(online: boolean, extra: Record<string, unknown>): Buffer {
    return this.encoder.encode({ ...extra, v: 1, vin: this.vin, online, ts: wireInt(this.clock.now()) });
  }
}
