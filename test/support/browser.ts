import { createHash, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** Debian's Chromium (scripts/lib.sh installs it); VIREO_CHROMIUM points elsewhere. */
export const CHROMIUM = process.env.VIREO_CHROMIUM ?? '/usr/bin/chromium';

/** Where browser tests put screenshots (git-ignored; CI keeps it as an artifact). */
export const ARTIFACTS = path.join(REPO, 'test-artifacts', 'web');

/** Throws a clear message when Chromium is missing (npm test installs it). */
export function assertChromium(): void {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: run \`npm test\` once (it installs Debian's chromium) or set VIREO_CHROMIUM`,
    );
  }
}

/**
 * The SPKI pin of the engine's server certificate, as Chromium's
 * `--ignore-certificate-errors-spki-list` takes it: the browser then trusts exactly that key, not
 * any certificate (the engine's CA is private; importing it into an NSS database is not needed).
 */
export function spkiPin(certPem: string): string {
  const key = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(key).digest('base64');
}

export interface PortalBrowser {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Dialogs (alert/confirm/prompt) the pages opened: an XSS would show here. */
  dialogs: string[];
  /** CSP violations the pages reported (`directive: blocked URI`). */
  cspViolations: string[];
  /** Saves a full-page PNG to test-artifacts/web/<name>.png; returns its path. */
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * Headless Chromium for portal tests, trusting only the given engine certificate. `--no-sandbox`
 * only when running as root (CI), which Chromium's sandbox refuses.
 */
export async function launchPortalBrowser(opts: {
  serverCertPem: string;
  locale?: string;
  viewport?: { width: number; height: number };
}): Promise<PortalBrowser> {
  assertChromium();
  const args = [`--ignore-certificate-errors-spki-list=${spkiPin(opts.serverCertPem)}`, '--disable-gpu'];
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args });
  try {
    const context = await browser.newContext({
      locale: opts.locale ?? 'en-US',
      viewport: opts.viewport ?? { width: 1440, height: 900 },
      timezoneId: 'UTC',
    });
    const dialogs: string[] = [];
    const cspViolations: string[] = [];
    // Reported from inside each page: the event carries the directive and what was blocked.
    await context.exposeBinding('__vireoCspViolation', (_source, text: string) => {
      cspViolations.push(text);
    });
    // A string: this file is type-checked without the DOM library.
    await context.addInitScript(`document.addEventListener('securitypolicyviolation', (e) =>
      window.__vireoCspViolation(e.effectiveDirective + ': ' + (e.blockedURI || 'inline')));`);
    const page = await context.newPage();
    page.on('dialog', (d) => {
      dialogs.push(`${d.type()}: ${d.message()}`);
      void d.dismiss();
    });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    return {
      browser,
      context,
      page,
      dialogs,
      cspViolations,
      async screenshot(name) {
        const file = path.join(ARTIFACTS, `${name}.png`);
        await page.screenshot({ path: file, fullPage: true });
        return file;
      },
      async close() {
        await browser.close();
      },
    };
  } catch (err) {
    await browser.close();
    throw err;
  }
}
