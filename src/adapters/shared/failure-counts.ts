/** Counts failed runs per message, forgetting the oldest past `max` entries. */
export class FailureCounts {
  readonly #counts = new Map<string, number>();
  constructor(readonly max = 10_000) {}

  /** One more failure of `key`; returns the count, this one included. */
  add(key: string): number {
    const n = (this.#counts.get(key) ?? 0) + 1;
    this.#counts.delete(key);
    if (this.#counts.size >= this.max) this.#counts.delete(this.#counts.keys().next().value!);
    this.#counts.set(key, n);
    return n;
  }

  delete(key: string): void {
    this.#counts.delete(key);
  }
}
