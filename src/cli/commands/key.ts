import { existsSync, readFileSync } from 'node:fs';
import { KeyUsage } from '../../audit-log.js';
import type { KeyUsageStats } from '../../audit-log.js';
import { ALGS, isAlg } from '../../crypto/algorithms.js';
import type { Alg } from '../../crypto/algorithms.js';
import { fsReason } from '../../fs-errors.js';
import { updateKeyringFileSync, writeFileAtomicSync, keyringFileText } from '../../keys/file-source.js';
import { Keyring } from '../../keys/keyring.js';
import type { KeyPolicy } from '../../keys/policy.js';
import { addKey, promoteKey, removeKey, retireKey, revokeKey, rotationState, RotationRefusedError, DEFAULT_PUBLISH_DELAY_MS } from '../../keys/rotation.js';
import type { RotationOptions } from '../../keys/rotation.js';
import { DEFAULT_CLOCK_SKEW_MS, DEFAULT_MAX_AGE_MS } from '../../open.js';
import { durationFlag, parseFlagsAndPositionals, subcommand } from '../args.js';
import type { FlagSpec, FlagValues } from '../args.js';
import { EXIT_OK, UsageError } from '../command.js';
import type { Command, Io } from '../command.js';
import { loadKeyring, stderrLogger } from '../keyring-source.js';
import { writeAll } from '../output.js';

const help = `Usage: sealq key <list|add|promote|retire|revoke|remove> [KID] [options]

Rotates the keys of a keyring file without rejecting a message in flight:

  sealq key list    [--keyring FILE] [--json] [--usage FILE]
  sealq key add     --keyring FILE --alg ALG [--kid ID] [--allow-ctx P]... [--allow-type P]... [--create]
  sealq key promote KID --keyring FILE [--publish-delay D] [--force]
  sealq key retire  KID --keyring FILE [--max-validity D] [--force]
  sealq key revoke  KID --keyring FILE
  sealq key remove  KID --keyring FILE [--max-validity D] [--force]

A rotation, with the default waiting times:
  1. sealq key add --keyring keys.json --alg EdDSA       new key, verify-only
  2. publish: give consumers the new keyring (sealq public --keyring keys.json > jwks.json)
  3. after the publish delay (1h):  sealq key promote NEW --keyring keys.json
     the new key signs; the old one stays verify-only; producers reload the file
  4. after the grace period (24h + 60s):  sealq key retire OLD --keyring keys.json
     messages the old key signs from now on are rejected; older ones still open
  5. after another grace period:  sealq key remove OLD --keyring keys.json
  Publish the keyring to consumers again after each step.

  revoke (after a compromise) rejects every message of the key at once, even older ones.
  The primary key can never be retired, revoked or removed: promote another key first.

Options:
  --keyring FILE        the private keyring file; changed atomically, kept at mode 0600
                        (list also reads the SEALQ_KEYRING environment variable)
  --alg ALG             ${ALGS.join(', ')} (add)
  --kid ID              key id for the new key (add; default <alg>-<yyyymmdd>-<random>)
  --allow-ctx PATTERN   the new key may only sign these contexts: exact names or * patterns
                        like 'billing.*'; repeat for several (add; default: any)
  --allow-type PATTERN  the same for message types (add; default: any)
  --create              create FILE with the new key as primary, if FILE does not exist (add)
  --publish-delay D     least time between add and promote: your consumers' longest keyring
                        reload interval or JWKS cache age (default 1h)
  --max-validity D      longest a message stays valid: consumers' maxAge or producers'
                        longest expiresIn (default 24h); with --clock-skew (default 60s) the
                        grace period before retire and before remove
  --clock-skew D        tolerated clock difference (default 60s)
  --force               do a step before its waiting time is over (messages in flight may be
                        rejected); never allows touching the primary key
  --json                list: machine-readable output
  --usage FILE          list: show usage counters saved from KeyUsage.toJSON()

A step refused because it is too early fails with ERR_ROTATION_REFUSED (exit 2), saying when it
becomes safe. Durations: 30s, 5m, 2h, 7d.
`;

type Sub = 'list' | 'add' | 'promote' | 'retire' | 'revoke' | 'remove';

const OPTIONS = {
  keyring: { type: 'string' },
  alg: { type: 'string' },
  kid: { type: 'string' },
  'allow-ctx': { type: 'string', multiple: true },
  'allow-type': { type: 'string', multiple: true },
  create: { type: 'boolean' },
  'publish-delay': { type: 'string' },
  'max-validity': { type: 'string' },
  'clock-skew': { type: 'string' },
  force: { type: 'boolean' },
  json: { type: 'boolean' },
  usage: { type: 'string' },
} as const satisfies FlagSpec;

