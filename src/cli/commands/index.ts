import type { Command } from '../command.js';
import { demo } from './demo.js';
import { inspectCommand } from './inspect.js';
import { keyCommand } from './key.js';
import { keygen } from './keygen.js';
import { keyringCommand } from './keyring.js';
import { openCommand } from './open.js';
import { publicCommand } from './public.js';
import { sealCommand } from './seal.js';
import { statsCommand } from './stats.js';

/** Every `sealq` command, in the order `sealq --help` lists them. To add one, append it here. */
export const COMMANDS: Command[] = [keygen, publicCommand, sealCommand, openCommand, inspectCommand, demo, keyCommand, keyringCommand, statsCommand];
