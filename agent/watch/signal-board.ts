/**
 * The latest value of every decoded signal, and frame rates, rendered as a text table for a
 * terminal. Pure: the caller feeds decoded messages and asks for a frame of text.
 */
export interface BoardEntry {
  message: string;
  signal: string;
  value: number | string;
  unit: string;
  /** Microseconds since the epoch of the frame that carried it. */
  ts: number;
}

export interface BoardStats {
  frames: number;
  decoded: number;
  unknownIds: number;
}

export class SignalBoard {
  private readonly entries = new Map<string, BoardEntry>();
  private readonly stats: BoardStats = { frames: 0, decoded: 0, unknownIds: 0 };
  private lastRate = { at: 0, frames: 0, rate: 0 };

  /** `watched`: `Message.Signal` keys to show first (all signals are kept). */
  constructor(private readonly watched: readonly string[] = []) {}

  countFrame(known: boolean): void {
    this.stats.frames++;
    if (known) this.stats.decoded++;
    else this.stats.unknownIds++;
  }

  update(message: string, signals: Readonly<Record<string, number | string>>, units: ReadonlyMap<string, string>, ts: number): void {
    for (const signal in signals) {
      const key = `${message}.${signal}`;
      const value = signals[signal]!;
      const entry = this.entries.get(key);
      if (entry) {
        entry.value = value;
        entry.ts = ts;
      } else {
        this.entries.set(key, { message, signal, value, unit: units.get(signal) ?? '', ts });
      }
    }
  }

  get(key: string): BoardEntry | undefined {
    return this.entries.get(key);
  }

  counts(): Readonly<BoardStats> {
    return { ...this.stats };
  }

  /** Frames per second since the previous call (monotonic milliseconds in). */
  frameRate(nowMs: number): number {
    const dt = nowMs - this.lastRate.at;
    if (dt >= 250) {
      this.lastRate = { at: nowMs, frames: this.stats.frames, rate: ((this.stats.frames - this.lastRate.frames) * 1000) / dt };
    }
    return this.lastRate.rate;
  }

  /** Watched signals first, then the most recently updated ones, to fit `rows` lines. */
  render(options: { rows: number; columns: number; nowMs: number; header: string }): string {
    const lines = [
      options.header,
      `frames ${this.stats.frames}  decoded ${this.stats.decoded}  unknown ids ${this.stats.unknownIds}  ` +
        `rate ${Math.round(this.frameRate(options.nowMs))} frames/s  signals ${this.entries.size}`,
      '',
    ];
    const room = Math.max(0, options.rows - lines.length - 1);
    const watched = this.watched.map((k) => this.entries.get(k)).filter((e): e is BoardEntry => e !== undefined);
    const chosen = new Set(watched);
    const rest = [...this.entries.values()].filter((e) => !chosen.has(e)).sort((a, b) => b.ts - a.ts);
    const shown = [...watched, ...rest].slice(0, room);
    const nameWidth = Math.min(48, Math.max(10, ...shown.map((e) => e.message.length + e.signal.length + 1)));
    for (const e of shown) {
      const name = `${e.message}.${e.signal}`.padEnd(nameWidth).slice(0, nameWidth);
      const value = typeof e.value === 'number' ? formatNumber(e.value) : e.value;
      lines.push(`${name}  ${value.padStart(14)} ${e.unit}`.slice(0, options.columns));
    }
    return lines.join('\n');
  }
}

function formatNumber(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1000 ? v.toFixed(1) : v.toPrecision(6).replace(/\.?0+$/, '');
}
