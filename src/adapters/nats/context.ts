import { InvalidArgumentError } from '../../index.js';

/**
 * The ctx of a NATS message is the subject it is published to (`nats:<subject>`), not the stream
 * that stores it: the producer chooses the subject and may not know the stream (streams capture
 * subjects by configuration, and a stream can be recreated, mirrored or sourced under another
 * name), while the subject is kept with the message and delivered with it. A consumer checks the
 * signed subject against the subject each message was delivered on, so a copy published to
 * another subject of the same stream is ERR_CONTEXT_MISMATCH.
 */
export const NATS_CTX_PREFIX = 'nats:';

// NATS has no hard subject limit; this one keeps a ctx far below the envelope's header limit.
const MAX_SUBJECT = 1024;

/** Subjects hold no whitespace and no empty token; wildcards only where a consumer states patterns. */
function check(subject: unknown, what: string, wildcards: boolean): string {
  if (typeof subject !== 'string' || subject.length === 0) throw new InvalidArgumentError(`${what} must be a non-empty NATS subject`);
  if (subject.length > MAX_SUBJECT) throw new InvalidArgumentError(`${what} is longer than ${MAX_SUBJECT} characters`);
  if (/[\s\0]/.test(subject)) throw new InvalidArgumentError(`${what} "${subject}" contains whitespace, which NATS subjects cannot`);
  const tokens = subject.split('.');
  tokens.forEach((t, i) => {
    if (t === '') throw new InvalidArgumentError(`${what} "${subject}" has an empty token`);
    const wild = t === '*' || (t === '>' && i === tokens.length - 1);
    if (!wildcards && (t === '*' || t === '>')) throw new InvalidArgumentError(`${what} "${subject}" has a wildcard: publish to a concrete subject`);
    if (wildcards && !wild && t === '>') throw new InvalidArgumentError(`${what} "${subject}": ">" may only be the last token`);
  });
  return subject;
}

/** The ctx a message published to `subject` is sealed for. */
export function natsContext(subject: string): string {
  return NATS_CTX_PREFIX + check(subject, 'subject', false);
}

/** The subject inside a NATS ctx, or undefined when `ctx` is not one. */
export function parseNatsContext(ctx: string): string | undefined {
  return ctx.startsWith(NATS_CTX_PREFIX) && ctx.length > NATS_CTX_PREFIX.length ? ctx.slice(NATS_CTX_PREFIX.length) : undefined;
}

/** NATS subject matching: `*` matches exactly one token, a final `>` one or more. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return i === p.length - 1 && s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

/** Checks a consumer's list of accepted subjects (wildcards allowed). */
export function checkSubjects(v: unknown): readonly string[] {
  if (!Array.isArray(v) || v.length === 0) throw new InvalidArgumentError('subjects must be a non-empty list of NATS subjects');
  return v.map((s: unknown, i) => check(s, `subjects[${i}]`, true));
}
