const boundMethods = new WeakMap<object, WeakMap<(...a: never[]) => unknown, unknown>>();

/** A member of the wrapped object; methods are bound to it (so its getters and internals work), the same function each time. */
function forward(target: object, prop: PropertyKey): unknown {
  const v: unknown = Reflect.get(target, prop, target);
  if (typeof v !== 'function') return v;
  let cache = boundMethods.get(target);
  if (cache === undefined) boundMethods.set(target, (cache = new WeakMap()));
  const fn = v as (...a: never[]) => unknown;
  let b = cache.get(fn);
  if (b === undefined) cache.set(fn, (b = fn.bind(target)));
  return b;
}

/**
 * @internal `target` with some members replaced by `own`; everything else is the target's.
 * A proxy rather than a subclass, so it wraps the instance the user already built (any Queue or
 * FlowProducer subclass, any connection) and `instanceof` still holds.
 */
export function wrapWith<T extends object>(target: T, own: Record<string, unknown>): T {
  return new Proxy(target, {
    get: (t, prop) => (typeof prop === 'string' && Object.hasOwn(own, prop) ? own[prop] : forward(t, prop)),
    has: (t, prop) => (typeof prop === 'string' && Object.hasOwn(own, prop)) || Reflect.has(t, prop),
  });
}
