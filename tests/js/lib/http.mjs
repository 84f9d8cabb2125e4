// Plain-HTTP browser imitation for tests: a tiny cookie jar and fetch with manual redirects.

import { createHash, randomBytes } from 'node:crypto';

export class CookieJar {
  constructor() {
    this.cookies = new Map(); // "host|name" -> { name, value, host, path }
  }

  store(url, response) {
    const { hostname } = new URL(url);
    for (const sc of response.headers.getSetCookie()) {
      const [pair, ...attrs] = sc.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let cpath = '/';
      let expired = false;
      for (const a of attrs) {
        const [k, v = ''] = a.split('=');
        const key = k.trim().toLowerCase();
        if (key === 'path') cpath = v.trim() || '/';
        if (key === 'max-age' && Number(v) <= 0) expired = true;
        if (key === 'expires' && Date.parse(v) < Date.now()) expired = true;
      }
      const k = `${hostname}|${name}|${cpath}`;
      if (expired || value === '') this.cookies.delete(k);
      else this.cookies.set(k, { name, value, host: hostname, path: cpath });
    }
  }

  header(url) {
    const { hostname, pathname } = new URL(url);
    return [...this.cookies.values()]
      .filter((c) => c.host === hostname && pathname.startsWith(c.path))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  names() {
    return [...this.cookies.values()].map((c) => c.name);
  }
}

/** One request with the jar; never follows redirects. */
export async function request(jar, url, { method = 'GET', headers = {}, form, json, body } = {}) {
  const h = { ...headers };
  const cookie = jar?.header(url);
  if (cookie) h.cookie = cookie;
  let b = body;
  if (form) {
    h['content-type'] = 'application/x-www-form-urlencoded';
    b = new URLSearchParams(form).toString();
  } else if (json !== undefined) {
    h['content-type'] = 'application/json';
    b = JSON.stringify(json);
  }
  const r = await fetch(url, {
    method, headers: h, body: b, redirect: 'manual', signal: AbortSignal.timeout(10000),
  });
  jar?.store(url, r);
  const text = await r.text();
  return {
    status: r.status, headers: r.headers, text, url, location: r.headers.get('location') ? new URL(r.headers.get('location'), url).href : null,
  };
}

/** Follow redirects (303/302/301/307) from `url`; returns the final response and the chain. */
export async function follow(jar, url, opts = {}, { max = 15, stopAt } = {}) {
  const chain = [];
  let res = await request(jar, url, opts);
  chain.push(res);
  while (res.location && res.status >= 300 && res.status < 400) {
    if (chain.length > max) throw new Error(`too many redirects: ${chain.map((c) => c.url).join(' -> ')}`);
    if (stopAt && stopAt(res.location)) return { res, chain, stopped: res.location };
    res = await request(jar, res.location);
    chain.push(res);
  }
  return { res, chain };
}

export function pkcePair() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

export function decodeJwt(jwt) {
  const [h, p] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
  };
}

/** Extract the value of attribute `attr` of the first tag matching `re` (tests only, not a parser). */
export function formAction(html) {
  const m = html.match(/<form[^>]*action="([^"]+)"/);
  return m ? m[1].replace(/&amp;/g, '&') : null;
}
