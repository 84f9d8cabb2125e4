// Child-process bookkeeping for tests: spawn with stderr captured to a file, wait for readiness,
// kill everything at the end (also on failure), and dump logs when a test fails.

import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** A free loopback TCP port (bind port 0, read it, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

export class ProcessGroup {
  /** @param {string} logDir where NAME.stderr.log / NAME.stdout.log files go */
  constructor(logDir) {
    this.logDir = logDir;
    mkdirSync(logDir, { recursive: true });
    this.procs = [];
  }

  /**
   * Spawn a child. Its stderr (and stdout unless `captureStdout` is false) goes to log files.
   * Returns { child, name, stderrPath, stdoutLines (array, filled as lines arrive), exited (promise) }.
   */
  spawn(name, cmd, args, { env, cwd, captureStdout = true } = {}) {
    if (!existsSync(cmd) && cmd.includes('/')) {
      throw new Error(`${name}: executable not found: ${cmd}`);
    }
    const stderrPath = path.join(this.logDir, `${name}.stderr.log`);
    const stdoutPath = path.join(this.logDir, `${name}.stdout.log`);
    const errFile = createWriteStream(stderrPath);
    const outFile = createWriteStream(stdoutPath);
    const child = spawn(cmd, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: false,
    });
    const entry = {
      name, child, stderrPath, stdoutPath, stdoutLines: [], exitCode: undefined, spawnError: undefined,
    };
    child.stderr.pipe(errFile);
    let buf = '';
    child.stdout.on('data', (d) => {
      if (captureStdout) outFile.write(d);
      buf += d.toString('utf8');
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        entry.stdoutLines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
        entry.onLine?.();
      }
    });
    entry.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        entry.exitCode = code ?? signal;
        resolve(entry.exitCode);
      });
      child.on('error', (e) => {
        entry.spawnError = e;
        entry.exitCode = 'spawn-error';
        resolve(entry.exitCode);
      });
    });
    this.procs.push(entry);
    return entry;
  }

  /** Wait for a stdout line that parses as JSON and satisfies `pred`. */
  async waitForJsonLine(entry, pred, timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const line of entry.stdoutLines) {
        try {
          const obj = JSON.parse(line);
          if (pred(obj)) return obj;
        } catch { /* not JSON */ }
      }
      if (entry.exitCode !== undefined) {
        throw new Error(`${entry.name} exited (${entry.exitCode}${entry.spawnError ? `: ${entry.spawnError.message}` : ''}) before it was ready\n${this.tail(entry)}`);
      }
      if (Date.now() > deadline) throw new Error(`${entry.name} not ready after ${timeoutMs} ms\n${this.tail(entry)}`);
      await sleep(25);
    }
  }

  /** Poll a URL until `ok(response)` (default: status 200). */
  async waitForHttp(entry, url, { timeoutMs = 20000, ok = (r) => r.status === 200 } = {}) {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    for (;;) {
      if (entry.exitCode !== undefined) {
        throw new Error(`${entry.name} exited (${entry.exitCode}${entry.spawnError ? `: ${entry.spawnError.message}` : ''}) before ${url} answered\n${this.tail(entry)}`);
      }
      try {
        const r = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(2000) });
        await r.arrayBuffer();
        if (ok(r)) return r;
        last = `HTTP ${r.status}`;
      } catch (e) {
        last = e.cause?.code ?? e.message;
      }
      if (Date.now() > deadline) throw new Error(`${entry.name}: ${url} not ready after ${timeoutMs} ms (last: ${last})\n${this.tail(entry)}`);
      await sleep(100);
    }
  }

  tail(entry, lines = 40) {
    let text = '';
    try {
      text = readFileSync(entry.stderrPath, 'utf8');
    } catch { /* none */ }
    const t = text.split('\n').slice(-lines).join('\n');
    return `--- ${entry.name} stderr (${entry.stderrPath}) ---\n${t}`;
  }

  dumpAll() {
    return this.procs.map((p) => this.tail(p, 80)).join('\n');
  }

  /** SIGTERM everything, SIGKILL what is still alive after `graceMs`. */
  async killAll(graceMs = 3000) {
    const alive = this.procs.filter((p) => p.exitCode === undefined);
    for (const p of alive) {
      try { p.child.kill('SIGTERM'); } catch { /* gone */ }
    }
    await Promise.race([Promise.all(alive.map((p) => p.exited)), sleep(graceMs)]);
    for (const p of alive) {
      if (p.exitCode === undefined) {
        try { p.child.kill('SIGKILL'); } catch { /* gone */ }
      }
    }
    await Promise.race([Promise.all(alive.map((p) => p.exited)), sleep(1000)]);
  }
}
