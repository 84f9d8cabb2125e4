#!/usr/bin/env node
// Test OpenID Provider for octogate, built on the certified `oidc-provider` library.
//
//   node tests/js/op/server.mjs --config FILE.json
//
// stdout carries exactly one line, {"ready":true,"issuer":"http://127.0.0.1:PORT"}, once the
// server listens; every other output (including oidc-provider's own notices) goes to stderr.
// See tests/js/op/README.md for the config format and the /__admin/ endpoints.

import http from 'node:http';
import { readFileSync } from 'node:fs';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

// oidc-provider prints NOTICEs with console.info (stdout): keep stdout for the ready line only.
const toStderr = (...args) => console.error(...args);
console.log = toStderr;
console.info = toStderr;
console.debug = toStderr;

const { default: Provider } = await import('oidc-provider');

function log(...args) {
  console.error('[op]', ...args);
}

function die(msg) {
  console.error(`[op] fatal: ${msg}`);
  process.exit(2);
}

// ---------------------------------------------------------------- config

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (a === '--config') out.config = argv[++i];
    else if (a.startsWith('--config=')) out.config = a.slice('--config='.length);
    else die(`unknown argument ${a}`);
  }
  if (!out.config) die('usage: server.mjs --config FILE.json');
  return out;
}

const args = parseArgs(process.argv.slice(2));
let cfg;
try {
  cfg = JSON.parse(readFileSync(args.config, 'utf8'));
} catch (e) {
  die(`cannot read config ${args.config}: ${e.message}`);
}

const host = cfg.host ?? '127.0.0.1';
const listenPort = cfg.port ?? 0;
const accessTokenTTL = cfg.accessTokenTTL ?? 3600;
const idTokenTTL = cfg.idTokenTTL ?? 3600;
const refreshTokenRotation = cfg.refreshTokenRotation ?? true;
if (!Array.isArray(cfg.clients) || cfg.clients.length === 0) die('config: "clients" must be a non-empty array');
if (!Array.isArray(cfg.users)) die('config: "users" must be an array');

const users = new Map();
for (const u of cfg.users) {
  if (!u.id) die('config: every user needs an "id"');
  users.set(String(u.id), {
    id: String(u.id),
    login: u.login ?? String(u.id),
    password: u.password ?? '',
    email: u.email,
    email_verified: u.email_verified ?? true,
    name: u.name,
    preferred_username: u.preferred_username ?? u.login,
    groups: [...(u.groups ?? [])],
    disabled: false,
  });
}

const clients = cfg.clients.map((c) => {
  if (!c.client_id) die('config: every client needs a "client_id"');
  return {
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: c.redirect_uris ?? [],
    post_logout_redirect_uris: c.post_logout_redirect_uris ?? [],
    token_endpoint_auth_method: c.token_endpoint_auth_method ?? 'client_secret_basic',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    id_token_signed_response_alg: 'RS256',
  };
});

// accountId -> Set(grantId): grants created by our consent page, revoked on disable.
const grantsByAccount = new Map();

const stats = {
  discovery: 0,
  jwks: 0,
  authorization: 0,
  token: 0,
  userinfo: 0,
  end_session: 0,
  revocation: 0,
  introspection: 0,
  interaction: 0,
  other: 0,
  rejected_while_down: 0,
  grants: {}, // grant_type -> successful token responses
  grant_errors: {}, // grant_type -> failed token requests
};

const state = { down: false };

// ---------------------------------------------------------------- provider

function newSigningKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  jwk.kid = `k-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  jwk.alg = 'RS256';
  jwk.use = 'sig';
  return jwk;
}

const cookieKeys = [randomBytes(32).toString('base64url')];

function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  }[c]));
}

function page(title, body) {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;max-width:28em;margin:3em auto}label,input,button{display:block;margin:.4em 0}#error{color:#b00}</style>
</head><body>
<h1>Test OP: ${esc(title)}</h1>
${body}
</body></html>`;
}

async function findAccount(ctx, sub) {
  const u = users.get(String(sub));
  if (!u || u.disabled) return undefined;
  return {
    accountId: u.id,
    async claims() {
      // oidc-provider filters these by granted scope (email, profile, groups).
      return {
        sub: u.id,
        email: u.email,
        email_verified: u.email_verified,
        name: u.name,
        preferred_username: u.preferred_username,
        groups: [...u.groups],
      };
    },
  };
}

// oidc-provider drops offline_access from an authorization request that has no prompt=consent
// (OIDC Core 11). Okta does not, and octogate does not send prompt=consent. So the HTTP layer marks
// such requests with this extra parameter, the consent page then grants offline_access, and
// refresh tokens are issued whenever the Grant holds offline_access.
const OFFLINE_MARK = 'x_offline_access_requested';

