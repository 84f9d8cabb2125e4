#!/usr/bin/env python3
"""Helpers for bench/run.sh (Python 3.11, standard library only).

Subcommands:
  render TEMPLATE OUT            fill @VAR@ placeholders from the environment (missing = error)
  procstat PID                   "<cpu_seconds> <peak_rss_kib> <nprocs>" summed over PID and its descendants
  signin URL                     scripted browser-like sign-in through the test OP; prints the
                                 Cookie header value (only the cookies set by URL's origin)
  fetch URL [COOKIE]             one GET; prints "<status> <body (first 200 bytes)>"
  wrkparse FILE                  parse wrk --latency output into JSON
  table RESULTS.jsonl            print the comparison table and the PASS/FAIL verdicts
"""
import http.client
import json
import os
import re
import sys
import urllib.parse

# ---------------------------------------------------------------- render

def render(tmpl, out):
    with open(tmpl) as f:
        text = f.read()
    def sub(m):
        if m.group(1) not in os.environ:
            sys.exit(f"render {tmpl}: missing variable {m.group(1)}")
        return os.environ[m.group(1)]
    filled = re.sub(r"@([A-Z_]+)@", sub, text)
    with open(out, "w") as f:
        f.write(filled)

# ---------------------------------------------------------------- /proc

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    # comm may contain spaces/parens: split after the last ')'
    rest = s[s.rindex(")") + 2:].split()
    ppid = int(rest[1])
    utime, stime = int(rest[11]), int(rest[12])
    return ppid, utime + stime


