// Headless chromium (the system one, never downloaded) through playwright-core.

import { chromium } from 'playwright-core';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

/** playwright creates a fresh temporary user-data-dir for every launch() and removes it on close. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    timeout: 30000,
  });
}

/**
 * Record the main-frame document responses of a page, so tests can read the status of the page
 * finally shown and see every page that went by (e.g. to assert that no login form was shown).
 */
export function trackDocuments(page) {
  const docs = [];
  page.on('response', (r) => {
    const req = r.request();
    if (req.isNavigationRequest() && req.frame() === page.mainFrame()) {
      docs.push({ url: r.url(), status: r.status(), method: req.method() });
    }
  });
  return {
    docs,
    mark() { return docs.length; },
    since(i) { return docs.slice(i); },
    /** last non-redirect document response */
    last() { return [...docs].reverse().find((d) => d.status < 300 || d.status >= 400); },
  };
}

/**
 * Navigate to `url`, then handle OP pages until we leave the OP:
 * the login form is filled with `creds` (if given; otherwise we stop on it), the consent page is
 * accepted. Returns the list of OP pages seen ('login', 'consent').
 */
export async function visit(page, url, { opIssuer, creds, maxSteps = 6 } = {}) {
  const seen = [];
  await page.goto(url, { waitUntil: 'load' });
  for (let i = 0; i < maxSteps; i += 1) {
    if (!page.url().startsWith(`${opIssuer}/`)) return seen;
    if (await page.locator('#password').count()) {
      seen.push('login');
      if (!creds) return seen;
      await page.fill('#login', creds.login);
      await page.fill('#password', creds.password);
      await Promise.all([page.waitForEvent('load'), page.click('#submit')]);
      if (await page.locator('#error').count()) {
        throw new Error(`OP refused the login of ${creds.login}: ${await page.textContent('#error')}`);
      }
    } else if (await page.locator('#consent').count()) {
      seen.push('consent');
      await Promise.all([page.waitForEvent('load'), page.click('#consent')]);
    } else if (await page.locator('#logout').count()) {
      // the OP's sign-out page presses its own button; wait for it to move on
      await page.waitForURL((u) => !u.href.startsWith(`${opIssuer}/session/end`), { timeout: 10000 });
    } else {
      const body = (await page.content()).slice(0, 600);
      throw new Error(`stuck on an unexpected OP page ${page.url()}:\n${body}`);
    }
  }
  throw new Error(`still at the OP after ${maxSteps} steps: ${page.url()}`);
}
