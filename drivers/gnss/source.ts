import type { Clock, TimerHandle } from '../../core/clock.js';
import { Counters } from '../../core/counters.js';
import { TcuError, asTcuError } from '../../core/errors.js';
import type { AtPort, Unsubscribe } from '../modem/types.js';
import { EpochAssembler, type EpochSentenceType } from './fix.js';
import { NMEA_DEFAULT_MAX_LENGTH, parseNmea } from './nmea.js';
import type { GnssFix, NmeaSentence } from './types.js';

/**
 * Reads NMEA from a byte stream (the modem's NMEA port, `/dev/ttyUSB1` on Quectel modules) and
 * emits one GnssFix per epoch. The port is an AtPort: it is just bytes.
 *
 * Bytes → lines (CR, LF or both end a line; `$` or `!` starts a sentence, and whatever came before
 * it on the line is garbage, counted) → `parseNmea` → `EpochAssembler` → `onFix`. A line longer
 * than `maxLineLength` is dropped up to its end (bounded memory). Nothing thrown in the data
 * handler escapes it: bad sentences are counted and reported through `onError`, and a listener
 * that throws is counted in `listenerErrors` and reported, the other listeners still run.
 *
 * When the port has been quiet for `idleFlushMs` the open epoch is closed (receivers send an
 * epoch as one burst, then nothing until the next one), so a fix does not wait for the next epoch.
 */

export const NMEA_SOURCE_COUNTER_NAMES = [
  'bytes',
  /** Lines that started with `$` or `!`. */
  'lines',
  /** Sentences parsed (any type). */
  'sentences',
  /** Well-formed sentences of a type not interpreted (GLL, ZDA, TXT, proprietary `$P...`). */
  'ignored',
  'checksumErrors',
  'malformed',
  /** Bytes outside any sentence (binary protocols, line noise, a partial line at start). */
  'garbageBytes',
  'overlong',
  'fixes',
  'listenerErrors',
  /** The port closed without being asked to. */
  'portLost',
] as const;
export type NmeaSourceCounterName = (typeof NMEA_SOURCE_COUNTER_NAMES)[number];
export type NmeaSourceCounters = Readonly<Record<NmeaSourceCounterName, number>>;

export interface NmeaSourceOptions {
  port: AtPort;
  clock: Clock;
  /** Longest sentence kept, in characters (default 512). */
  maxLineLength?: number;
  /** Close the open epoch after this long without bytes (default 100 ms; 0: only on time change). */
  idleFlushMs?: number;
  allowMissingChecksum?: boolean;
  completeOn?: readonly EpochSentenceType[];
}

export class NmeaSource {
  private readonly port: AtPort;
  private readonly clock: Clock;
  private readonly maxLine: number;
  private readonly idleFlushMs: number;
  private readonly allowMissingChecksum: boolean;
  private readonly assembler: EpochAssembler;
  private readonly stats = new Counters(NMEA_SOURCE_COUNTER_NAMES);
  private fixListeners: ((fix: GnssFix) => void)[] = [];
  private errorListeners: ((err: TcuError) => void)[] = [];
  private sentenceListeners: ((s: NmeaSentence) => void)[] = [];
  private subscriptions: Unsubscribe[] = [];
  private started = false;
  private openedByUs = false;
  private line = '';
  /** Inside a sentence (after `$`); false while skipping garbage or the rest of an overlong line. */
  private inSentence = false;
  private timer: TimerHandle | undefined;
  private last: GnssFix | undefined;

  constructor(options: NmeaSourceOptions) {
    this.port = options.port;
    this.clock = options.clock;
    this.maxLine = options.maxLineLength ?? NMEA_DEFAULT_MAX_LENGTH;
    this.idleFlushMs = options.idleFlushMs ?? 100;
    this.allowMissingChecksum = options.allowMissingChecksum ?? false;
    this.assembler = new EpochAssembler({ completeOn: options.completeOn });
  }

  /** Subscribes to the port, opening it when it is not open yet. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.subscriptions = [
      this.port.onData((chunk) => this.onData(chunk)),
      this.port.onClose((info) => this.onPortClose(info)),
    ];
    if (!this.port.isOpen) {
      try {
        await this.port.open();
        this.openedByUs = true;
      } catch (err) {
        this.detach();
        throw err;
      }
    }
  }

  /** Unsubscribes, drops the partial line and epoch, closes the port if start() opened it. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.detach();
    if (this.openedByUs && this.port.isOpen) await this.port.close();
    this.openedByUs = false;
  }

  onFix(listener: (fix: GnssFix) => void): Unsubscribe {
    this.fixListeners = [...this.fixListeners, listener];
    return () => (this.fixListeners = this.fixListeners.filter((l) => l !== listener));
  }

  /** Every parsed sentence, before epoch assembly (for satellite views, diagnostics). */
  onSentence(listener: (sentence: NmeaSentence) => void): Unsubscribe {
    this.sentenceListeners = [...this.sentenceListeners, listener];
    return () => (this.sentenceListeners = this.sentenceListeners.filter((l) => l !== listener));
  }

