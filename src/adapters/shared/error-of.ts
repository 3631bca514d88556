/** What was thrown, as an Error (a handler or a client may throw anything). */
export const errorOf = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));
