// Tests of the test OP itself, by plain HTTP (no browser): node --test tests/js/op/
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ProcessGroup } from '../lib/procs.mjs';
import { startOp } from '../lib/op.mjs';
import {
  CookieJar, request, follow, pkcePair, decodeJwt, formAction,
} from '../lib/http.mjs';

const RP1 = 'http://127.0.0.1:1/cb'; // never contacted: we stop at the redirect
const RP2 = 'http://127.0.0.1:2/cb';

const config = {
  clients: [
    {
      client_id: 'site1', client_secret: 'secret1', redirect_uris: [RP1], post_logout_redirect_uris: ['http://127.0.0.1:1/'],
    },
    {
      client_id: 'site2', client_secret: 'secret2', redirect_uris: [RP2], token_endpoint_auth_method: 'client_secret_post',
    },
  ],
  users: [
    {
      id: 'u-bob', login: 'bob', password: 'bob-pw', email: 'bob@example.com', email_verified: true, name: 'Bob B', preferred_username: 'bob', groups: ['cms-site1-admins', 'cms-site2-publishers'],
    },
    {
      id: 'u-dave', login: 'dave', password: 'dave-pw', email: 'dave@example.com', name: 'Dave', groups: ['g'],
    },
  ],
  accessTokenTTL: 300,
  idTokenTTL: 300,
};

let group;
let op;
let disco;

