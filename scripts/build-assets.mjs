// `npm run build` step 2: what tsc does not emit but the compiled service needs beside its code:
// the dashboard's and the operations page's files, the failure converter the SDK loads by path and
// the dev server's guard.
import { cpSync } from 'node:fs';

for (const path of ['dashboard', 'operations-page', 'codec/failure-converter.js', 'temporal/dev-server-guard.js']) {
  cpSync(`src/${path}`, `dist/${path}`, { recursive: true });
}
