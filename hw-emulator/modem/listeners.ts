/** Listener sets whose members cannot break each other: one that throws is counted, the rest still run. */

export type Unsubscribe = () => void;

export class Listeners<T> {
  private readonly set = new Set<(value: T) => void>();
  /** Listeners that threw. */
  failures = 0;

  add(listener: (value: T) => void): Unsubscribe {
    this.set.add(listener);
    return () => this.set.delete(listener);
  }

  emit(value: T): void {
    for (const listener of this.set) {
      try {
        listener(value);
      } catch {
        this.failures++;
      }
    }
  }
}
