import type { FlowJob, FlowOpts, FlowProducer, JobNode } from 'bullmq';
import { InvalidArgumentError } from '../../errors.js';
import type { Keyring, KeyringSource } from '../../keys/keyring.js';
import { settingsOf } from './queue.js';
import type { SealedQueueOptions } from './queue.js';
import { sealJobDataAuto } from './seal-job.js';
import type { JobSealSettings } from './seal-job.js';
import { wrapWith } from './wrap.js';

/**
 * A child node of a flow, as BullMQ types it. Taken from FlowJob rather than named: BullMQ 5
 * exports it as FlowChildJob, BullMQ 6 as FlowJobNode (and no longer exports FlowChildJob).
 */
type FlowChild = NonNullable<FlowJob['children']>[number];

/** A flow node as you write it: plain data, any queue, any children. */
export interface PlainFlowJob<T = unknown> extends Omit<FlowJob, 'data' | 'children'> {
  data?: T;
  children?: Array<PlainFlowChildJob<T>>;
}
export interface PlainFlowChildJob<T = unknown> extends Omit<FlowChild, 'data' | 'children'> {
  data?: T;
  children?: Array<PlainFlowChildJob<T>>;
}

export type SealedFlowProducer<T = unknown> = Omit<FlowProducer, 'add' | 'addBulk'> & {
  add(flow: PlainFlowJob<T>, opts?: FlowOpts): Promise<JobNode>;
  addBulk(flows: Array<PlainFlowJob<T>>): Promise<JobNode[]>;
  /** The wrapped FlowProducer, unsealed. */
  readonly unsealed: FlowProducer;
};

async function sealNode<N extends FlowJob | FlowChild>(
  keyring: Keyring | KeyringSource,
  node: PlainFlowJob | PlainFlowChildJob,
  settings: JobSealSettings,
  flowOpts: FlowOpts | undefined,
): Promise<N> {
  if (typeof node !== 'object' || node === null) throw new InvalidArgumentError('a flow node must be an object with name and queueName');
  const defaults = flowOpts?.queuesOptions?.[node.queueName]?.defaultJobOptions;
  const delay = node.opts?.delay ?? defaults?.delay;
  const data = await sealJobDataAuto(keyring, node.queueName, node.name, node.data, { ...settings, ...(delay === undefined ? {} : { delay }) });
  const out = { ...node, data } as N;
  if (node.children !== undefined) {
    out.children = await Promise.all(node.children.map((c) => sealNode<FlowChild>(keyring, c, settings, flowOpts)));
  }
  return out;
}

/**
 * Seals every node of a flow tree for its own queue (context) and name (type), parents and
 * children alike. Returns a new tree for FlowProducer.add; the input is not changed.
 */
export function sealFlow<T = unknown>(keyring: Keyring | KeyringSource, flow: PlainFlowJob<T>, settings: JobSealSettings = {}, flowOpts?: FlowOpts): Promise<FlowJob> {
  return sealNode<FlowJob>(keyring, flow, settingsOf(settings), flowOpts);
}

/**
 * Wraps a BullMQ FlowProducer so that add and addBulk seal every node of every tree:
 *
 *     const flows = sealedFlowProducer(new FlowProducer({ connection }), { keyring });
 *     await flows.add({ name: 'render', queueName: 'renders', data, children: [...] });
 */
export function sealedFlowProducer<T = unknown>(producer: FlowProducer, options: SealedQueueOptions): SealedFlowProducer<T> {
  if (typeof producer?.add !== 'function' || typeof producer.addBulk !== 'function') throw new InvalidArgumentError('sealedFlowProducer needs a BullMQ FlowProducer');
  if (options?.keyring === undefined) throw new InvalidArgumentError('sealedFlowProducer needs { keyring }: the keys to seal jobs with');
  const { keyring } = options;
  const settings = settingsOf(options);
  const add = async (flow: PlainFlowJob<T>, opts?: FlowOpts): Promise<JobNode> => producer.add(await sealNode<FlowJob>(keyring, flow, settings, opts), opts);
  const addBulk = async (flows: Array<PlainFlowJob<T>>): Promise<JobNode[]> => {
    if (!Array.isArray(flows)) throw new InvalidArgumentError('addBulk takes an array of flows');
    return producer.addBulk(await Promise.all(flows.map((f) => sealNode<FlowJob>(keyring, f, settings, undefined))));
  };
  return wrapWith(producer, { add, addBulk, unsealed: producer }) as unknown as SealedFlowProducer<T>;
}
