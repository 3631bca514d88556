import { AdapterVerdicts } from '../../adapters/verdicts.js';
import { openOnce } from '../../claim.js';
import { isSealqError } from '../../errors.js';
import { generateKey } from '../../keys/generate.js';
import { exportPublicJwk, importJwk } from '../../keys/jwk.js';
import { Keyring } from '../../keys/keyring.js';
import { MemoryReplayStore } from '../../replay/memory.js';
import type { VerifyMode } from '../../report-mode.js';
import { seal } from '../../seal.js';
import { DemoQueue } from './queue.js';

export const QUEUE = 'payments';
export const JOB_TYPE = 'charge';

export type Expectation = { readonly kind: 'processed'; readonly runs: number } | { readonly kind: 'rejected'; readonly code: string };

export interface Step {
  /** What was sent, for the table; each attack label starts with its name. */
  readonly label: string;
  readonly expect: Expectation;
  /** The envelope as it sits in the queue (a compact string, or whatever an attacker put there). */
  readonly body: string;
  readonly before?: () => void;
}

export interface RowResult {
  readonly step: Step;
  /** processed | retried, then processed | rejected | failed | not processed */
  readonly did: string;
  /** The reason: a rejection code, or how processing went. */
  readonly why: string;
  readonly ok: boolean;
  /** When not ok: what was expected instead. */
  readonly problem?: string;
}

interface Job {
  readonly row: number;
  readonly body: string;
}

interface Tally {
  runs: number;
  completions: number;
  codes: string[];
  failures: string[];
  /** Report mode: the codes runs were let through with. */
  reported: string[];
}

/** Rewrites one dot-separated part of a compact envelope (1 header, 2 payload), as an attacker with broker access would. */
function rewritePart(compact: string, index: 1 | 2, edit: (text: string) => string): string {
  const parts = compact.split('.');
  parts[index] = Buffer.from(edit(Buffer.from(parts[index]!, 'base64url').toString('utf8')), 'utf8').toString('base64url');
  return parts.join('.');
}

const charge = (to: string, cents: number): string => JSON.stringify({ to, amount_cents: cents });

/** A payment gateway that can be told to fail the next call, to exercise a legitimate retry. */
class Gateway {
  #failNext: string | undefined;
  readonly charged: string[] = [];

  failNextCall(reason: string): void {
    this.#failNext = reason;
  }

  async charge(job: { to: string; amount_cents: number }): Promise<void> {
    const reason = this.#failNext;
    this.#failNext = undefined;
    if (reason !== undefined) throw new Error(reason);
    this.charged.push(`${job.to}:${job.amount_cents}`);
  }
}

/**
 * Builds the demo's messages: two legitimate charges (one whose processing fails once and is
 * retried), and one message per attack, each made the way someone with write access to the broker
 * (but without the producer's key) could make it.
 */
function buildSteps(gateway: Gateway, producer: Keyring, partner: ReturnType<typeof generateKey>): Step[] {
  const now = Date.now();
  const opts = { ctx: QUEUE, typ: JOB_TYPE, expiresIn: '10m' };
  const alice = seal(producer, charge('alice', 1000), opts);
  const bob = seal(producer, charge('bob', 2500), opts);
  const email = seal(producer, JSON.stringify({ to: 'dave', template: 'welcome' }), { ctx: 'emails', typ: 'welcome', expiresIn: '10m' });

  const attacker = Keyring.generate('HS256', { kid: 'attacker-key' });
  // Algorithm confusion: HMAC keyed with the partner's PUBLIC Ed25519 key, under the partner's kid,
  // hoping the verifier takes "alg" from the message.
  const x = exportPublicJwk(partner).x as string;
  const confused = new Keyring([importJwk({ kty: 'oct', kid: partner.kid, alg: 'HS256', k: x, status: 'primary' })]);

  return [
    { label: 'charge alice 10.00', expect: { kind: 'processed', runs: 1 }, body: alice },
    { label: 'charge bob 25.00 (gateway fails once)', expect: { kind: 'processed', runs: 2 }, body: bob, before: () => gateway.failNextCall('gateway timeout') },
    { label: 'unsigned job pushed into the queue', expect: { kind: 'rejected', code: 'ERR_MALFORMED' }, body: charge('mallory', 100000) },
    {
      label: 'payload tampered: carol 10.00 -> 1000.00',
      expect: { kind: 'rejected', code: 'ERR_SIGNATURE_INVALID' },
      body: rewritePart(seal(producer, charge('carol', 1000), opts), 2, (p) => p.replace('1000', '100000')),
    },
    {
      label: 'header tampered: email job -> payments',
      expect: { kind: 'rejected', code: 'ERR_SIGNATURE_INVALID' },
      body: rewritePart(email, 1, (h) => h.replace('"ctx":"emails"', `"ctx":"${QUEUE}"`).replace('"typ":"welcome"', `"typ":"${JOB_TYPE}"`)),
    },
    { label: 'forged with an unknown key', expect: { kind: 'rejected', code: 'ERR_KEY_UNKNOWN' }, body: seal(attacker, charge('mallory', 100000), opts) },
    { label: 'replayed: charge alice, after completion', expect: { kind: 'rejected', code: 'ERR_REPLAYED' }, body: alice },
    {
      label: 'expired: sealed 1h ago, valid 10m',
      expect: { kind: 'rejected', code: 'ERR_EXPIRED' },
      body: seal(producer, charge('erin', 500), { ...opts, now: now - 3_600_000 }),
    },
    {
      label: 'early: delayed charge, due in 1h',
      expect: { kind: 'rejected', code: 'ERR_NOT_YET_VALID' },
      body: seal(producer, charge('frank', 700), { ctx: QUEUE, typ: JOB_TYPE, notBefore: now + 3_600_000, expiresAt: now + 7_200_000 }),
    },
    { label: 'wrong queue: email job moved to payments', expect: { kind: 'rejected', code: 'ERR_CONTEXT_MISMATCH' }, body: email },
    {
      label: 'wrong type: refund job on a charge worker',
      expect: { kind: 'rejected', code: 'ERR_TYPE_MISMATCH' },
      body: seal(producer, charge('grace', 900), { ctx: QUEUE, typ: 'refund', expiresIn: '10m' }),
    },
    { label: 'algorithm confusion: HS256 w/ Ed25519 pubkey', expect: { kind: 'rejected', code: 'ERR_ALG_MISMATCH' }, body: seal(confused, charge('mallory', 100000), opts) },
  ];
}

