#!/usr/bin/env python3
"""Schema-aware checks of everything under deploy/ (and the root Dockerfile).

No network, no downloaded schemas: the required fields are written out here.
  - every YAML file (multi-document): Kubernetes objects per kind, compose files,
    the Traefik dynamic config, the kustomization;
  - every TOML file (and the TOML inside Kubernetes ConfigMaps) against the keys of
    config/example.toml, including its commented-out optional keys;
  - the systemd unit's sandboxing;
  - the nginx auth_request example and the Dockerfile's runtime contract.

Prints one line per check ("ok ..." / "FAIL ...: why") and, last,
"N passed, N failed". Exits 1 if anything failed.

Usage: python3 tests/deploy/check_manifests.py [REPO_ROOT]
"""

from __future__ import annotations

import configparser
import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
EXAMPLE = ROOT / "config" / "example.toml"

OCTOGATE_PORT = 4180
OCTOBER_PORT = 8080
IDENTITY_HEADERS = [
    "X-Forwarded-User",
    "X-Forwarded-Email",
    "X-Forwarded-Groups",
    "X-Forwarded-Preferred-Username",
    "X-Octogate-Assertion",
]
SECRET_KEYS = {("oidc", "client_secret"), ("session", "cookie_keys"), ("assertion", "signing_key")}

passed = 0
failed = 0


def rel(p: Path) -> str:
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


def check(name: str, errors: list[str]) -> None:
    """Record one check: passes when errors is empty."""
    global passed, failed
    if errors:
        failed += 1
        for e in errors:
            print(f"FAIL {name}: {e}")
    else:
        passed += 1
        print(f"ok   {name}")


def get(d, path: str, default=None):
    cur = d
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


# ----------------------------------------------------------------------------- TOML

def example_schema() -> tuple[dict[str, set[str]], dict[str, set[str]], dict[str, set[str]]]:
    """Return (required, optional, array_tables) key sets from config/example.toml.

    Required = keys written out; optional = keys only present commented out
    ("# key = value") inside a section. Array tables ([[access.roles]]) give the
    keys of each entry.
    """
    data = tomllib.loads(EXAMPLE.read_text())
    required: dict[str, set[str]] = {}
    arrays: dict[str, set[str]] = {}
    for section, body in data.items():
        required[section] = set()
        for key, value in body.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                arrays[f"{section}.{key}"] = set().union(*(v.keys() for v in value))
            else:
                required[section].add(key)
    optional: dict[str, set[str]] = {s: set() for s in required}
    section = None
    for line in EXAMPLE.read_text().splitlines():
        m = re.match(r"^\s*\[\[?([A-Za-z0-9_.]+)\]\]?\s*$", line)
        if m:
            section = m.group(1) if "." not in m.group(1) else None
            continue
        m = re.match(r"^\s*#\s*([a-z_][a-z0-9_]*)\s*=", line)
        if m and section:
            optional[section].add(m.group(1))
    return required, optional, arrays


def check_toml(label: str, text: str, schema) -> dict | None:
    required, optional, arrays = schema
    errors: list[str] = []
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        check(f"toml {label}", [f"does not parse: {e}"])
        return None
    for section in required:
        if section not in data:
            errors.append(f"missing section [{section}]")
    for section, body in data.items():
        if section not in required:
            errors.append(f"unknown section [{section}] (not in config/example.toml)")
            continue
        if not isinstance(body, dict):
            errors.append(f"[{section}] is not a table")
            continue
        known = required[section] | optional[section]
        for key in sorted(required[section] - body.keys()):
            errors.append(f"[{section}] missing key {key!r}")
        for key, value in body.items():
            array_name = f"{section}.{key}"
            if array_name in arrays:
                if not isinstance(value, list) or not value:
                    errors.append(f"[[{array_name}]] must have at least one entry")
                    continue
                for i, entry in enumerate(value):
                    for k in sorted(set(entry) - arrays[array_name]):
                        errors.append(f"[[{array_name}]] #{i + 1}: unknown key {k!r}")
                    for k in ("group", "role"):
                        if k not in entry:
                            errors.append(f"[[{array_name}]] #{i + 1}: missing {k!r}")
            elif key not in known:
                errors.append(f"[{section}] unknown key {key!r} (not in config/example.toml)")
    # Secrets must be references, never literal values in a deploy file.
    for section, key in SECRET_KEYS:
        value = get(data, f"{section}.{key}")
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, str) and not (v.startswith("env:") or v.startswith("file:")):
                errors.append(f"[{section}] {key} is a literal secret; use env: or file:")
    public_url = get(data, "server.public_url", "")
    if isinstance(public_url, str) and not public_url.startswith("https://"):
        errors.append(f"server.public_url must be https in a deploy file, got {public_url!r}")
    if "tls_cert" in data.get("server", {}) and "tls_key" not in data.get("server", {}):
        errors.append("server.tls_cert without server.tls_key")
    groups = set(get(data, "access.allowed_groups", []) or [])
    for entry in get(data, "access.roles", []) or []:
        if groups and entry.get("group") not in groups:
            errors.append(f"access.roles group {entry.get('group')!r} is not in allowed_groups")
    check(f"toml {label}", errors)
    return data


