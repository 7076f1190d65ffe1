/** A fixed set of named, monotonically increasing counters. */
export class Counters<K extends string> {
  private readonly values: Record<K, number>;

  constructor(names: readonly K[]) {
    this.values = Object.fromEntries(names.map((n) => [n, 0])) as Record<K, number>;
  }

  inc(name: K, by = 1): void {
    this.values[name] += by;
  }

  get(name: K): number {
    return this.values[name];
  }

  snapshot(): Readonly<Record<K, number>> {
    return { ...this.values };
  }
}