/** Which flags each subcommand takes: anything else is a usage error, not silently ignored. */
const ALLOWED: Record<Sub, ReadonlyArray<keyof typeof OPTIONS>> = {
  list: ['keyring', 'json', 'usage', 'publish-delay', 'max-validity', 'clock-skew'],
  add: ['keyring', 'alg', 'kid', 'allow-ctx', 'allow-type', 'create', 'publish-delay'],
  promote: ['keyring', 'publish-delay', 'max-validity', 'clock-skew', 'force'],
  retire: ['keyring', 'max-validity', 'clock-skew', 'force'],
  revoke: ['keyring'],
  remove: ['keyring', 'max-validity', 'clock-skew', 'force'],
};

type Values = FlagValues<typeof OPTIONS>;

/** Each option's lines in a subcommand's help. */
const OPTION_HELP: Record<keyof typeof OPTIONS, string> = {
  keyring: '--keyring FILE        the private keyring file; changed atomically, kept at mode 0600',
  alg: `--alg ALG             ${ALGS.join(', ')} (required)`,
  kid: '--kid ID              key id for the new key (default <alg>-<yyyymmdd>-<random>)',
  'allow-ctx': "--allow-ctx PATTERN   the new key may only sign these contexts: exact names or * patterns\n                        like 'billing.*'; repeat for several (default: any)",
  'allow-type': '--allow-type PATTERN  the same for message types (default: any)',
  create: '--create              create FILE with the new key as primary, if FILE does not exist',
  'publish-delay': "--publish-delay D     least time between add and promote: your consumers' longest keyring\n                        reload interval or JWKS cache age (default 1h)",
  'max-validity': "--max-validity D      longest a message stays valid: consumers' maxAge or producers'\n                        longest expiresIn (default 24h); with --clock-skew the grace period",
  'clock-skew': '--clock-skew D        tolerated clock difference (default 60s)',
  force: '--force               do the step before its waiting time is over (messages in flight may be\n                        rejected); never allows touching the primary key',
  json: '--json                machine-readable output',
  usage: '--usage FILE          show usage counters saved from KeyUsage.toJSON()',
};

/** What each subcommand does, for `sealq key SUB --help`. */
const SUB_HELP: Record<Sub, { readonly args: string; readonly about: string }> = {
  list: {
    args: '',
    about: `Lists the keys of a keyring: status, rotation phase, when each was added, its policy, and the
next rotation step with the time it becomes safe. Reads --keyring FILE, or the keyring JSON in the
SEALQ_KEYRING environment variable.`,
  },
  add: {
    args: '',
    about: `Adds a new key to the keyring file as verify-only: it signs nothing until promoted, so consumers
can receive it first. Next: publish the keyring to consumers (sealq public --keyring FILE), then,
after the publish delay, sealq key promote NEW.`,
  },
  promote: {
    args: ' KID',
    about: `Makes KID the primary key, the one that signs; the old primary stays verify-only, so messages it
signed keep opening. Refused until the publish delay has passed since KID was added (consumers
that have not loaded it would reject its messages). Next, after the grace period: sealq key retire OLD.`,
  },
  retire: {
    args: ' KID',
    about: `Retires KID: messages it signs from now on are rejected (ERR_KEY_INACTIVE); messages it signed
before still open until they expire. Refused until the grace period (max validity + clock skew)
has passed since KID stopped being primary. The primary key cannot be retired. Next, after
another grace period: sealq key remove KID.`,
  },
  revoke: {
    args: ' KID',
    about: `Revokes KID after a compromise: every message it signed is rejected at once (ERR_KEY_INACTIVE),
older ones too. No waiting time. The primary key cannot be revoked: add and promote a new key
first (with --force if the compromise cannot wait).`,
  },
  remove: {
    args: ' KID',
    about: `Removes KID from the keyring file; its messages then fail with ERR_KEY_UNKNOWN. At once for a
revoked key or one that never signed; a retired key only once the grace period since its
retirement has passed; an active key that signed must be retired first. Never the primary key.`,
  },
};

function subHelp(s: Sub): string {
  const flags = ALLOWED[s];
  // The usage line takes each flag's value name (FILE, ALG, D, ...) from its help line.
  const usage = flags.map((f) => (f === 'keyring' ? (s === 'list' ? '[--keyring FILE]' : '--keyring FILE') : f === 'alg' ? '--alg ALG' : `[--${f}${OPTIONS[f].type === 'string' ? ' ' + OPTION_HELP[f].split(/\s+/)[1] : ''}]${'multiple' in OPTIONS[f] ? '...' : ''}`));
  return [
    `Usage: sealq key ${s}${SUB_HELP[s].args} ${usage.join(' ')}`,
    '',
    SUB_HELP[s].about,
    '',
    'Options:',
    ...flags.map((f) => `  ${f === 'keyring' && s === 'list' ? '--keyring FILE        the keyring file to read (default: the SEALQ_KEYRING environment variable)' : OPTION_HELP[f]}`),
    '',
    `${flags.some((f) => /\bD\b/.test(OPTION_HELP[f])) ? 'Durations: 30s, 5m, 2h, 7d. ' : ''}The whole rotation, step by step: sealq key --help`,
    '',
  ].join('\n');
}

