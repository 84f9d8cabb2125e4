// Start the test OP (tests/js/op/server.mjs) as a child process and talk to its admin API.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const OP_SERVER = fileURLToPath(new URL('../op/server.mjs', import.meta.url));

/**
 * @param {import('./procs.mjs').ProcessGroup} group
 * @param {object} config the OP config JSON (see op/README.md)
 * @returns {Promise<{issuer:string, entry:object, admin:Function, stats:Function}>}
 */
export async function startOp(group, config, { name = 'op', timeoutMs = 15000 } = {}) {
  const cfgPath = path.join(group.logDir, `${name}.config.json`);
  writeFileSync(cfgPath, JSON.stringify({ host: '127.0.0.1', port: 0, ...config }, null, 2));
  const entry = group.spawn(name, process.execPath, [OP_SERVER, '--config', cfgPath]);
  const ready = await group.waitForJsonLine(entry, (o) => o.ready === true, timeoutMs);
  const { issuer } = ready;
  async function admin(method, p, body) {
    const r = await fetch(`${issuer}/__admin/${p}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    const json = await r.json();
    if (!r.ok) throw new Error(`admin ${method} ${p}: HTTP ${r.status} ${JSON.stringify(json)}`);
    return json;
  }
  return {
    issuer,
    entry,
    admin,
    stats: () => admin('GET', 'stats'),
    setGroups: (id, groups) => admin('POST', `users/${encodeURIComponent(id)}/groups`, { groups }),
    disable: (id) => admin('POST', `users/${encodeURIComponent(id)}/disable`),
    enable: (id) => admin('POST', `users/${encodeURIComponent(id)}/enable`),
    rotateKeys: () => admin('POST', 'rotate-keys'),
    down: () => admin('POST', 'down'),
    up: () => admin('POST', 'up'),
  };
}
