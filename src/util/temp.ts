/**
 * Temporary folders that are removed on every exit path: by their owner (`dispose`), at
 * process exit (`process.exit`, including the CLI's exit on a closed stdout), and on
 * SIGINT / SIGTERM / SIGHUP, which would otherwise end the process without running exit
 * handlers. The signal handlers exist only while a temporary folder does; after removing
 * the folders they re-raise the signal when nothing else listens for it, so the process
 * still ends as the signal's default says (exit status 130 for Ctrl-C in a shell).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const live = new Set<string>();
let exitHookInstalled = false;

function removeAll(): void {
  for (const dir of live) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort on the way out */
    }
  }
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  removeAll();
  uninstallSignalHandlers();
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

const handlers = new Map<NodeJS.Signals, () => void>(SIGNALS.map((s) => [s, () => onSignal(s)]));

function installSignalHandlers(): void {
  for (const [s, h] of handlers) if (!process.listeners(s).includes(h)) process.on(s, h);
}

function uninstallSignalHandlers(): void {
  for (const [s, h] of handlers) process.removeListener(s, h);
}

export interface TempDir {
  path: string;
  /** Removes the folder (idempotent). */
  dispose(): void;
}

/** A fresh folder `<os.tmpdir()>/<prefix>XXXXXX`, removed on dispose or on any exit. */
export function makeTempDir(prefix: string): TempDir {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  live.add(dir);
  if (!exitHookInstalled) {
    process.on('exit', removeAll);
    exitHookInstalled = true;
  }
  installSignalHandlers();
  return {
    path: dir,
    dispose(): void {
      fs.rmSync(dir, { recursive: true, force: true });
      live.delete(dir);
      if (live.size === 0) uninstallSignalHandlers();
    },
  };
}
