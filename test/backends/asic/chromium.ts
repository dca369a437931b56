/**
 * Headless Chromium for the report tests (Debian package `chromium`, /usr/bin/chromium).
 * Offline: no network flags, a fresh profile per run, file:// pages only.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

export const CHROMIUM = process.env.HBNN_CHROMIUM ?? '/usr/bin/chromium';

export function chromiumAvailable(): boolean {
  return fs.existsSync(CHROMIUM);
}

export interface ChromiumRun {
  stdout: string;
  stderr: string;
  status: number | null;
}

function run(page: string, workDir: string, extra: string[]): ChromiumRun {
  const profile = fs.mkdtempSync(path.join(workDir, 'profile-'));
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--hide-scrollbars',
    '--force-device-scale-factor=1',
    '--enable-logging=stderr',
    '--v=0',
    `--user-data-dir=${profile}`,
    '--window-size=1200,1600',
    ...extra,
    pathToFileURL(page).href,
  ];
  const r = spawnSync(CHROMIUM, args, { encoding: 'utf8', timeout: 45_000, maxBuffer: 64 * 1024 * 1024 });
  fs.rmSync(profile, { recursive: true, force: true });
  if (r.error) throw r.error;
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/** The DOM after the page's scripts ran. */
export function dumpDom(page: string, workDir: string): ChromiumRun {
  return run(page, workDir, ['--dump-dom']);
}

/** A 1200×1600 screenshot written to `png`. */
export function screenshot(page: string, png: string, workDir: string): ChromiumRun {
  return run(page, workDir, [`--screenshot=${png}`]);
}

/**
 * Console messages Chromium logged for the page. With --enable-logging=stderr every
 * message (uncaught exceptions, console.error, console.log alike, all at INFO level) is a
 * line `...:INFO:CONSOLE:<line>] "<text>", source: <url> (<line>)` (older versions:
 * `CONSOLE(<line>)`). The report page logs nothing, so any such line is a failure.
 */
export function consoleMessages(stderr: string): string[] {
  return stderr.split('\n').filter((l) => /CONSOLE[:(]\d+|Uncaught/.test(l));
}

/** The value of an attribute on <body> in dumped DOM. */
export function bodyAttribute(dom: string, name: string): string | undefined {
  const body = /<body\b[^>]*>/i.exec(dom)?.[0];
  if (!body) return undefined;
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(body);
  return m ? m[1]!.replace(/&quot;/g, '"').replace(/&amp;/g, '&') : undefined;
}
