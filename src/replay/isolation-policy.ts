import { StoreNotIsolatedError } from '../errors.js';
import { consoleLogger } from '../keys/sources.js';
import type { SourceLogger } from '../keys/sources.js';
import type { ReplayStore, StoreIsolationReport } from './store.js';

/**
 * What the adapters do with a replay store's isolation check at start-up: in production
 * (NODE_ENV=production) refuse a store that queue writers can change, unless the user opted out;
 * elsewhere warn once. No Redis import here: the check itself is the store's.
 */

export interface StoreIsolationPolicy {
  /** The connection queue writers use, handed to the store's check. */
  readonly queue: unknown;
  /** The user's explicit opt-out: run even though the store is not shown to be isolated (warns). */
  readonly unsafeSharedReplayStore?: boolean | undefined;
  readonly logger?: SourceLogger | undefined;
  /** Who is starting, for the messages ("sealed processor", "stream consumer orders/billing"). */
  readonly who: string;
}

/** Why the store is unsafe and how to fix it: the text of ERR_STORE_NOT_ISOLATED. */
export function storeIsolationMessage(report: StoreIsolationReport, prefix = 'sealq:r:'): string {
  const what = report.problems.length > 0 ? report.problems.join('; ') : 'the check did not show it isolated';
  return (
    `the replay store is not isolated from the queue: ${what}. Whoever holds the queue's Redis credentials can then delete a message's ` +
    `completed record and add the message again, and it runs twice. Fix: give the store a Redis ACL user of its own limited to its keys ` +
    `(ACL SETUSER sealq-replay on >PASSWORD resetkeys ~${prefix}* resetchannels -@all +eval +evalsha +get +set +pttl +pexpire +del +info +ping) ` +
    `and queue users whose key patterns do not match ${prefix}* (ACL key patterns only allow: list the queue's own prefixes, e.g. ` +
    `~bull:* +@all -@dangerous +info); or put the store on a separate Redis with its own password. See docs/redis.md, "Isolating the replay store"`
  );
}

export const isProduction = (): boolean => process.env.NODE_ENV === 'production';

/**
 * Runs the store's isolation check. Resolves with its report (undefined when the store has no
 * check) when the store is isolated, or when it is not but this is not production or the user
 * opted out (then it warns). Rejects with StoreNotIsolatedError otherwise.
 */
export async function enforceStoreIsolation(store: ReplayStore, policy: StoreIsolationPolicy): Promise<StoreIsolationReport | undefined> {
  const logger = policy.logger ?? consoleLogger;
  if (typeof store.checkIsolation !== 'function') {
    logger.warn(`${policy.who}: the replay store has no isolation check (checkIsolation), so sealq cannot show that queue writers cannot change its records; make sure they cannot`);
    return undefined;
  }
  let report: StoreIsolationReport;
  try {
    report = await store.checkIsolation(policy.queue);
  } catch (e) {
    report = { isolated: false, problems: [`the check failed: ${String((e as Error)?.message ?? e).slice(0, 200)}`] };
  }
  if (report.isolated) return report;
  const text = `${policy.who}: ${storeIsolationMessage(report, (store as { prefix?: string }).prefix)}`;
  if (policy.unsafeSharedReplayStore === true) {
    logger.warn(`${text}. Running anyway: unsafeSharedReplayStore is set.`);
    return report;
  }
  if (isProduction()) throw new StoreNotIsolatedError(`${text}. In production (NODE_ENV=production) sealq refuses to run so; to run anyway, set unsafeSharedReplayStore: true.`);
  logger.warn(`${text}. In production (NODE_ENV=production) sealq would refuse to run.`);
  return report;
}
