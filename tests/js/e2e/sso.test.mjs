// Browser end-to-end: one test OP, two sites (octogate + PHP stand-in each), single sign-on,
// roles, deny pages, sign-out, and header forgery. See tests/js/README.md.
//
//   OCTOGATE_BIN=target/debug/octogate node --test tests/js/e2e/
//
// It fails (never skips) with a clear message when octogate, php, the stand-in or chromium is missing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { sign } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { ProcessGroup, freePort } from '../lib/procs.mjs';
import { startOp } from '../lib/op.mjs';
import { preflight, startSite, ed25519KeyPair } from '../lib/site.mjs';
import { launchBrowser, trackDocuments, visit } from '../lib/browser.mjs';

const OUT = fileURLToPath(new URL('./output/', import.meta.url));

const USERS = {
  alice: {
    id: 'u-alice', login: 'alice', password: 'alice-pw-1', email: 'alice@example.com', email_verified: true, name: 'Alice Example', preferred_username: 'alice', groups: ['cms-site1-editors'],
  },
  bob: {
    id: 'u-bob', login: 'bob', password: 'bob-pw-1', email: 'bob@example.com', email_verified: true, name: 'Bob Example', preferred_username: 'bob', groups: ['cms-site1-admins', 'cms-site2-publishers'],
  },
  carol: {
    id: 'u-carol', login: 'carol', password: 'carol-pw-1', email: 'carol@example.com', email_verified: true, name: 'Carol Example', preferred_username: 'carol', groups: ['marketing'],
  },
};

const creds = (u) => ({ login: USERS[u].login, password: USERS[u].password });

function b64url(x) {
  return Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
}