function grantHasOffline(grant) {
  return (grant?.getOIDCScope() ?? '').split(' ').includes('offline_access');
}

async function offlineGranted(ctx, client, code) {
  if (!client?.grantTypeAllowed('refresh_token')) return false;
  if (code?.scopes?.has('offline_access')) return true;
  let grant = ctx.oidc.entities.Grant;
  if (!grant && code?.grantId) grant = await ctx.oidc.provider.Grant.find(code.grantId);
  return grantHasOffline(grant);
}

function markOfflineRequest(req, pathname) {
  if (req.method !== 'GET' || pathname !== '/auth') return;
  const u = new URL(req.url, 'http://x');
  const scopes = (u.searchParams.get('scope') ?? '').split(' ');
  if (scopes.includes('offline_access') && !u.searchParams.has('prompt')) {
    u.searchParams.set(OFFLINE_MARK, '1');
  } else {
    u.searchParams.delete(OFFLINE_MARK);
  }
  req.url = `${u.pathname}${u.search}`;
}

function makeProvider(issuer, signingJwk) {
  const provider = new Provider(issuer, {
    clients,
    responseTypes: ['code'],
    jwks: { keys: [signingJwk] },
    cookies: { keys: cookieKeys },
    findAccount,
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    // Put scope-requested claims (email, profile, groups) in the ID token too.
    conformIdTokenClaims: false,
    pkce: { required: () => true, methods: ['S256'] },
    extraParams: [OFFLINE_MARK],
    // Refresh tokens whenever offline_access was granted, with or without prompt=consent.
    async issueRefreshToken(ctx, client, code) {
      return offlineGranted(ctx, client, code);
    },
    async expiresWithSession(ctx, code) {
      return !(await offlineGranted(ctx, ctx.oidc.client, code));
    },
    rotateRefreshToken: () => refreshTokenRotation,
    ttl: {
      AccessToken: accessTokenTTL,
      IdToken: idTokenTTL,
      AuthorizationCode: 60,
      RefreshToken: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
      Session: 24 * 3600,
      Interaction: 3600,
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        // A page with a button id="logout"; a script presses it at once (automatic in browsers).
        async logoutSource(ctx, form) {
          ctx.type = 'html';
          ctx.body = page('Sign out', `${form}
<p>Signing you out of ${esc(ctx.host)}&hellip;</p>
<button id="logout" type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>
<script>document.getElementById('logout').click();</script>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = page('Signed out', '<p id="logged-out">You are signed out.</p>');
        },
      },
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error', `<p id="op-error">${esc(out.error)}: ${esc(out.error_description)}</p>`);
    },
  });
  provider.on('server_error', (ctx, err) => log('server_error', err));
  provider.on('grant.success', (ctx) => {
    const gt = ctx.oidc?.params?.grant_type ?? 'unknown';
    stats.grants[gt] = (stats.grants[gt] ?? 0) + 1;
  });
  provider.on('grant.error', (ctx, err) => {
    const gt = ctx.oidc?.params?.grant_type ?? 'unknown';
    stats.grant_errors[gt] = (stats.grant_errors[gt] ?? 0) + 1;
    log('grant.error', gt, err.message, err.error_description ?? '');
  });
  return provider;
}

// ---------------------------------------------------------------- http helpers

function send(res, status, type, body, headers = {}) {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(body);
}

function sendJson(res, status, obj) {
  send(res, status, 'application/json', `${JSON.stringify(obj)}\n`);
}

function readBody(req, limit = 64 * 1024) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function isLoopback(addr) {
  return addr === '127.0.0.1' || addr === '::1' || addr === '::ffff:127.0.0.1'
    || (addr ?? '').startsWith('127.') || (addr ?? '').startsWith('::ffff:127.');
}

function endpointName(pathname) {
  switch (pathname) {
    case '/.well-known/openid-configuration': return 'discovery';
    case '/jwks': return 'jwks';
    case '/auth': return 'authorization';
    case '/token': return 'token';
    case '/me': return 'userinfo';
    case '/token/revocation': return 'revocation';
    case '/token/introspection': return 'introspection';
    default:
      if (pathname.startsWith('/session/end')) return 'end_session';
      if (pathname.startsWith('/auth/')) return 'authorization';
      if (pathname.startsWith('/interaction/')) return 'interaction';
      return 'other';
  }
}

// ---------------------------------------------------------------- interactions

function loginPage(uid, { error, login } = {}) {
  return page('Sign in', `
${error ? `<p id="error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
  <label for="login">Login</label>
  <input name="login" id="login" value="${esc(login ?? '')}" autofocus>
  <label for="password">Password</label>
  <input name="password" id="password" type="password">
  <button type="submit" id="submit">Sign in</button>
</form>
<p><a id="abort" href="/interaction/${esc(uid)}/abort">Cancel</a></p>`);
}

function consentPage(uid, details) {
  const { params, prompt } = details;
  const scopes = String(params.scope ?? '').split(' ').filter(Boolean);
  return page('Allow access', `
<p>Client <code id="client-id">${esc(params.client_id)}</code> asks for:</p>
<ul id="scopes">${scopes.map((s) => `<li>${esc(s)}</li>`).join('')}</ul>
<p id="reasons" hidden>${esc((prompt.reasons ?? []).join(' '))}</p>
<form method="post" action="/interaction/${esc(uid)}/confirm">
  <button id="consent" type="submit">Allow</button>
</form>
<p><a id="abort" href="/interaction/${esc(uid)}/abort">Deny</a></p>`);
}

async function handleInteraction(provider, req, res, pathname) {
  const m = pathname.match(/^\/interaction\/([^/]+)(?:\/(login|confirm|abort))?$/);
  if (!m) return false;
  const [, uid, action] = m;
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (e) {
    send(res, 400, 'text/html; charset=utf-8', page('Error', `<p id="op-error">interaction not found or expired: ${esc(e.message)}</p>`));
    return true;
  }
  if (details.uid !== uid) {
    send(res, 400, 'text/html; charset=utf-8', page('Error', '<p id="op-error">interaction mismatch</p>'));
    return true;
  }
  const promptName = details.prompt.name;

  if (!action && req.method === 'GET') {
    if (promptName === 'login') send(res, 200, 'text/html; charset=utf-8', loginPage(uid));
    else if (promptName === 'consent') send(res, 200, 'text/html; charset=utf-8', consentPage(uid, details));
    else send(res, 400, 'text/html; charset=utf-8', page('Error', `<p id="op-error">unsupported prompt ${esc(promptName)}</p>`));
    return true;
  }

  if (action === 'abort' && req.method === 'GET') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return true;
  }

  if (req.method !== 'POST') {
    send(res, 405, 'text/plain', 'method not allowed\n');
    return true;
  }
  const form = new URLSearchParams(await readBody(req));

  if (action === 'login') {
    if (promptName !== 'login') {
      send(res, 400, 'text/html; charset=utf-8', page('Error', '<p id="op-error">not a login prompt</p>'));
      return true;
    }
    const login = form.get('login') ?? '';
    const password = form.get('password') ?? '';
    const user = [...users.values()].find((u) => u.login === login || u.id === login);
    if (!user || user.password !== password) {
      log(`login failed for ${JSON.stringify(login)}`);
      send(res, 200, 'text/html; charset=utf-8', loginPage(uid, { error: 'Invalid login or password.', login }));
      return true;
    }
    if (user.disabled) {
      log(`login refused for disabled user ${user.id}`);
      send(res, 200, 'text/html; charset=utf-8', loginPage(uid, { error: 'This account is disabled.', login }));
      return true;
    }
    log(`login ok: ${user.id}`);
    await provider.interactionFinished(req, res, { login: { accountId: user.id } }, { mergeWithLastSubmission: false });
    return true;
  }

  if (action === 'confirm') {
    if (promptName !== 'consent') {
      send(res, 400, 'text/html; charset=utf-8', page('Error', '<p id="op-error">not a consent prompt</p>'));
      return true;
    }
    const { prompt: { details: pd }, params, session } = details;
    const accountId = session.accountId;
    let { grantId } = details;
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId, clientId: params.client_id });
    if (pd.missingOIDCScope) grant.addOIDCScope(pd.missingOIDCScope.join(' '));
    if (params[OFFLINE_MARK] === '1' && !grantHasOffline(grant)) grant.addOIDCScope('offline_access');
    if (pd.missingOIDCClaims) grant.addOIDCClaims(pd.missingOIDCClaims);
    if (pd.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(pd.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    grantId = await grant.save();
    if (!grantsByAccount.has(accountId)) grantsByAccount.set(accountId, new Set());
    grantsByAccount.get(accountId).add(grantId);
    const consent = {};
    if (!details.grantId) consent.grantId = grantId;
    log(`consent ok: ${accountId} -> ${params.client_id}`);
    await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
    return true;
  }

  send(res, 404, 'text/plain', 'not found\n');
  return true;
}

// ---------------------------------------------------------------- admin

async function revokeAccount(provider, accountId) {
  const ids = grantsByAccount.get(accountId) ?? new Set();
  for (const grantId of ids) {
    for (const model of ['AccessToken', 'RefreshToken', 'AuthorizationCode']) {
      await provider[model].revokeByGrantId(grantId);
    }
    const grant = await provider.Grant.find(grantId);
    if (grant) await grant.destroy();
  }
  grantsByAccount.delete(accountId);
  return ids.size;
}

async function handleAdmin(ctxState, req, res, pathname) {
  if (!isLoopback(req.socket.remoteAddress)) {
    sendJson(res, 403, { error: 'admin endpoints are loopback only' });
    return;
  }
  const provider = ctxState.provider;
  let m;
  if (req.method === 'GET' && pathname === '/__admin/stats') {
    sendJson(res, 200, { ...stats, down: state.down, kid: ctxState.kid });
    return;
  }
  if (req.method === 'POST' && pathname === '/__admin/stats/reset') {
    for (const k of Object.keys(stats)) {
      stats[k] = typeof stats[k] === 'number' ? 0 : {};
    }
    sendJson(res, 200, { ok: true });
    return;
  }
  if (req.method === 'POST' && pathname === '/__admin/down') {
    state.down = true;
    log('admin: down');
    sendJson(res, 200, { ok: true, down: true });
    return;
  }
  if (req.method === 'POST' && pathname === '/__admin/up') {
    state.down = false;
    log('admin: up');
    sendJson(res, 200, { ok: true, down: false });
    return;
  }
  if (req.method === 'POST' && pathname === '/__admin/rotate-keys') {
    const old = ctxState.kid;
    ctxState.rotate();
    log(`admin: rotated signing key ${old} -> ${ctxState.kid}`);
    sendJson(res, 200, { ok: true, old_kid: old, kid: ctxState.kid });
    return;
  }
  if (req.method === 'GET' && pathname === '/__admin/users') {
    sendJson(res, 200, [...users.values()].map(({ password, ...u }) => u));
    return;
  }
  if ((m = pathname.match(/^\/__admin\/users\/([^/]+)\/(groups|disable|enable)$/)) && req.method === 'POST') {
    const id = decodeURIComponent(m[1]);
    const user = users.get(id);
    if (!user) {
      sendJson(res, 404, { error: `no user ${id}` });
      return;
    }
    if (m[2] === 'groups') {
      let body;
      try {
        body = JSON.parse((await readBody(req)) || '{}');
      } catch {
        sendJson(res, 400, { error: 'body must be JSON {"groups":[...]}' });
        return;
      }
      if (!Array.isArray(body.groups) || !body.groups.every((g) => typeof g === 'string')) {
        sendJson(res, 400, { error: 'body must be JSON {"groups":[...]}' });
        return;
      }
      user.groups = [...body.groups];
      log(`admin: groups of ${id} = ${JSON.stringify(user.groups)}`);
      sendJson(res, 200, { ok: true, id, groups: user.groups });
      return;
    }
    if (m[2] === 'disable') {
      user.disabled = true;
      const revoked = await revokeAccount(provider, id);
      log(`admin: disabled ${id}, revoked ${revoked} grant(s)`);
      sendJson(res, 200, { ok: true, id, disabled: true, revoked_grants: revoked });
      return;
    }
    user.disabled = false;
    log(`admin: enabled ${id}`);
    sendJson(res, 200, { ok: true, id, disabled: false });
    return;
  }
  sendJson(res, 404, { error: 'unknown admin endpoint' });
}

// ---------------------------------------------------------------- server

const ctxState = { provider: null, callback: null, kid: null, rotate: null };

const server = http.createServer(async (req, res) => {
  let pathname;
  try {
    pathname = new URL(req.url, 'http://x').pathname;
  } catch {
    send(res, 400, 'text/plain', 'bad request\n');
    return;
  }
  try {
    if (pathname.startsWith('/__admin/')) {
      await handleAdmin(ctxState, req, res, pathname);
      return;
    }
    const name = endpointName(pathname);
    stats[name] += 1;
    if (state.down) {
      stats.rejected_while_down += 1;
      sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'test OP is down (/__admin/down)' });
      return;
    }
    if (pathname.startsWith('/interaction/')) {
      if (await handleInteraction(ctxState.provider, req, res, pathname)) return;
    }
    markOfflineRequest(req, pathname);
    ctxState.callback(req, res);
  } catch (e) {
    log('request failed', req.method, req.url, e);
    if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
    else res.destroy();
  }
});

server.listen(listenPort, host, () => {
  const { port } = server.address();
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const issuer = `http://${hostPart}:${port}`;
  ctxState.rotate = () => {
    const jwk = newSigningKey();
    // A new Provider instance with the same clients, cookie keys and (module-global) in-memory
    // adapter storage: sessions, grants and refresh tokens survive, only the key set changes.
    ctxState.provider = makeProvider(issuer, jwk);
    ctxState.callback = ctxState.provider.callback();
    ctxState.kid = jwk.kid;
  };
  ctxState.rotate();
  log(`listening on ${issuer} (kid ${ctxState.kid}, ${clients.length} client(s), ${users.size} user(s))`);
  process.stdout.write(`${JSON.stringify({ ready: true, issuer })}\n`);
});

server.on('error', (e) => die(`listen failed: ${e.message}`));

function shutdown(sig) {
  log(`${sig}: shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

