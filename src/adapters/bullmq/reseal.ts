import { InvalidArgumentError } from '../../errors.js';
import type { Keyring, KeyringSource } from '../../keys/keyring.js';
import { sealObjectAsync } from '../../seal.js';
import type { SealOptions } from '../../seal.js';
import { viewState } from './processor.js';
import type { SealedJob } from './processor.js';
import { JOB_CONTENT_TYPE, jobPayload } from './seal-job.js';

/**
 * Replaces a running job's data with `data`, sealed, from inside a trusted sealed processor
 * (BullMQ's job.updateData would store it unsealed, and the next attempt would be rejected).
 * The new seal keeps the job's context, type, envelope id (so the replay store still sees one
 * message) and validity window; it is signed by `keyring`'s primary key.
 *
 *     await resealJob(job, { ...job.data, step: 2 }, { keyring });
 */
export async function resealJob<T>(job: SealedJob<T, any>, data: T, options: { keyring: Keyring | KeyringSource }): Promise<void> {
  const state = viewState(job as object);
  if (state === undefined) throw new InvalidArgumentError('resealJob takes the job your sealed processor was given (sealedProcessor / sealedSandbox)');
  if (options?.keyring === undefined) throw new InvalidArgumentError('resealJob needs { keyring }: a keyring that can sign');
  const h = state.seal.header;
  const o: SealOptions = { ctx: h.ctx, id: h.id, ct: JOB_CONTENT_TYPE };
  if (h.typ !== undefined) o.typ = h.typ;
  if (h.nbf !== undefined) o.notBefore = h.nbf;
  if (h.exp !== undefined) o.expiresAt = h.exp;
  const text = jobPayload(data);
  const sealed = await sealObjectAsync(options.keyring, text, o);
  await state.target.updateData(sealed);
  // What the processor sees from now on is what a later attempt will see: the JSON round trip.
  state.data = JSON.parse(text);
}