test('single sign-on across two octogate sites (browser e2e)', { timeout: 175_000 }, async (t) => {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const group = new ProcessGroup(OUT);
  let browser;
  const pages = {};
  const shot = async (page, name) => {
    await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
  };
  /** render a fetch() answer in a page, for the screenshot of a non-browser step */
  const shotHtml = async (name, html) => {
    const p = pages.scratch ?? (pages.scratch = await (await browser.newContext()).newPage());
    await p.setContent(html, { waitUntil: 'load' });
    await shot(p, name);
  };

  const failures = [];
  const failShots = async (label) => {
    for (const [who, page] of Object.entries(pages)) {
      try { await shot(page, `failure-${label}-${who}`); } catch { /* page gone */ }
    }
  };
  // t.test() does not throw when a step fails: record it, so the logs are printed below.
  const step = (name, fn) => t.test(name, async () => {
    try {
      await fn();
    } catch (e) {
      failures.push(`${name}: ${e.message}`);
      await failShots(name.split('.')[0]);
      throw e;
    }
  });
  let failed = false;

  try {
    preflight();

    // Ports of the two octogates first: they are part of the redirect URIs registered at the OP.
    const port1 = await freePort();
    let port2 = await freePort();
    while (port2 === port1) port2 = await freePort();
    const site1Base = `http://127.0.0.1:${port1}`;
    const site2Base = `http://127.0.0.1:${port2}`;
    const secret1 = `s1-${Math.random().toString(36).slice(2)}`;
    const secret2 = `s2-${Math.random().toString(36).slice(2)}`;

    const op = await startOp(group, {
      clients: [
        {
          client_id: 'site1', client_secret: secret1, redirect_uris: [`${site1Base}/oauth2/callback`], post_logout_redirect_uris: [`${site1Base}/`],
        },
        {
          client_id: 'site2', client_secret: secret2, redirect_uris: [`${site2Base}/oauth2/callback`], post_logout_redirect_uris: [`${site2Base}/`],
        },
      ],
      users: Object.values(USERS),
    });

    const [site1, site2] = await Promise.all([
      startSite(group, {
        name: 'site1',
        port: port1,
        issuer: op.issuer,
        clientId: 'site1',
        clientSecret: secret1,
        audience: 'site1',
        allowedGroups: ['cms-site1-admins', 'cms-site1-editors'],
        roles: [
          { group: 'cms-site1-admins', role: 'developer', superuser: true },
          { group: 'cms-site1-editors', role: 'editor', superuser: false },
        ],
      }, freePort),
      startSite(group, {
        name: 'site2',
        port: port2,
        issuer: op.issuer,
        clientId: 'site2',
        clientSecret: secret2,
        audience: 'site2',
        allowedGroups: ['cms-site2-publishers'],
        roles: [{ group: 'cms-site2-publishers', role: 'publisher', superuser: false }],
      }, freePort),
    ]);

    browser = await launchBrowser();
    const newPage = async (who) => {
      const context = await browser.newContext();
      const page = await context.newPage();
      page.setDefaultTimeout(15000);
      page.setDefaultNavigationTimeout(15000);
      pages[who] = page;
      return { context, page, docs: trackDocuments(page) };
    };
    const bob = await newPage('bob');

    const expectBackend = async (page, { login, role, superuser }) => {
      await page.waitForSelector('#user-login');
      assert.equal((await page.textContent('#user-login')).trim(), login);
      assert.equal((await page.textContent('#user-email')).trim(), USERS[login].email);
      assert.equal((await page.textContent('#user-role')).trim(), role);
      assert.equal((await page.textContent('#user-superuser')).trim(), superuser ? 'yes' : 'no');
      assert.equal(await page.locator('#sign-out').getAttribute('href'), '/backend/backend/auth/signout');
    };
    const expectDenied = async (page, docs, where) => {
      assert.ok(page.url().startsWith(`${where}/`), `expected to be back at ${where}, at ${page.url()}`);
      await page.waitForSelector('#octogate-denied');
      assert.equal(docs.last().status, 403, `deny page status (last documents: ${JSON.stringify(docs.docs.slice(-3).map((d) => `${d.status} ${d.method} ${d.url}`))})`);
    };

    await step('1. bob signs in at site1 with password and consent', async () => {
      // without a session, /backend answers 302 to the OP
      const direct = await fetch(`${site1Base}/backend`, { redirect: 'manual', headers: { accept: 'text/html' }, signal: AbortSignal.timeout(10000) });
      assert.equal(direct.status, 302);
      assert.ok(direct.headers.get('location').startsWith(`${op.issuer}/`), `302 to the OP, got ${direct.headers.get('location')}`);

      await bob.page.goto(`${site1Base}/backend`);
      assert.ok(bob.page.url().startsWith(`${op.issuer}/interaction/`), `at the OP login page, at ${bob.page.url()}`);
      await bob.page.waitForSelector('#login');
      await shot(bob.page, '1a-bob-site1-op-login');
      await bob.page.fill('#login', 'bob');
      await bob.page.fill('#password', USERS.bob.password);
      await Promise.all([bob.page.waitForEvent('load'), bob.page.click('#submit')]);
      await bob.page.waitForSelector('#consent');
      await shot(bob.page, '1b-bob-site1-op-consent');
      await Promise.all([bob.page.waitForEvent('load'), bob.page.click('#consent')]);
      assert.equal(bob.page.url(), `${site1Base}/backend`);
      await expectBackend(bob.page, { login: 'bob', role: 'developer', superuser: true });
      await shot(bob.page, '1c-bob-site1-backend');
    });

    await step('2. bob reaches site2 without a password page (single sign-on)', async () => {
      const mark = bob.docs.mark();
      const seen = await visit(bob.page, `${site2Base}/backend`, { opIssuer: op.issuer });
      assert.ok(!seen.includes('login'), `a login form was shown: ${JSON.stringify(seen)}`);
      assert.ok(bob.docs.since(mark).some((d) => d.url.startsWith(`${op.issuer}/auth`)), 'went through the OP');
      assert.equal(bob.page.url(), `${site2Base}/backend`);
      await expectBackend(bob.page, { login: 'bob', role: 'publisher', superuser: false });
      await shot(bob.page, '2-bob-site2-backend-sso');
    });

    await step('3. alice is an editor on site1 and denied on site2', async () => {
      const alice = await newPage('alice');
      const seen1 = await visit(alice.page, `${site1Base}/backend`, { opIssuer: op.issuer, creds: creds('alice') });
      assert.equal(seen1[0], 'login');
      await expectBackend(alice.page, { login: 'alice', role: 'editor', superuser: false });
      await shot(alice.page, '3a-alice-site1-backend');
      const seen2 = await visit(alice.page, `${site2Base}/backend`, { opIssuer: op.issuer });
      assert.ok(!seen2.includes('login'), `a login form was shown: ${JSON.stringify(seen2)}`);
      await expectDenied(alice.page, alice.docs, site2Base);
      await shot(alice.page, '3b-alice-site2-denied');
    });

    await step('4. carol (no CMS group) is denied on site1', async () => {
      const carol = await newPage('carol');
      await visit(carol.page, `${site1Base}/backend`, { opIssuer: op.issuer, creds: creds('carol') });
      await expectDenied(carol.page, carol.docs, site1Base);
      await shot(carol.page, '4-carol-site1-denied');
    });

    await step('5. bob signs out at site1: cookies gone, OP session ended', async () => {
      const before = (await bob.context.cookies(site1Base)).map((c) => c.name);
      assert.ok(before.some((n) => n.startsWith(site1.cookieName)), `bob has a site1 session cookie before (${before})`);
      // October's own sign-out link: the shim logs out of October and sends the browser to
      // octogate's /oauth2/sign_out, which ends the OP session too.
      await bob.page.goto(`${site1Base}/backend`);
      await bob.page.click('#sign-out');
      // the OP's sign-out page submits itself (see op/README.md), then sends us to site1 "/"
      // The OP appends the logout `state` we sent to post_logout_redirect_uri.
      await bob.page.waitForURL((u) => u.origin === site1Base && u.pathname === '/', { waitUntil: 'load' });
      assert.equal((await bob.page.textContent('#identity')).trim(), 'anonymous');
      const after = (await bob.context.cookies(site1Base)).map((c) => c.name);
      assert.ok(!after.some((n) => n.startsWith(site1.cookieName)), `octogate cookies still there: ${after}`);
      await shot(bob.page, '5a-bob-signed-out-site1-home');
      await bob.page.goto(`${site1Base}/backend`);
      assert.ok(bob.page.url().startsWith(`${op.issuer}/interaction/`), `at the OP, at ${bob.page.url()}`);
      await bob.page.waitForSelector('#password');
      await shot(bob.page, '5b-bob-site1-op-login-again');
    });

    await step('6. the stand-in refuses /backend requests that bypass octogate', async () => {
      const r = await fetch(`${site1.phpBase}/backend`, {
        redirect: 'manual',
        headers: { 'X-Forwarded-User': 'bob', 'X-Forwarded-Email': 'bob@example.com' },
        signal: AbortSignal.timeout(10000),
      });
      const html = await r.text();
      assert.equal(r.status, 403);
      assert.match(html, /id="shim-denied"/);
      await shotHtml('6-standin-backend-direct-denied', html);
    });

    await step('7. forged identity headers on the public page stay anonymous', async () => {
      // an assertion-shaped token signed by a key octogate/the shim have never seen
      const attacker = ed25519KeyPair();
      const now = Math.floor(Date.now() / 1000);
      const head = b64url({ alg: 'EdDSA', typ: 'octogate-assertion+jwt' });
      const body = b64url({
        iss: site1Base, aud: 'site1', sub: 'u-bob', login: 'bob', email: 'bob@example.com', role: 'developer', superuser: true, iat: now, exp: now + 60,
      });
      const forged = `${head}.${body}.${sign(null, Buffer.from(`${head}.${body}`), attacker.privateKey).toString('base64url')}`;
      const r = await fetch(`${site1Base}/`, {
        redirect: 'manual',
        headers: {
          'X-Octogate-Assertion': forged,
          'X-Forwarded-User': 'bob',
          'X-Forwarded-Email': 'bob@example.com',
          'X-Forwarded-Groups': 'cms-site1-admins',
        },
        signal: AbortSignal.timeout(10000),
      });
      const html = await r.text();
      assert.equal(r.status, 200);
      assert.match(html, /<p id="identity">\s*anonymous\s*<\/p>/);
      await shotHtml('7-public-page-forged-headers-anonymous', html);
    });
  } catch (e) {
    failed = true;
    failures.push(e.stack);
    await failShots('setup');
    throw e;
  } finally {
    if (failed || failures.length) {
      const logs = group.dumpAll();
      writeFileSync(path.join(OUT, 'failure-logs.txt'), `${failures.join('\n\n')}\n\n${logs}\n`);
      console.error(`\n===== e2e failed:\n${failures.join('\n')}\n===== child stderr (also in ${OUT}):\n${logs}`);
    }
    try { await browser?.close(); } catch { /* ignore */ }
    await group.killAll();
  }
});