const when = (t: number | undefined): string => (t === undefined ? '-' : new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z'));

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

function readUsage(file: string): Map<string, KeyUsageStats> {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    // fs errors carry a code; a JSON syntax error does not.
    const why = typeof (e as { code?: unknown }).code === 'string' ? fsReason(e) : 'not JSON';
    throw new UsageError(`cannot read usage file ${JSON.stringify(file)}: ${why}`);
  }
  return new Map(KeyUsage.fromJSON(doc).all().map((s) => [s.kid, s]));
}

async function list(v: Values, io: Io, rot: RotationOptions): Promise<number> {
  const keyring = await loadKeyring(v.keyring, io, 'key');
  const usage = v.usage === undefined ? undefined : readUsage(v.usage);
  const states = new Map(rotationState(keyring, rot).map((s) => [s.kid, s]));
  const keys = keyring.keys();
  if (v.json === true) {
    const out = keys.map((k) => {
      const s = states.get(k.kid)!;
      return { ...k.toJSON(), phase: s.phase, ...(s.next === undefined ? {} : { next: { step: s.next.step, allowedAt: new Date(s.next.allowedAt).toISOString() } }), ...(usage?.has(k.kid) ? { usage: usage.get(k.kid) } : {}) };
    });
    await writeAll(io.stdout, `${JSON.stringify({ keys: out }, null, 2)}\n`);
    return EXIT_OK;
  }
  const head = ['KID', 'ALG', 'STATUS', 'PHASE', 'ADDED', 'NOT_AFTER', 'POLICY', 'NEXT'];
  if (usage !== undefined) head.push('SEALS', 'OPENS', 'REJECTED', 'LAST_USED');
  const rows = [head];
  for (const k of keys) {
    const s = states.get(k.kid)!;
    const policy = k.policy === undefined ? '-' : [k.policy.ctx && `ctx=${k.policy.ctx.join(',')}`, k.policy.typ && `typ=${k.policy.typ.join(',')}`].filter(Boolean).join(' ') || '-';
    const next = s.next === undefined ? '-' : `${s.next.step} ${s.next.allowedAt <= (rot.now ?? Date.now()) ? 'now' : `from ${when(s.next.allowedAt)}`}`;
    const row = [k.kid, k.alg, k.status, s.phase, when(k.lifecycle?.addedAt), when(k.notAfter), policy, next];
    if (usage !== undefined) {
      const u = usage.get(k.kid);
      row.push(String(u?.seals ?? 0), String(u?.opens ?? 0), String(u?.rejections ?? 0), when(u?.lastUsed));
    }
    rows.push(row);
  }
  await writeAll(io.stdout, table(rows));
  return EXIT_OK;
}

function policyFrom(v: Values): KeyPolicy | undefined {
  const ctx = v['allow-ctx'];
  const typ = v['allow-type'];
  if (ctx === undefined && typ === undefined) return undefined;
  for (const p of [...(ctx ?? []), ...(typ ?? [])]) if (p === '') throw new UsageError('--allow-ctx / --allow-type need a name or a * pattern');
  return { ...(ctx === undefined ? {} : { ctx }), ...(typ === undefined ? {} : { typ }) };
}

function publishHint(keyring: Keyring, file: string): string {
  const symmetric = keyring.keys().some((k) => k.spec.symmetric);
  return symmetric
    ? `publish: copy ${file} to every consumer over a secure channel (HMAC keys are shared secrets)`
    : `publish: sealq public --keyring ${file} > jwks.json, and give it to every consumer`;
}

