// tsc does not set the executable bit; the bin must have it for `npx sealq` from a checkout.
import { chmodSync } from 'node:fs';
chmodSync(new URL('../dist/cli/main.js', import.meta.url), 0o755);
