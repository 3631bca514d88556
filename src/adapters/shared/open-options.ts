import { checkMode } from '../../report-mode.js';
import type { OpenOptions } from '../../open.js';

/** The open options a consumer's options carry (mode checked), with the ctx it verifies against. */
export function openOptionsOf(o: Omit<OpenOptions, 'ctx' | 'now'>, ctx: OpenOptions['ctx']): OpenOptions {
  if (o.mode !== undefined) checkMode(o.mode);
  return { ctx, typ: o.typ, maxAge: o.maxAge, clockSkew: o.clockSkew, maxValidity: o.maxValidity, maxPayloadBytes: o.maxPayloadBytes, mode: o.mode };
}