function judge(step: Step, t: Tally): RowResult {
  let did: string;
  let why: string;
  if (t.reported.length > 0) {
    did = 'processed (report mode)';
    why = `would reject: ${t.reported.join(', ')}`;
    const e = step.expect;
    const ok = e.kind === 'rejected' && t.runs === 1 && t.completions === 1 && t.reported.length === 1 && t.reported[0] === e.code && t.codes.length === 0;
    return ok ? { step, did, why, ok } : { step, did, why, ok, problem: e.kind === 'rejected' ? `expected processed once and reported with ${e.code}` : 'a legitimate message was reported' };
  }
  if (t.completions > 0) {
    did = t.runs > 1 ? 'retried, then processed' : 'processed';
    why = t.runs > 1 ? `run 1 threw (${t.failures[0]}), released; run ${t.runs} completed` : 'verified, claimed, completed';
  } else if (t.codes.length > 0) {
    did = 'rejected';
    why = t.codes[t.codes.length - 1]!;
  } else if (t.failures.length > 0) {
    did = 'failed';
    why = t.failures[t.failures.length - 1]!;
  } else {
    did = 'not processed';
    why = 'never delivered';
  }
  const e = step.expect;
  if (e.kind === 'processed') {
    const ok = t.completions === 1 && t.runs === e.runs && t.codes.length === 0;
    return ok ? { step, did, why, ok } : { step, did, why, ok, problem: `expected processed exactly once after ${e.runs} run(s); ran ${t.runs}, completed ${t.completions}${t.codes.length > 0 ? `, rejected ${t.codes.join(', ')}` : ''}` };
  }
  const ok = t.runs === 0 && t.completions === 0 && t.codes.length > 0 && t.codes.every((c) => c === e.code);
  return ok ? { step, did, why, ok } : { step, did, why, ok, problem: `expected rejected with ${e.code}${t.runs > 0 ? `; the processor ran ${t.runs} time(s)` : ''}` };
}

export interface DemoResult {
  /** 'report': the consumer ran in report mode (attacks processed and reported, not rejected). */
  readonly mode?: 'report';
  readonly rows: RowResult[];
  readonly deadLetters: number;
  readonly charged: readonly string[];
  readonly kid: string;
}

export interface DemoOptions {
  /** The consumer's mode: 'report' processes every attack and reports the code it would have got. Default enforce. */
  mode?: VerifyMode;
}

/** Runs producer -> in-process queue -> consumer with the embedded defaults, and judges every row. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const producer = Keyring.generate('HS256', { kid: 'demo-hs256' });
  const partner = generateKey('EdDSA', { kid: 'partner-ed25519', status: 'active' });
  // The consumer holds the shared HS256 secret and trusts a partner's Ed25519 public key.
  const consumer = producer.with(partner.toPublic());
  const store = new MemoryReplayStore();
  const gateway = new Gateway();
  const queue = new DemoQueue<Job>(QUEUE);
  const steps = buildSteps(gateway, producer, partner);
  const tallies = steps.map((): Tally => ({ runs: 0, completions: 0, codes: [], failures: [], reported: [] }));
  // The demo queue reports its dead letters the way every adapter does (metrics, logs, traces).
  const verdicts = new AdapterVerdicts({ adapter: 'demo', consumerCtx: QUEUE, keptIn: 'demo-dead-letters' });
  const claimOptions = options.mode === undefined ? { ctx: QUEUE, typ: JOB_TYPE, replay: store } : { ctx: QUEUE, typ: JOB_TYPE, replay: store, mode: options.mode };

  queue.consume(async ({ message }) => {
    const t = tallies[message.row]!;
    try {
      await openOnce(consumer, message.body, claimOptions, async (msg) => {
        t.runs++;
        if (msg.wouldReject !== undefined) t.reported.push(msg.wouldReject.code);
        await gateway.charge(JSON.parse(msg.payload.toString('utf8')) as { to: string; amount_cents: number });
      });
      t.completions++;
      return { verdict: 'ack' };
    } catch (e) {
      if (isSealqError(e) && e.rejection) {
        t.codes.push(e.code);
        if (!e.retryable) verdicts.deadLettered(e.code, message.body);
        return { verdict: e.retryable ? 'retry' : 'dead-letter', reason: e.code };
      }
      // The processor failed: openOnce released the claim, so the redelivery may run it again.
      const reason = (e as Error)?.message ?? String(e);
      t.failures.push(reason);
      return { verdict: 'retry', reason };
    }
  });

  for (const [row, step] of steps.entries()) {
    step.before?.();
    queue.push({ row, body: step.body });
    await queue.drained();
  }
  const mode = options.mode === 'report' ? { mode: 'report' as const } : {};
  return { ...mode, rows: steps.map((s, i) => judge(s, tallies[i]!)), deadLetters: queue.deadLetters.length, charged: gateway.charged, kid: producer.primary!.kid };
}
