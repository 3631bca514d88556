/** util.inspect's hook, by its registered symbol, so the core needs no import of node:util. */
export const INSPECT = Symbol.for('nodejs.util.inspect.custom');
