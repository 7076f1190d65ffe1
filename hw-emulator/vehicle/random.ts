import { TcuError } from '../../core/errors.js';

/**
 * Seeded pseudo-random numbers for the emulator. Everything random in the vehicle model and the
 * traffic generator draws from an `Rng` passed in, so a seed reproduces a run exactly.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
}

/**
 * sfc32 ("small fast counting", Chris Doty-Humphrey, PractRand-clean) seeded through splitmix32,
 * so nearby seeds give unrelated streams. 32-bit integer arithmetic only: fast and identical on
 * every platform.
 */
export class SeededRng implements Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) {
      throw new TcuError('EMULATOR_CONFIG', `a random seed must be a finite number, not ${seed}`);
    }
    let s = Math.trunc(seed) >>> 0;
    // A second word from the high bits, so seeds above 2^32 still differ.
    let hi = Math.trunc(seed / 4294967296) >>> 0;
    const split = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s ^ hi;
      hi = Math.imul(hi ^ (hi >>> 15), 0x2c1b3c6d) >>> 0;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    this.d = 1;
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A new generator whose stream is independent of this one (for sub-components). */
  fork(): SeededRng {
    return new SeededRng(this.nextUint32() + this.nextUint32() * 4294967296);
  }
}

/** Uniform in [lo, hi). */
export function uniform(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng.next();
}

/** Uniform integer in [lo, hi], both inclusive. */
export function randomInt(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng.next() * (hi - lo + 1));
}

/** Approximately standard normal (sum of four uniforms, rescaled): cheap, bounded at ±3.46. */
export function gaussian(rng: Rng): number {
  return (rng.next() + rng.next() + rng.next() + rng.next() - 2) * 1.7320508075688772;
}

/** True with probability p. */
export function chance(rng: Rng, p: number): boolean {
  return rng.next() < p;
}

/** One element, uniformly. The array must not be empty. */
export function pick<T>(rng: Rng, items: readonly T[]): T {
  const item = items[Math.floor(rng.next() * items.length)];
  if (item === undefined) throw new TcuError('EMULATOR_CONFIG', 'cannot pick from an empty list');
  return item;
}