export const keyCommand: Command = {
  name: 'key',
  summary: 'rotate keys in a keyring file: list, add, promote, retire, revoke, remove',
  help,
  helpFor(args: readonly string[]): string | undefined {
    const sub = args.find((a) => Object.hasOwn(ALLOWED, a)) as Sub | undefined;
    return sub === undefined ? undefined : subHelp(sub);
  },
  async run(args: string[], io: Io): Promise<number> {
    const { values: v, positionals } = parseFlagsAndPositionals(args, OPTIONS);
    const [sub, kid, ...extra] = positionals;
    const s = subcommand('key', sub, v, ALLOWED);
    const needsKid = s !== 'list' && s !== 'add';
    if (needsKid && (kid === undefined || kid === '')) throw new UsageError(`missing KID: sealq key ${s} KID --keyring FILE (see sealq key list)`);
    if ((!needsKid && kid !== undefined) || extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify((needsKid ? extra[0] : kid)!.slice(0, 40))}`);

    const rot: RotationOptions = { force: v.force === true };
    const pd = durationFlag(v['publish-delay'], 'publish-delay');
    const mv = durationFlag(v['max-validity'], 'max-validity');
    const cs = durationFlag(v['clock-skew'], 'clock-skew');
    if (pd !== undefined) rot.publishDelay = pd;
    if (mv !== undefined) rot.maxMessageValidity = mv;
    if (cs !== undefined) rot.clockSkew = cs;
    if (s === 'list') return list(v, io, rot);

    const file = v.keyring;
    if (file === undefined || file === '') throw new UsageError(`missing --keyring FILE: "sealq key ${s}" changes a keyring file (the SEALQ_KEYRING variable cannot be changed)`);
    const now = Date.now();
    rot.now = now;
    const grace = (mv ?? DEFAULT_MAX_AGE_MS) + (cs ?? DEFAULT_CLOCK_SKEW_MS);
    const out: string[] = [];

    if (s === 'add') {
      if (v.alg === undefined) throw new UsageError(`missing --alg: one of ${ALGS.join(', ')}`);
      if (!isAlg(v.alg)) throw new UsageError(`--alg ${JSON.stringify(v.alg.slice(0, 20))} is not supported: use one of ${ALGS.join(', ')}`);
      const alg: Alg = v.alg;
      const policy = policyFrom(v);
      const options = { ...rot, ...(v.kid === undefined ? {} : { kid: v.kid }), ...(policy === undefined ? {} : { policy }) };
      if (!existsSync(file)) {
        if (v.create !== true) throw new UsageError(`${JSON.stringify(file)} does not exist: pass --create to make a new keyring with this key as primary (or sealq keygen)`);
        const ring = addKey(new Keyring([]), alg, { ...options, primary: true });
        writeFileAtomicSync(file, keyringFileText(ring), 0o600);
        const key = ring.primary!;
        await writeAll(io.stdout, `created ${file} (mode 0600) with primary key "${key.kid}" (${key.alg})${policy === undefined ? '' : ', policy ' + JSON.stringify(policy)}\n`);
        return EXIT_OK;
      }
      if (v.create === true) throw new UsageError(`${JSON.stringify(file)} already exists: drop --create to add a key to it`);
      const { before, after } = updateKeyringFileSync(file, (k) => addKey(k, alg, options), { logger: stderrLogger(io, 'key') });
      const key = after.keys().find((k) => before.get(k.kid) === undefined)!;
      out.push(`added key "${key.kid}" (${key.alg}) as verify-only${policy === undefined ? '' : `, policy ${JSON.stringify(policy)}`}`);
      out.push(`next: ${publishHint(after, file)}`);
      out.push(`then, from ${when(now + (pd ?? DEFAULT_PUBLISH_DELAY_MS))} (publish delay): sealq key promote ${key.kid} --keyring ${file}`);
    } else {
      const target = kid!;
      const step = { promote: promoteKey, retire: retireKey, revoke: revokeKey, remove: removeKey }[s];
      let result: { before: Keyring; after: Keyring };
      try {
        result = updateKeyringFileSync(file, (k) => step(k, target, rot), { logger: stderrLogger(io, 'key') });
      } catch (e) {
        if (e instanceof RotationRefusedError && e.forceable) {
          throw new RotationRefusedError(`${e.message} (--force)`, { forceable: true, ...(e.allowedAt === undefined ? {} : { allowedAt: e.allowedAt }) });
        }
        throw e;
      }
      const { before, after } = result;
      if (s === 'promote') {
        const old = before.primary;
        out.push(`promoted "${target}": it signs new messages${old === undefined ? '' : `; "${old.kid}" is now verify-only`}`);
        out.push(`next: producers pick up ${file} (file watch or restart); ${publishHint(after, file)}`);
        if (old !== undefined) out.push(`then, from ${when(now + grace)} (grace period): sealq key retire ${old.kid} --keyring ${file}`);
      } else if (s === 'retire') {
        out.push(`retired "${target}": messages it signs after ${when(after.get(target)!.notAfter)} are rejected; older ones open until they expire`);
        out.push(`next: ${publishHint(after, file)}`);
        out.push(`then, from ${when(now + grace)} (grace period): sealq key remove ${target} --keyring ${file}`);
      } else if (s === 'revoke') {
        out.push(`revoked "${target}": every message signed by it is now rejected (ERR_KEY_INACTIVE), also older ones`);
        out.push(`next, now: ${publishHint(after, file)}`);
      } else {
        out.push(`removed "${target}" from ${file}`);
        out.push(`next: ${publishHint(after, file)}`);
      }
    }
    await writeAll(io.stdout, `${out.join('\n')}\n`);
    return EXIT_OK;
  },
};