  /** NMEA_CHECKSUM, NMEA_MALFORMED (overlong lines too), GNSS_UNAVAILABLE when the port is lost. */
  onError(listener: (err: TcuError) => void): Unsubscribe {
    this.errorListeners = [...this.errorListeners, listener];
    return () => (this.errorListeners = this.errorListeners.filter((l) => l !== listener));
  }

  counters(): NmeaSourceCounters {
    return this.stats.snapshot();
  }

  /** The most recent fix, valid or not. */
  lastFix(): GnssFix | undefined {
    return this.last;
  }

  private detach(): void {
    for (const u of this.subscriptions) u();
    this.subscriptions = [];
    this.started = false;
    this.cancelTimer();
    this.resetStream();
  }

  private resetStream(): void {
    this.line = '';
    this.inSentence = false;
    this.assembler.reset();
  }

  private onPortClose(info: { unexpected: boolean; error?: TcuError }): void {
    this.cancelTimer();
    this.resetStream();
    if (!info.unexpected) return;
    this.stats.inc('portLost');
    this.emitError(new TcuError('GNSS_UNAVAILABLE', `NMEA port ${this.port.path} closed unexpectedly`, { cause: info.error, details: { port: this.port.path } }));
  }

  private onData(chunk: Buffer): void {
    try {
      this.stats.inc('bytes', chunk.length);
      const text = chunk.toString('latin1');
      for (let i = 0; i < text.length; i++) this.onChar(text[i]!);
      this.armTimer();
    } catch (err) {
      // Not reached by design; a bug here must still not kill the port's event handler.
      this.emitError(asTcuError(err, 'NMEA_MALFORMED', 'NMEA reader failed'));
    }
  }

  private onChar(c: string): void {
    if (c === '\r' || c === '\n') {
      if (this.inSentence) this.onLine(this.line);
      this.line = '';
      this.inSentence = false;
      return;
    }
    if (c === '$' || c === '!') {
      // A sentence start: whatever came before it on this line was not a sentence.
      if (this.inSentence) this.stats.inc('garbageBytes', this.line.length);
      this.line = c;
      this.inSentence = true;
      return;
    }
    if (!this.inSentence) {
      this.stats.inc('garbageBytes');
      return;
    }
    if (this.line.length >= this.maxLine) {
      this.stats.inc('overlong');
      this.emitError(
        new TcuError('NMEA_MALFORMED', `NMEA line longer than ${this.maxLine} characters; dropped`, {
          details: { sentence: this.line.slice(0, 100), field: 'length' },
        }),
      );
      this.line = '';
      this.inSentence = false;
      return;
    }
    this.line += c;
  }

  private onLine(line: string): void {
    this.stats.inc('lines');
    let sentence: NmeaSentence;
    try {
      sentence = parseNmea(line, { allowMissingChecksum: this.allowMissingChecksum, maxLength: this.maxLine });
    } catch (err) {
      const e = asTcuError(err, 'NMEA_MALFORMED');
      this.stats.inc(e.code === 'NMEA_CHECKSUM' ? 'checksumErrors' : 'malformed');
      this.emitError(e);
      return;
    }
    this.stats.inc('sentences');
    if (sentence.type === 'other') this.stats.inc('ignored');
    for (const l of this.sentenceListeners) this.call(l, sentence, 'sentence');
    for (const fix of this.assembler.push(sentence, this.clock.monotonic())) this.deliver(fix);
  }

  private armTimer(): void {
    if (this.idleFlushMs <= 0) return;
    this.cancelTimer();
    if (!this.assembler.pending) return;
    const handle = this.clock.setTimeout(() => {
      this.timer = undefined;
      const fix = this.assembler.flush();
      if (fix) this.deliver(fix);
    }, this.idleFlushMs);
    handle.unref?.();
    this.timer = handle;
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private deliver(fix: GnssFix): void {
    this.stats.inc('fixes');
    this.last = fix;
    for (const l of this.fixListeners) this.call(l, fix, 'fix');
  }

  private call<T>(listener: (value: T) => void, value: T, kind: string): void {
    try {
      listener(value);
    } catch (err) {
      this.stats.inc('listenerErrors');
      // No catalogue code for a failed GNSS listener; GNSS_UNAVAILABLE is the closest.
      this.emitError(new TcuError('GNSS_UNAVAILABLE', `a GNSS ${kind} listener threw`, { cause: err, details: { listener: kind } }));
    }
  }

  private emitError(err: TcuError): void {
    for (const l of this.errorListeners) {
      try {
        l(err);
      } catch {
        this.stats.inc('listenerErrors');
      }
    }
  }
}