# ----------------------------------------------------------------------------- YAML

def load_yaml_docs(path: Path) -> list:
    try:
        return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError as e:
        check(f"yaml {rel(path)}", [f"does not parse: {e}"])
        return []


def labels_match(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_container(prefix: str, c: dict, pod_sc: dict) -> list[str]:
    errs = []
    name = c.get("name", "?")
    for field in ("name", "image", "securityContext", "resources", "livenessProbe", "readinessProbe"):
        if field not in c:
            errs.append(f"container {name}: missing {field}")
    sc = c.get("securityContext", {}) or {}
    if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
        errs.append(f"container {name}: runAsNonRoot not true")
    if sc.get("readOnlyRootFilesystem") is not True:
        errs.append(f"container {name}: readOnlyRootFilesystem not true")
    if sc.get("allowPrivilegeEscalation") is not False:
        errs.append(f"container {name}: allowPrivilegeEscalation not false")
    if "ALL" not in (get(sc, "capabilities.drop", []) or []):
        errs.append(f"container {name}: capabilities.drop lacks ALL")
    if sc.get("privileged"):
        errs.append(f"container {name}: privileged")
    res = c.get("resources", {}) or {}
    for f in ("requests.cpu", "requests.memory", "limits.memory"):
        if get(res, f) is None:
            errs.append(f"container {name}: resources.{f} missing")
    return errs


def port_numbers(c: dict) -> dict:
    return {p.get("name"): p.get("containerPort") for p in c.get("ports", []) or []}


def check_k8s(docs: list[tuple[Path, dict]]) -> None:
    by_kind: dict[str, list[tuple[Path, dict]]] = {}
    for path, d in docs:
        label = f"k8s {rel(path)} {d.get('kind', '?')}/{get(d, 'metadata.name', '?')}"
        errs = []
        for f in ("apiVersion", "kind"):
            if not d.get(f):
                errs.append(f"missing {f}")
        if d.get("kind") != "Kustomization" and not get(d, "metadata.name"):
            errs.append("missing metadata.name")
        check(label + " (common fields)", errs)
        by_kind.setdefault(d.get("kind"), []).append((path, d))

    names = {k: {get(d, "metadata.name") for _, d in v} for k, v in by_kind.items()}
    deployments = by_kind.get("Deployment", [])
    if not deployments:
        check("k8s Deployment present", ["no Deployment under deploy/kubernetes"])
    tmpl_labels_all = []
    octogate_ports: list[dict] = []

    for path, d in deployments:
        label = f"k8s Deployment/{get(d, 'metadata.name')}"
        errs = []
        sel = get(d, "spec.selector.matchLabels", {}) or {}
        tlabels = get(d, "spec.template.metadata.labels", {}) or {}
        tmpl_labels_all.append(tlabels)
        if not labels_match(sel, tlabels):
            errs.append(f"spec.selector.matchLabels {sel} does not match template labels {tlabels}")
        pod = get(d, "spec.template.spec", {}) or {}
        pod_sc = pod.get("securityContext", {}) or {}
        containers = pod.get("containers", []) or []
        if not containers:
            errs.append("no containers")
        volumes = {v.get("name"): v for v in pod.get("volumes", []) or []}
        octo = [c for c in containers if c.get("name") == "octogate"]
        if len(octo) != 1:
            errs.append("exactly one container must be named 'octogate'")
        for c in containers:
            errs += check_container(label, c, pod_sc)
            for vm in c.get("volumeMounts", []) or []:
                if vm.get("name") not in volumes:
                    errs.append(f"container {c.get('name')}: volumeMount {vm.get('name')!r} has no volume")
            for ef in c.get("envFrom", []) or []:
                ref = get(ef, "configMapRef.name")
                if ref and ref not in names.get("ConfigMap", set()):
                    errs.append(f"container {c.get('name')}: envFrom ConfigMap {ref!r} not defined")
            if c.get("name") != "octogate":
                if OCTOGATE_PORT in port_numbers(c).values():
                    errs.append(f"container {c.get('name')} claims octogate's port {OCTOGATE_PORT}")
        for c in octo:
            ports = port_numbers(c)
            octogate_ports.append(ports)
            if not ports:
                errs.append("octogate: missing ports")
            if OCTOGATE_PORT not in ports.values():
                errs.append(f"octogate: containerPort {OCTOGATE_PORT} missing")
            if get(c, "livenessProbe.httpGet.path") != "/healthz":
                errs.append("octogate: livenessProbe must be httpGet /healthz")
            if get(c, "readinessProbe.httpGet.path") != "/readyz":
                errs.append("octogate: readinessProbe must be httpGet /readyz")
        for vname, v in volumes.items():
            cm = get(v, "configMap.name")
            if cm and cm not in names.get("ConfigMap", set()):
                errs.append(f"volume {vname}: ConfigMap {cm!r} not defined")
            sec = get(v, "secret.secretName")
            if sec and sec not in names.get("Secret", set()):
                errs.append(f"volume {vname}: Secret {sec!r} not defined")
            pvc = get(v, "persistentVolumeClaim.claimName")
            if pvc and pvc not in names.get("PersistentVolumeClaim", set()):
                errs.append(f"volume {vname}: PVC {pvc!r} not defined")
        if pod.get("automountServiceAccountToken") is not False:
            errs.append("automountServiceAccountToken should be false")
        check(label, errs)

    def resolve(target, ports_list):
        if isinstance(target, int):
            return target
        for ports in ports_list:
            if target in ports:
                return ports[target]
        return None

    for path, d in by_kind.get("Service", []):
        label = f"k8s Service/{get(d, 'metadata.name')}"
        errs = []
        sel = get(d, "spec.selector", {}) or {}
        if not any(labels_match(sel, t) for t in tmpl_labels_all):
            errs.append(f"selector {sel} matches no Deployment's pod labels")
        ports = get(d, "spec.ports", []) or []
        if not ports:
            errs.append("no ports")
        for p in ports:
            tp = resolve(p.get("targetPort", p.get("port")), octogate_ports)
            if tp != OCTOGATE_PORT:
                errs.append(f"port {p.get('name', p.get('port'))}: targetPort resolves to {tp}, "
                            f"must be octogate's {OCTOGATE_PORT}" +
                            (" (that is October's port)" if tp == OCTOBER_PORT else ""))
        check(label, errs)

    for path, d in by_kind.get("NetworkPolicy", []):
        label = f"k8s NetworkPolicy/{get(d, 'metadata.name')}"
        errs = []
        sel = get(d, "spec.podSelector.matchLabels", {}) or {}
        if not any(labels_match(sel, t) for t in tmpl_labels_all):
            errs.append(f"podSelector {sel} matches no Deployment's pod labels")
        if "Ingress" not in (get(d, "spec.policyTypes", []) or []):
            errs.append("policyTypes lacks Ingress")
        rules = get(d, "spec.ingress", []) or []
        if not rules:
            errs.append("no ingress rules (would deny octogate's port too)")
        for i, r in enumerate(rules):
            ports = r.get("ports")
            if not ports:
                errs.append(f"ingress rule #{i + 1} has no ports: it allows every port")
                continue
            for p in ports:
                if resolve(p.get("port"), octogate_ports) != OCTOGATE_PORT:
                    errs.append(f"ingress rule #{i + 1} allows port {p.get('port')}; only {OCTOGATE_PORT}")
        check(label, errs)

    for path, d in by_kind.get("ConfigMap", []):
        for key, value in (d.get("data") or {}).items():
            if key.endswith(".toml"):
                check_toml(f"{rel(path)} ConfigMap/{get(d, 'metadata.name')}[{key}]", value, SCHEMA)

    for path, d in by_kind.get("Secret", []):
        errs = []
        data = {**(d.get("stringData") or {}), **(d.get("data") or {})}
        for k in ("client_secret", "cookie_key", "signing_key.pem"):
            if k not in data:
                errs.append(f"missing key {k!r}")
        for k, v in data.items():
            if "REPLACE" not in str(v):
                errs.append(f"{k}: not a placeholder (real secrets must not be committed)")
        check(f"k8s Secret/{get(d, 'metadata.name')} (placeholders only)", errs)

    for path, d in by_kind.get("Kustomization", []):
        errs = []
        for r in d.get("resources", []) or []:
            if not (path.parent / r).exists():
                errs.append(f"resource {r!r} does not exist")
        check(f"k8s {rel(path)} Kustomization", errs)


def check_compose(path: Path, d: dict) -> None:
    label = f"compose {rel(path)}"
    errs = []
    services = d.get("services") or {}
    secrets = d.get("secrets") or {}
    networks = d.get("networks") or {}
    if not services:
        errs.append("no services")

    def is_octogate(name: str, svc: dict) -> bool:
        return name.startswith("octogate") or str(svc.get("image", "")).startswith("octogate")

    octos = [n for n, s in services.items() if is_octogate(n, s)]
    if not octos:
        errs.append("no octogate service")
    for name, svc in services.items():
        svc = svc or {}
        if svc.get("ports") and not is_octogate(name, svc):
            errs.append(f"service {name} publishes ports: only octogate may")
        for s in svc.get("secrets", []) or []:
            src = s if isinstance(s, str) else s.get("source")
            if src not in secrets:
                errs.append(f"service {name}: secret {src!r} not defined under top-level secrets:")
        svc_nets = svc.get("networks") or {}
        svc_nets = svc_nets if isinstance(svc_nets, dict) else {n: {} for n in svc_nets}
        for n in svc_nets:
            if n not in networks:
                errs.append(f"service {name}: network {n!r} not defined")
        if not is_octogate(name, svc):
            for n in svc_nets:
                if not (networks.get(n) or {}).get("internal"):
                    errs.append(f"service {name} is on non-internal network {n!r}: only octogate may be")
            if not svc_nets:
                errs.append(f"service {name} is on the default (non-internal) network")
        for v in svc.get("volumes", []) or []:
            src = v.split(":")[0] if isinstance(v, str) else v.get("source", "")
            if src.endswith(".toml") or src.endswith(".sql"):
                if not (path.parent / src).exists():
                    errs.append(f"service {name}: mounted file {src} does not exist")
    for name in octos:
        svc = services[name]
        if svc.get("read_only") is not True:
            errs.append(f"{name}: read_only must be true")
        if "ALL" not in (svc.get("cap_drop") or []):
            errs.append(f"{name}: cap_drop must include ALL")
        mounts = [v for v in svc.get("volumes", []) or [] if isinstance(v, str)]
        if not any(":/etc/octogate/site.toml" in m for m in mounts):
            errs.append(f"{name}: config not mounted at /etc/octogate/site.toml")
        targets = {(s if isinstance(s, str) else s.get("target") or s.get("source"))
                   for s in svc.get("secrets", []) or []}
        for need in ("client_secret", "cookie_key", "signing_key.pem"):
            if need not in targets:
                errs.append(f"{name}: secret /run/secrets/{need} not provided")
    for sname, s in secrets.items():
        if not (s or {}).get("file") and not (s or {}).get("external") and not (s or {}).get("environment"):
            errs.append(f"secret {sname}: no file/external/environment source")
    check(label, errs)


def check_traefik(path: Path, d: dict) -> None:
    errs = []
    mws = get(d, "http.middlewares", {}) or {}
    services = get(d, "http.services", {}) or {}
    fa = [m["forwardAuth"] for m in mws.values() if isinstance(m, dict) and "forwardAuth" in m]
    if not fa:
        errs.append("no forwardAuth middleware")
    for f in fa:
        if not str(f.get("address", "")).endswith("/oauth2/auth"):
            errs.append(f"forwardAuth address {f.get('address')!r} is not octogate's /oauth2/auth")
        if "trustForwardHeader" not in f:
            errs.append("forwardAuth: trustForwardHeader not set")
        missing = set(IDENTITY_HEADERS) - set(f.get("authResponseHeaders") or [])
        if missing:
            errs.append(f"forwardAuth: authResponseHeaders lacks {sorted(missing)}")
        req = f.get("authRequestHeaders")
        if not req or "Cookie" not in req:
            errs.append("forwardAuth: authRequestHeaders must list the headers octogate needs (Cookie) and nothing a client could forge")
        elif any(h.lower().startswith(("x-original", "x-forwarded", "forwarded")) for h in req):
            errs.append(f"forwardAuth: authRequestHeaders passes client forwarding headers: {req}")
    routers = get(d, "http.routers", {}) or {}
    # Every backend spelling October routes must pass forward-auth, /index.php/backend too.
    guarded = [r.get("rule", "") for r in routers.values()
               if any(m in mws and "forwardAuth" in (mws[m] or {}) for m in r.get("middlewares", []) or [])]
    if not any("backend" in g and ".php" in g for g in guarded):
        errs.append("no forward-auth router for the /index.php/backend spelling")
    for rname, r in routers.items():
        for m in r.get("middlewares", []) or []:
            if m not in mws:
                errs.append(f"router {rname}: middleware {m!r} not defined")
        if r.get("service") not in services:
            errs.append(f"router {rname}: service {r.get('service')!r} not defined")
    check(f"traefik {rel(path)}", errs)


# ----------------------------------------------------------------------------- systemd

def check_systemd(path: Path) -> None:
    errs = []
    cp = configparser.ConfigParser(strict=False, interpolation=None, empty_lines_in_values=False)
    cp.optionxform = str  # keys are case-sensitive in systemd
    try:
        cp.read_string(path.read_text())
    except configparser.Error as e:
        check(f"systemd {rel(path)}", [f"does not parse: {e}"])
        return
    for s in ("Unit", "Service", "Install"):
        if not cp.has_section(s):
            errs.append(f"missing [{s}]")
    # configparser keeps the last of repeated keys; collect every value ourselves too.
    multi: dict[str, list[str]] = {}
    section = None
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service" and "=" in line and not line.startswith(("#", ";")):
            k, v = line.split("=", 1)
            multi.setdefault(k.strip(), []).append(v.strip())
    svc = cp["Service"] if cp.has_section("Service") else {}
    want = {
        "DynamicUser": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "MemoryDenyWriteExecute": "yes",
    }
    for k, v in want.items():
        if k not in svc:
            errs.append(f"[Service] {k}= missing")
        elif svc[k].strip() != v:
            errs.append(f"[Service] {k}={svc[k]!r}, want {v!r}")
    if "@system-service" not in " ".join(multi.get("SystemCallFilter", [])):
        errs.append("[Service] SystemCallFilter lacks @system-service")
    if not re.search(r"kill\s+-HUP\s+\$MAINPID", svc.get("ExecReload", "")):
        errs.append("[Service] ExecReload must be kill -HUP $MAINPID")
    if "run --config" not in svc.get("ExecStart", ""):
        errs.append("[Service] ExecStart must be octogate run --config FILE")
    creds = {v.split(":", 1)[0] for v in multi.get("LoadCredential", [])}
    for need in ("client_secret", "cookie_key", "signing_key.pem"):
        if need not in creds:
            errs.append(f"[Service] LoadCredential={need}:... missing")
    text = path.read_text()
    for need in ("client_secret", "cookie_key", "signing_key.pem"):
        if f"file:/run/credentials/octogate.service/{need}" not in text:
            errs.append(f"config reference file:/run/credentials/octogate.service/{need} not documented")
    check(f"systemd {rel(path)}", errs)


# ----------------------------------------------------------------------------- text checks

def check_nginx(path: Path) -> None:
    text = path.read_text()
    errs = []
    for needle, why in [
        ("auth_request /oauth2/auth;", "auth_request /oauth2/auth"),
        ("X-Original-URI $request_uri", "X-Original-URI passed to the auth subrequest"),
        ("error_page 401", "401 handling"),
        ("/oauth2/start?rd=$request_uri", "401 -> /oauth2/start?rd=$request_uri"),
        ("location /oauth2/", "location /oauth2/ proxied to octogate"),
        ("internal;", "/oauth2/auth location marked internal"),
    ]:
        if needle not in text:
            errs.append(f"missing {why}")
    for h in IDENTITY_HEADERS:
        var = "$upstream_http_" + h.lower().replace("-", "_")
        if var not in text:
            errs.append(f"auth_request_set for {h} ({var}) missing")
        if f'proxy_set_header {h} "";' not in text:
            errs.append(f"client-supplied {h} is never stripped")
    check(f"nginx {rel(path)}", errs)


def check_dockerfile(path: Path) -> None:
    text = path.read_text()
    errs = []
    for needle in [
        "rust:1-slim-bookworm",
        "gcr.io/distroless/cc-debian12:nonroot",
        "cargo build --release --locked",
        "EXPOSE 4180",
        'CMD ["/usr/local/bin/octogate","healthcheck","--url","http://127.0.0.1:4180/healthz"]',
        'ENTRYPOINT ["/usr/local/bin/octogate"]',
        'CMD ["run","--config","/etc/octogate/site.toml"]',
        "org.opencontainers.image.",
    ]:
        if needle not in text:
            errs.append(f"missing {needle!r}")
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    if not users or users[-1].split(":")[0] in ("root", "0"):
        errs.append("final stage must run as a non-root USER")
    check(f"dockerfile {rel(path)}", errs)


def check_no_private_keys() -> None:
    errs = []
    for p in sorted(DEPLOY.rglob("*")):
        if not p.is_file():
            continue
        try:
            text = p.read_text()
        except UnicodeDecodeError:
            continue
        for m in re.finditer(r"-----BEGIN [A-Z ]*PRIVATE KEY-----\s*\n\s*(\S+)", text):
            if "REPLACE" not in m.group(1):
                errs.append(f"{rel(p)} contains a private key")
    check("no private keys committed under deploy/", errs)


# ----------------------------------------------------------------------------- main

SCHEMA = example_schema()


def main() -> int:
    if not DEPLOY.is_dir():
        print(f"FAIL setup: {rel(DEPLOY)} not found")
        print("0 passed, 1 failed")
        return 1

    tomls = {}
    for p in sorted(DEPLOY.rglob("*.toml")):
        tomls[p] = check_toml(rel(p), p.read_text(), SCHEMA)

    # Per-site uniqueness among sibling TOMLs (the five-sites layout).
    by_dir: dict[Path, list[tuple[Path, dict]]] = {}
    for p, d in tomls.items():
        if d:
            by_dir.setdefault(p.parent, []).append((p, d))
    for directory, items in by_dir.items():
        if len(items) < 2:
            continue
        errs = []
        for key in ("server.public_url", "assertion.audience"):
            seen: dict = {}
            for p, d in items:
                v = get(d, key)
                if v in seen:
                    errs.append(f"{key} {v!r} used by both {seen[v].name} and {p.name}")
                seen[v] = p
        for key in ("oidc.issuer", "oidc.client_id", "oidc.client_secret"):
            if len({str(get(d, key)) for _, d in items}) != 1:
                errs.append(f"{key} differs between sites (one Okta app expected)")
        check(f"sites {rel(directory)}: per-site keys unique, Okta app shared", errs)

    k8s_docs: list[tuple[Path, dict]] = []
    yamls = sorted(list(DEPLOY.rglob("*.yaml")) + list(DEPLOY.rglob("*.yml")))
    if not yamls:
        check("yaml files present", ["no YAML under deploy/"])
    for p in yamls:
        for d in load_yaml_docs(p):
            if not isinstance(d, dict):
                check(f"yaml {rel(p)}", ["document is not a mapping"])
            elif "services" in d and "apiVersion" not in d:
                check_compose(p, d)
            elif "http" in d and "apiVersion" not in d:
                check_traefik(p, d)
            elif "apiVersion" in d or "kind" in d:
                k8s_docs.append((p, d))
            else:
                check(f"yaml {rel(p)}", ["unrecognised document (not compose, Traefik or Kubernetes)"])
    check_k8s(k8s_docs)

    units = sorted(DEPLOY.rglob("*.service"))
    if not units:
        check("systemd unit present", ["no .service file under deploy/"])
    for p in units:
        check_systemd(p)
    for p in sorted(DEPLOY.rglob("*.conf")):
        if "auth_request" in p.read_text():
            check_nginx(p)
    for p in [ROOT / "Dockerfile"]:
        if p.exists():
            check_dockerfile(p)
        else:
            check("dockerfile", ["Dockerfile missing"])
    check_no_private_keys()

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
