/**
 * The daemon's pid file (`<dataDir>/daemon.pid`) and the process checks around it. A pid file
 * can outlive its process (kill -9, a crash, a reboot) and the pid can be reused by something
 * else, so a pid is only trusted when the process is alive and, where /proc exists, its command
 * line is a spacedrive one.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function pidFilePath(dataDir: string): string {
  return join(dataDir, 'daemon.pid');
}

export function logFilePath(dataDir: string): string {
  return join(dataDir, 'daemon.log');
}

export function writePidFile(dataDir: string, pid = process.pid): void {
  writeFileSync(pidFilePath(dataDir), `${pid}\n`, { mode: 0o600 });
}

/** The pid written in the file, or undefined when there is no readable pid. */
export function readPidFile(dataDir: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(pidFilePath(dataDir), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Removes the pid file if it still names `pid` (a newer daemon may have replaced it). */
export function removePidFile(dataDir: string, pid = process.pid): void {
  if (readPidFile(dataDir) === pid) rmSync(pidFilePath(dataDir), { force: true });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Alive and (where the OS tells) running spacedrive or this very process. */
export function isDaemonProcess(pid: number): boolean {
  if (!isAlive(pid)) return false;
  if (pid === process.pid) return true;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('spacedrive');
  } catch {
    // No /proc (macOS) or the process just exited: trust liveness.
    return isAlive(pid);
  }
}

/** The live daemon pid from the pid file, removing the file when it is stale. */
export function livePid(dataDir: string): number | undefined {
  const pid = readPidFile(dataDir);
  if (pid === undefined) return undefined;
  if (isDaemonProcess(pid)) return pid;
  rmSync(pidFilePath(dataDir), { force: true });
  return undefined;
}

export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return !isAlive(pid);
}
