/** The waits of a consumer between tries, which stopping it (or losing its channel) cuts short. */
export class StoppableWaits {
  readonly #wakes = new Set<() => void>();

  /** Waits `t` ms; at once when not `running` or t <= 0, or as soon as wakeAll() is called. */
  wait(t: number, running: boolean): Promise<void> {
    if (!running || t <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wakes.delete(done);
        resolve();
      };
      const timer = setTimeout(done, t);
      this.#wakes.add(done);
    });
  }

  wakeAll(): void {
    for (const wake of this.#wakes) wake();
  }
}