def _hwm(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def procstat(root):
    root = int(root)
    children = {}
    ticks = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            ppid, t = _stat(int(d))
        except (OSError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
        ticks[int(d)] = t
    if root not in ticks:
        sys.exit(f"procstat: no process {root}")
    tree, todo = [], [root]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    cpu = sum(ticks.get(p, 0) for p in tree) / CLK_TCK
    rss = sum(_hwm(p) for p in tree)
    print(f"{cpu:.2f} {rss} {len(tree)}")

# ---------------------------------------------------------------- HTTP with a cookie jar

class Jar:
    """Cookies by name; remembers which origin (host:port) set each, since browsers ignore
    ports when sending but we want to hand wrk only the proxy's own cookies."""

    def __init__(self):
        self.cookies = {}  # name -> (value, origin)

    def header(self):
        return "; ".join(f"{k}={v}" for k, (v, _) in self.cookies.items())

    def absorb(self, origin, resp_headers):
        for k, v in resp_headers:
            if k.lower() != "set-cookie":
                continue
            nv = v.split(";", 1)[0]
            if "=" not in nv:
                continue
            name, value = nv.split("=", 1)
            name, value = name.strip(), value.strip()
            attrs = v.lower()
            expired = "max-age=0" in attrs or "expires=thu, 01 jan 1970" in attrs or value == ""
            if expired:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = (value, origin)

    def for_origin(self, origin):
        return "; ".join(f"{k}={v}" for k, (v, o) in self.cookies.items() if o == origin)


def request(jar, method, url, body=None, extra=None):
    u = urllib.parse.urlsplit(url)
    origin = u.netloc
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
    h = {"Accept": "text/html,application/xhtml+xml", "User-Agent": "octogate-bench-signin"}
    if jar is not None and jar.cookies:
        h["Cookie"] = jar.header()
    if body is not None:
        h["Content-Type"] = "application/x-www-form-urlencoded"
    h.update(extra or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    headers = r.getheaders()
    c.close()
    if jar is not None:
        jar.absorb(origin, headers)
    return r.status, headers, data.decode("utf-8", "replace")


def _hdr(headers, name):
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def _form_action(html, marker):
    i = html.find(marker)
    if i < 0:
        return None
    start = html.rfind("<form", 0, i)
    m = re.search(r'action="([^"]*)"', html[start:])
    return m.group(1).replace("&amp;", "&") if m else None


def signin(url):
    login = os.environ.get("BENCH_LOGIN", "bob")
    password = os.environ.get("BENCH_PASSWORD", "bob-pw")
    target_origin = urllib.parse.urlsplit(url).netloc
    jar = Jar()
    pages = []
    for _ in range(30):
        status, headers, html = request(jar, "GET", url)
        if 300 <= status < 400:
            url = urllib.parse.urljoin(url, _hdr(headers, "location"))
            continue
        if status == 200 and 'id="password"' in html:
            pages.append("login")
            action = urllib.parse.urljoin(url, _form_action(html, 'id="password"'))
            form = urllib.parse.urlencode({"login": login, "password": password})
            s, h, body = request(jar, "POST", action, form)
            if not 300 <= s < 400:
                sys.exit(f"signin: login POST answered {s}: {body[:300]}")
            url = urllib.parse.urljoin(action, _hdr(h, "location"))
            continue
        if status == 200 and 'id="consent"' in html:
            pages.append("consent")
            action = urllib.parse.urljoin(url, _form_action(html, 'id="consent"'))
            s, h, body = request(jar, "POST", action, "")
            if not 300 <= s < 400:
                sys.exit(f"signin: consent POST answered {s}: {body[:300]}")
            url = urllib.parse.urljoin(action, _hdr(h, "location"))
            continue
        if status != 200:
            sys.exit(f"signin: ended on {url} with {status}: {html[:300]}")
        cookie = jar.for_origin(target_origin)
        if not cookie:
            sys.exit(f"signin: no cookie from {target_origin} (pages: {pages})")
        print(f"signin: {'+'.join(pages) or 'sso'} -> {url} (cookie {len(cookie)} bytes)", file=sys.stderr)
        print(cookie)
        return
    sys.exit("signin: too many redirects")


def fetch(url, cookie=None):
    extra = {"Cookie": cookie} if cookie else {}
    status, headers, body = request(None, "GET", url, extra=extra)
    sc = sum(1 for k, _ in headers if k.lower() == "set-cookie")
    print(f"{status} set-cookies={sc} {body[:4000].strip()}")

# ---------------------------------------------------------------- wrk output

def _ms(v):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", v)
    if not m:
        return None
    x = float(m.group(1))
    return {"us": x / 1000, "ms": x, "s": x * 1000, "m": x * 60000}[m.group(2)]


def wrkparse(path):
    with open(path) as f:
        text = f.read()
    out = {"rps": None, "p50": None, "p99": None, "requests": None, "non2xx": 0, "sockerr": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        out["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in", text)
    if m:
        out["requests"] = int(m.group(1))
    for pct, key in (("50", "p50"), ("99", "p99")):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", text, re.M)
        if m:
            out[key] = _ms(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        out["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["sockerr"] = sum(int(x) for x in m.groups())
    print(json.dumps(out))

# ---------------------------------------------------------------- table

def table(path):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    conc = []
    for r in rows:
        if r["conns"] not in conc:
            conc.append(r["conns"])
    hdr = f"{'row':<40}{'conns':>6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'RSS MB':>8}{'CPU s/10k':>10}{'core%':>7}{'busy%':>11}{'other%':>7}{'err':>5}  {'xRPS':>6}{'xP99':>6}{'xCPU':>6}"
    print(hdr)
    print("-" * len(hdr))
    by = {}
    for c in conc:
        base = next((r for r in rows if r["conns"] == c and r["id"] == "nginx" and r.get("ok")), None)
        for r in rows:
            if r["conns"] != c:
                continue
            by[(r["id"], c)] = r
            if not r.get("ok"):
                print(f"{r['label']:<40}{c:>6}   NOT MEASURED: {r.get('error', '?')}")
                continue

            def ratio(k):
                if base and base.get(k) and r.get(k) is not None:
                    return f"{r[k] / base[k]:>6.2f}"
                return f"{'-':>6}"
            print(f"{r['label']:<40}{c:>6}{r['rps']:>10.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['rss_kib'] / 1024:>8.1f}"
                  f"{r['cpu_per_10k']:>10.3f}{r['core_pct']:>7.0f}{r['sut_busy']:>6.0f}/{r['wrk_busy']:<4.0f}{r['other_pct']:>7.0f}{r['errors']:>5}  {ratio('rps')}{ratio('p99')}{ratio('cpu_per_10k')}")
        print()
    print("Verdicts (targets from the brief; ratios are octogate at LOG=warn vs the named row, same conns):")
    for c in conc:
        ng, pub, auth, ap = (by.get((i, c)) for i in ("nginx", "og-public", "og-auth", "apache-oidc"))

        def v(name, cond, detail):
            if cond is None:
                print(f"  [c={c}] {name:<52} n/a  ({detail})")
            else:
                print(f"  [c={c}] {name:<52} {'PASS' if cond else 'FAIL'} ({detail})")

        def ok(*rs):
            return all(x is not None and x.get("ok") for x in rs)
        if ok(ng, pub):
            v("public hop throughput >= 0.9x nginx", pub["rps"] >= 0.9 * ng["rps"], f"{pub['rps'] / ng['rps']:.2f}x")
            v("public hop p99 <= 1.2x nginx", pub["p99"] <= 1.2 * ng["p99"], f"{pub['p99'] / ng['p99']:.2f}x")
        else:
            v("public hop vs nginx", None, "row missing")
        if ok(pub):
            if c == 256:
                v("public hop peak RSS < 20 MB at 256 conns", pub["rss_kib"] < 20 * 1024, f"{pub['rss_kib'] / 1024:.1f} MB")
        if ok(ng, auth):
            v("auth CPU/request <= nginx plain proxy", auth["cpu_per_10k"] <= ng["cpu_per_10k"], f"{auth['cpu_per_10k'] / ng['cpu_per_10k']:.2f}x")
            v("auth p99 <= nginx plain proxy", auth["p99"] <= ng["p99"], f"{auth['p99'] / ng['p99']:.2f}x")
        if ok(auth, ap):
            v("auth throughput >= 10x mod_auth_openidc", auth["rps"] >= 10 * ap["rps"], f"{auth['rps'] / ap['rps']:.2f}x")
        elif auth is not None or ap is not None:
            v("auth throughput vs mod_auth_openidc", None, "row missing")
        fl = by.get(("floor", c))
        if ok(ng, fl):
            print(f"  [c={c}] for scale, the floor (bare hyper proxy, no work): "
                  f"{fl['rps'] / ng['rps']:.2f}x throughput, p99 {fl['p99'] / ng['p99']:.2f}x, "
                  f"CPU {fl['cpu_per_10k'] / ng['cpu_per_10k']:.2f}x nginx"
                  + (f"; nginx itself: {ng['rps'] / ap['rps']:.2f}x mod_auth_openidc" if ok(ap) else ""))


def summary(line):
    r = json.loads(line)
    print(f"{r['rps']:.0f} req/s p50 {r['p50']:.2f}ms p99 {r['p99']:.2f}ms rss {r['rss_kib'] / 1024:.1f}MB "
          f"cpu/10k {r['cpu_per_10k']:.3f}s core {r['core_pct']:.0f}% sut-cpu busy {r['sut_busy']:.0f}% "
          f"wrk-cpu busy {r['wrk_busy']:.0f}% other {r['other_pct']:.0f}% upstream-seen {r['upstream_requests']}")


def corestat(*cpus):
    """'busy_ticks total_ticks' for each cpu given, space separated (from /proc/stat)."""
    out = []
    with open("/proc/stat") as f:
        lines = {l.split()[0]: l.split()[1:] for l in f if l.startswith("cpu")}
    for c in cpus:
        v = [int(x) for x in lines[f"cpu{c}"][:8]]
        idle = v[3] + v[4]
        out.append(f"{sum(v) - idle}:{sum(v)}")
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    out.append(f"{sum(v) - v[3] - v[4]}:{sum(v)}")
    print(" ".join(out))


def quiet(max_wait, threshold):
    """Wait (up to max_wait s) until the whole machine is nearly idle for 2 s in a row: other
    tenants of the machine (builds, tests) skew a CPU-bound benchmark. Prints the last busy %."""
    import time

    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        return sum(v) - v[3] - v[4], sum(v)
    deadline = time.time() + float(max_wait)
    calm = 0
    pct = 100.0
    while time.time() < deadline:
        b0, t0 = snap()
        time.sleep(1)
        b1, t1 = snap()
        pct = 100.0 * (b1 - b0) / max(1, t1 - t0)
        calm = calm + 1 if pct < float(threshold) else 0
        if calm >= 2:
            break
    print(f"{pct:.0f}")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    {"render": render, "procstat": procstat, "signin": signin, "fetch": fetch, "wrkparse": wrkparse, "table": table, "summary": summary, "corestat": corestat, "quiet": quiet}[cmd](*args)


if __name__ == "__main__":
    main()
