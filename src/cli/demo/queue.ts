/** What a consumer decides about one delivery. */
export type Verdict = 'ack' | 'retry' | 'dead-letter';

export interface Delivery<T> {
  readonly message: T;
  /** 1 for the first delivery, 2 for the first redelivery, ... */
  readonly attempt: number;
}

/**
 * A tiny in-process queue with at-least-once delivery, standing in for BullMQ or RabbitMQ in the
 * demo: one consumer takes messages in order; a delivery the consumer asks to retry goes back to
 * the tail (up to maxAttempts), and a dead-lettered one is kept, never dropped.
 */
export class DemoQueue<T> {
  readonly name: string;
  readonly deadLetters: Array<{ message: T; reason: string }> = [];
  readonly #maxAttempts: number;
  readonly #pending: Array<Delivery<T>> = [];
  #consumer: ((d: Delivery<T>) => Promise<{ verdict: Verdict; reason?: string }>) | undefined;
  #running: Promise<void> | undefined;

  constructor(name: string, maxAttempts = 3) {
    this.name = name;
    this.#maxAttempts = maxAttempts;
  }

  get length(): number {
    return this.#pending.length;
  }

  push(message: T): void {
    this.#pending.push({ message, attempt: 1 });
    this.#kick();
  }

  consume(handler: (d: Delivery<T>) => Promise<{ verdict: Verdict; reason?: string }>): void {
    this.#consumer = handler;
    this.#kick();
  }

  /** Resolves once every message, redeliveries included, has been handled. */
  async drained(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  #kick(): void {
    if (this.#running !== undefined || this.#consumer === undefined || this.#pending.length === 0) return;
    this.#running = this.#loop().finally(() => {
      this.#running = undefined;
      this.#kick();
    });
  }

  async #loop(): Promise<void> {
    const handler = this.#consumer!;
    for (let d = this.#pending.shift(); d !== undefined; d = this.#pending.shift()) {
      let result: { verdict: Verdict; reason?: string };
      try {
        result = await handler(d);
      } catch (e) {
        result = { verdict: 'retry', reason: (e as Error)?.message ?? String(e) };
      }
      if (result.verdict === 'retry' && d.attempt < this.#maxAttempts) {
        this.#pending.push({ message: d.message, attempt: d.attempt + 1 });
      } else if (result.verdict !== 'ack') {
        this.deadLetters.push({ message: d.message, reason: result.reason ?? (result.verdict === 'retry' ? 'too many attempts' : 'rejected') });
      }
    }
  }
}