function basic(id, secret) {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

function authUrl(clientId, redirectUri, challenge, extra = {}) {
  const u = new URL(disco.authorization_endpoint);
  const p = {
    client_id: clientId,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'openid email profile groups offline_access',
    state: `st-${Math.random()}`,
    nonce: `n-${Math.random()}`,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  };
  for (const [k, v] of Object.entries(p)) if (v !== undefined) u.searchParams.set(k, v);
  return u.href;
}

/**
 * Run the authorization request; submit login/consent pages as they come.
 * Returns { code, pages: ['login', 'consent', ...] }.
 */
async function authorize(jar, { clientId = 'site1', redirectUri = RP1, login, password } = {}) {
  const { verifier, challenge } = pkcePair();
  const pages = [];
  let { res, stopped } = await follow(jar, authUrl(clientId, redirectUri, challenge), {}, { stopAt: (l) => l.startsWith(redirectUri) });
  for (let i = 0; !stopped && i < 5; i += 1) {
    assert.equal(res.status, 200, `expected an interaction page, got ${res.status}: ${res.text.slice(0, 300)}`);
    const action = formAction(res.text);
    assert.ok(action, `no form in page: ${res.text.slice(0, 300)}`);
    const target = new URL(action, res.url).href;
    if (res.text.includes('id="password"')) {
      pages.push('login');
      ({ res, stopped } = await follow(jar, target, { method: 'POST', form: { login, password } }, { stopAt: (l) => l.startsWith(redirectUri) }));
    } else if (res.text.includes('id="consent"')) {
      pages.push('consent');
      ({ res, stopped } = await follow(jar, target, { method: 'POST', form: {} }, { stopAt: (l) => l.startsWith(redirectUri) }));
    } else {
      assert.fail(`unexpected page: ${res.text.slice(0, 300)}`);
    }
  }
  assert.ok(stopped, 'never redirected back to the client');
  const back = new URL(stopped);
  assert.equal(back.searchParams.get('iss'), op.issuer);
  return {
    code: back.searchParams.get('code'), error: back.searchParams.get('error'), verifier, pages,
  };
}

async function token(clientId, form) {
  const secret = config.clients.find((c) => c.client_id === clientId).client_secret;
  const post = clientId === 'site2';
  const r = await request(null, disco.token_endpoint, {
    method: 'POST',
    headers: post ? {} : { authorization: basic(clientId, secret) },
    form: post ? { ...form, client_id: clientId, client_secret: secret } : form,
  });
  return { status: r.status, body: JSON.parse(r.text) };
}

async function exchange(clientId, redirectUri, code, verifier) {
  return token(clientId, {
    grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier,
  });
}

async function jwksKids() {
  const r = await request(null, disco.jwks_uri);
  return JSON.parse(r.text).keys.map((k) => k.kid);
}

describe('test OP (oidc-provider)', () => {
  const bobJar = new CookieJar();
  let tokens;

  before(async () => {
    group = new ProcessGroup(mkdtempSync(path.join(os.tmpdir(), 'octogate-op-test-')));
    op = await startOp(group, config);
  });

  after(async () => {
    await group?.killAll();
  });

  test('discovery', async () => {
    const r = await request(null, `${op.issuer}/.well-known/openid-configuration`);
    assert.equal(r.status, 200);
    disco = JSON.parse(r.text);
    assert.equal(disco.issuer, op.issuer);
    assert.match(op.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual(disco.code_challenge_methods_supported, ['S256']);
    for (const s of ['openid', 'email', 'profile', 'groups', 'offline_access']) assert.ok(disco.scopes_supported.includes(s), s);
    assert.ok(disco.claims_supported.includes('groups'));
    assert.deepEqual(disco.id_token_signing_alg_values_supported, ['RS256']);
    assert.ok(disco.end_session_endpoint);
    assert.ok(disco.userinfo_endpoint);
  });

  test('PKCE is required', async () => {
    const u = new URL(authUrl('site1', RP1, undefined, { code_challenge_method: undefined }));
    const r = await request(new CookieJar(), u.href);
    assert.equal(r.status, 303);
    const back = new URL(r.location);
    assert.equal(back.origin + back.pathname, RP1);
    assert.equal(back.searchParams.get('error'), 'invalid_request');
    const plain = await request(new CookieJar(), authUrl('site1', RP1, 'x'.repeat(43), { code_challenge_method: 'plain' }));
    assert.equal(new URL(plain.location).searchParams.get('error'), 'invalid_request');
  });

  test('code flow: wrong password shows the error, then login + consent, token exchange', async () => {
    // wrong password first
    const { challenge } = pkcePair();
    const { res } = await follow(bobJar, authUrl('site1', RP1, challenge));
    assert.equal(res.status, 200);
    assert.match(res.text, /<input name="login" id="login"/);
    assert.match(res.text, /<input name="password" id="password" type="password">/);
    assert.match(res.text, /<button type="submit" id="submit">Sign in<\/button>/);
    const bad = await request(bobJar, new URL(formAction(res.text), res.url).href, { method: 'POST', form: { login: 'bob', password: 'nope' } });
    assert.equal(bad.status, 200);
    assert.match(bad.text, /<p id="error">/);
    assert.match(bad.text, /id="password"/);

    // then the real flow (new authorization request, same browser)
    const a = await authorize(bobJar, { login: 'bob', password: 'bob-pw' });
    assert.deepEqual(a.pages, ['login', 'consent']);
    assert.ok(a.code);
    const t = await exchange('site1', RP1, a.code, a.verifier);
    assert.equal(t.status, 200, JSON.stringify(t.body));
    tokens = t.body;
    assert.ok(tokens.access_token);
    assert.ok(tokens.refresh_token, 'refresh token issued for offline_access without prompt=consent');
    assert.equal(tokens.token_type, 'Bearer');
    const { header, payload } = decodeJwt(tokens.id_token);
    assert.equal(header.alg, 'RS256');
    assert.ok(header.kid);
    assert.equal(payload.iss, op.issuer);
    assert.equal(payload.aud, 'site1');
    assert.equal(payload.sub, 'u-bob');
    assert.deepEqual(payload.groups, ['cms-site1-admins', 'cms-site2-publishers']);
    assert.equal(payload.email, 'bob@example.com');
    assert.equal(payload.email_verified, true);
    assert.equal(payload.name, 'Bob B');
    assert.equal(payload.preferred_username, 'bob');
    assert.ok(payload.nonce);
    assert.ok((await jwksKids()).includes(header.kid));
  });

  test('code cannot be replayed and needs the right verifier', async () => {
    const a = await authorize(bobJar, {});
    const wrong = await exchange('site1', RP1, a.code, pkcePair().verifier);
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error, 'invalid_grant');
  });

  test('single sign-on: same client, no page; other client, consent only', async () => {
    const again = await authorize(bobJar, {});
    assert.deepEqual(again.pages, []);
    assert.ok(again.code);
    const other = await authorize(bobJar, { clientId: 'site2', redirectUri: RP2 });
    assert.deepEqual(other.pages, ['consent']);
    const t = await exchange('site2', RP2, other.code, other.verifier);
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.equal(decodeJwt(t.body.id_token).payload.aud, 'site2');
    const third = await authorize(bobJar, { clientId: 'site2', redirectUri: RP2 });
    assert.deepEqual(third.pages, []);
  });

  test('userinfo has groups', async () => {
    const r = await request(null, disco.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(r.status, 200, r.text);
    const ui = JSON.parse(r.text);
    assert.equal(ui.sub, 'u-bob');
    assert.deepEqual(ui.groups, ['cms-site1-admins', 'cms-site2-publishers']);
    assert.equal(ui.email, 'bob@example.com');
  });

  test('refresh with rotation; reuse of the old refresh token fails', async () => {
    const r = await token('site1', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(r.body.id_token);
    assert.ok(r.body.refresh_token);
    assert.notEqual(r.body.refresh_token, tokens.refresh_token, 'rotated');
    assert.deepEqual(decodeJwt(r.body.id_token).payload.groups, ['cms-site1-admins', 'cms-site2-publishers']);
    const old = tokens.refresh_token;
    tokens = r.body;
    const reuse = await token('site1', { grant_type: 'refresh_token', refresh_token: old });
    assert.equal(reuse.status, 400);
    assert.equal(reuse.body.error, 'invalid_grant');
  });

  test('groups change via admin reaches refresh and userinfo', async () => {
    // The reuse above revoked that grant (oidc-provider's rotation reuse detection): sign in anew.
    const a = await authorize(bobJar, {});
    const t = await exchange('site1', RP1, a.code, a.verifier);
    assert.equal(t.status, 200, JSON.stringify(t.body));
    tokens = t.body;
    await op.setGroups('u-bob', ['cms-site1-editors']);
    const r = await token('site1', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(decodeJwt(r.body.id_token).payload.groups, ['cms-site1-editors']);
    tokens = r.body;
    const ui = await request(null, disco.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.deepEqual(JSON.parse(ui.text).groups, ['cms-site1-editors']);
    await op.setGroups('u-bob', ['cms-site1-admins', 'cms-site2-publishers']);
  });

  test('rotate-keys: new kid, old kid gone from JWKS, new tokens signed with it', async () => {
    const before1 = await op.stats();
    const oldKid = decodeJwt(tokens.id_token).header.kid;
    assert.deepEqual(await jwksKids(), [oldKid]);
    const rot = await op.rotateKeys();
    assert.equal(rot.old_kid, oldKid);
    assert.notEqual(rot.kid, oldKid);
    const kids = await jwksKids();
    assert.deepEqual(kids, [rot.kid]);
    const r = await token('site1', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(decodeJwt(r.body.id_token).header.kid, rot.kid);
    tokens = r.body;
    // the session survived the rotation: SSO still works
    const again = await authorize(bobJar, {});
    assert.deepEqual(again.pages, []);
    const s = await op.stats();
    assert.ok(s.jwks > before1.jwks);
    assert.ok(s.token > before1.token);
    assert.ok(s.grants.refresh_token >= 3);
    assert.equal(s.kid, rot.kid);
  });

  test('disable: refresh gives invalid_grant and login is refused', async () => {
    const daveJar = new CookieJar();
    const a = await authorize(daveJar, { login: 'dave', password: 'dave-pw' });
    const t = await exchange('site1', RP1, a.code, a.verifier);
    assert.equal(t.status, 200);
    const d = await op.disable('u-dave');
    assert.equal(d.disabled, true);
    const r = await token('site1', { grant_type: 'refresh_token', refresh_token: t.body.refresh_token });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_grant');
    const ui = await request(null, disco.userinfo_endpoint, { headers: { authorization: `Bearer ${t.body.access_token}` } });
    assert.equal(ui.status, 401);
    const { res } = await follow(new CookieJar(), authUrl('site1', RP1, pkcePair().challenge));
    const jar2 = new CookieJar();
    const { res: loginPage } = await follow(jar2, authUrl('site1', RP1, pkcePair().challenge));
    assert.match(res.text, /id="login"/);
    const refused = await request(jar2, new URL(formAction(loginPage.text), loginPage.url).href, { method: 'POST', form: { login: 'dave', password: 'dave-pw' } });
    assert.match(refused.text, /<p id="error">/);
    await op.enable('u-dave');
  });

  test('down/up: every non-admin endpoint answers 503 while down', async () => {
    await op.down();
    for (const url of [`${op.issuer}/.well-known/openid-configuration`, disco.jwks_uri, disco.token_endpoint, disco.userinfo_endpoint]) {
      const r = await request(null, url);
      assert.equal(r.status, 503, url);
    }
    const s = await op.stats();
    assert.equal(s.down, true);
    assert.ok(s.rejected_while_down >= 4);
    await op.up();
    const r = await request(null, disco.jwks_uri);
    assert.equal(r.status, 200);
  });

  test('end session with post_logout_redirect_uri ends the OP session', async () => {
    const u = new URL(disco.end_session_endpoint);
    u.searchParams.set('id_token_hint', tokens.id_token);
    u.searchParams.set('post_logout_redirect_uri', 'http://127.0.0.1:1/');
    u.searchParams.set('state', 'bye');
    const pageRes = await request(bobJar, u.href);
    assert.equal(pageRes.status, 200);
    assert.match(pageRes.text, /id="logout"/);
    const action = formAction(pageRes.text);
    const xsrf = pageRes.text.match(/name="xsrf" value="([^"]+)"/)[1];
    const done = await request(bobJar, new URL(action, pageRes.url).href, { method: 'POST', form: { xsrf, logout: 'yes' } });
    assert.equal(done.status, 303);
    assert.equal(done.location, 'http://127.0.0.1:1/?state=bye');
    const again = await authorize(bobJar, { login: 'bob', password: 'bob-pw' });
    assert.equal(again.pages[0], 'login');
  });
});
