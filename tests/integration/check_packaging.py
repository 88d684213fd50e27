#!/usr/bin/python3
"""Holds the packaging to its rules (docs/packaging.md).

  check_packaging.py compose [BIN_DIR]
      docker-compose.yml, deploy/Dockerfile and the Grafana provisioning,
      parsed: every homebus service has a memory and CPU limit, a
      healthcheck on its own /health, read_only, no-new-privileges, cap_drop
      ALL and a non-root user; every volume, network and secret it names
      exists, the SQLite files are on named volumes; IMAGE_TAG chooses every
      homebus image; the deployer reaches Docker only through the socket
      proxy, which grants no more than the sections listed here (and in
      docs/packaging.md), mounts this folder read-only at the same path and
      never the host's /; the host ports are exactly the README's; the
      dashboard's queries use the provisioned datasource and name
      measurements that the example config's rules or the deployer write.
      With BIN_DIR, homebus-deployer --check-config passes the example
      config with each deploy profile (deploy/deployer-*.json) merged in.

  check_packaging.py dashboard INFLUX_URL DB
      every measurement, field and tag that a panel or annotation of the
      dashboard queries exists in that InfluxDB (one the stack wrote into
      with the example config, and a deploy by the real deployer).

Ends with "N passed, M failed"; exits 1 if any failed.
"""
import json
import os
import re
import sys
import urllib.parse
import urllib.request

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
passed = 0
failed = 0

# The homebus services and the port of each one's /health (http.port_base
# 9100 + the service's offset).
HTTP_PORTS = {"ingest": 9101, "writer": 9102, "health": 9103, "deployer": 9104,
              "notifier": 9105}
# The services that keep SQLite files under data_dir (/var/lib/homebus).
SQLITE = {"writer", "notifier", "deployer"}

# The sections of the Docker API the socket proxy may grant the deployer
# (tecnativa/docker-socket-proxy's variables), and why: what `docker compose
# pull`, `up`, `run` and `rm` call. docs/packaging.md has the same table.
PROXY_GRANTED = {"PING", "VERSION", "EVENTS", "INFO", "CONTAINERS", "IMAGES",
                 "NETWORKS", "VOLUMES", "POST"}
# Every section the proxy knows; those it grants when not told otherwise.
PROXY_SECTIONS = PROXY_GRANTED | {
    "AUTH", "BUILD", "COMMIT", "CONFIGS", "DISTRIBUTION", "EXEC", "GRPC", "NODES",
    "PLUGINS", "SECRETS", "SERVICES", "SESSION", "SWARM", "SYSTEM", "TASKS",
    "ALLOW_START", "ALLOW_STOP", "ALLOW_RESTARTS"}
PROXY_DEFAULT_ON = {"EVENTS", "PING", "VERSION"}

# Written by the deployer: one point per deploy outcome on
# P/points/homebus_deploy (docs/deployer.md#grafana); test_dashboard checks
# them against a real deploy's point.
DEPLOYER_WRITES = {
    "homebus_deploy": {"fields": {"to_tag", "from_tag", "duration_s", "id"},
                       "tags": {"action", "outcome", "instance"}},
}
# Dashboard fields that a service does not send yet: allowed to be absent
# from a real run, reported as pending (docs/packaging.md#grafana). None:
# the writer's heartbeat carries spool_oldest_age_s and write_ms.
PENDING_FIELDS = set()


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
        print("ok: " + what)
    else:
        failed += 1
        print("FAIL: " + what)
    return ok


def finish():
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


def load_json_comments(path):
    with open(path) as f:
        return json.load(f)


def dashboard():
    with open(os.path.join(ROOT, "deploy/grafana/dashboards/homebus.json")) as f:
        return json.load(f)


def dashboard_queries(dash):
    """(where, query) for every panel target and annotation with a query."""
    out = []
    for p in dash.get("panels", []):
        for t in p.get("targets", []):
            out.append(("panel \"%s\" %s" % (p.get("title"), t.get("refId")),
                        t.get("query", "")))
    for a in dash.get("annotations", {}).get("list", []):
        if a.get("builtIn"):
            continue
        out.append(("annotation \"%s\"" % a.get("name"), a.get("query", "")))
    return out


IDENT = r'"([^"]+)"'


def parse_query(q):
    """The measurement, the fields and the tags an InfluxQL SELECT names."""
    m = re.search(r'\bFROM\s+' + IDENT, q)
    measurement = m.group(1) if m else None
    select = re.search(r'^\s*SELECT\s+(.*?)\s+FROM\b', q, re.S)
    names = set(re.findall(IDENT, select.group(1))) if select else set()
    tags = set()
    where = re.search(r'\bWHERE\s+(.*?)(\bGROUP BY\b|$)', q, re.S)
    if where:
        tags |= set(re.findall(IDENT + r"\s*=", where.group(1)))
    group = re.search(r'\bGROUP BY\s+(.*)$', q, re.S)
    if group:
        tags |= set(re.findall(IDENT, group.group(1)))
    return measurement, names, tags


def example_rule_measurements():
    cfg = load_json_comments(os.path.join(ROOT, "deploy/homebus.example.json"))
    return {r.get("measurement") for r in cfg["ingest"]["sources"]
            if r.get("measurement")}


def readme_ports():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    sec = re.search(r'^## Run it on a NUC\n(.*?)(^## |\Z)', text, re.S | re.M)
    if not sec:
        return None
    return set(re.findall(r'^\| ((?:127\.0\.0\.1:)?\d+) \|', sec.group(1), re.M))


def host_port(spec):
    """'127.0.0.1:8086:8086' -> '127.0.0.1:8086', '1883:1883' -> '1883';
    a port from .env (${HOMEBUS_MQTT_PORT:-1883}) as its default."""
    if isinstance(spec, dict):
        ip = spec.get("host_ip")
        port = str(spec.get("published"))
        return ip + ":" + port if ip and ip != "0.0.0.0" else port
    parts = re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(spec)).split(":")
    if len(parts) == 3:
        return parts[0] + ":" + parts[1]
    if len(parts) == 2:
        return parts[0]
    return None


def split_volume(v):
    """'src:dst:ro' -> ['src', 'dst', 'ro'], a ${VAR:?message} kept whole."""
    parts, cur, depth = [], "", 0
    for c in str(v):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        if c == ":" and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    return parts


def var_name(text):
    """'${HOMEBUS_DIR:?...}' -> 'HOMEBUS_DIR'; None if not a variable."""
    m = re.match(r'^\$\{([A-Za-z_][A-Za-z0-9_]*)', text)
    return m.group(1) if m else None


def dockerfile_user():
    user = None
    with open(os.path.join(ROOT, "deploy/Dockerfile")) as f:
        for line in f:
            m = re.match(r'\s*USER\s+(\S+)', line)
            if m:
                user = m.group(1)
    return user


def non_root(user):
    if user is None:
        return False
    name = str(user).split(":")[0]
    return name not in ("root", "0", "")


def compose():
    with open(os.path.join(ROOT, "docker-compose.yml")) as f:
        doc = yaml.safe_load(f)
    services = doc.get("services", {})
    volumes = set((doc.get("volumes") or {}).keys())
    secrets = doc.get("secrets") or {}
    image_user = dockerfile_user()
    check(non_root(image_user), "deploy/Dockerfile ends with a non-root USER (%s)"
          % image_user)
    images = {n: s for n, s in services.items()
              if str(s.get("image", "")).startswith("${HOMEBUS_IMAGE")}
    # one-shot containers (a profile, never restarted) are not services
    oneshot = {n: s for n, s in images.items()
               if s.get("profiles") and str(s.get("restart")) == "no"}
    homebus = {n: s for n, s in images.items() if n not in oneshot}
    check(set(homebus) >= {"writer", "ingest", "health", "notifier", "deployer"},
          "the homebus services are there: %s" % sorted(homebus))
    for name, s in sorted(images.items()):
        check("${IMAGE_TAG" in str(s.get("image")), "%s: IMAGE_TAG chooses its image (%s)"
              % (name, s.get("image")))
    for name, s in sorted(oneshot.items()):
        check(bool(s.get("mem_limit")) and s.get("cpus") is not None,
              "%s (one-shot): mem_limit and cpus" % name)
        check(s.get("read_only") is True and s.get("cap_drop") == ["ALL"] and
              "no-new-privileges:true" in (s.get("security_opt") or []),
              "%s (one-shot): read_only, cap_drop ALL, no-new-privileges" % name)
        check(non_root(s.get("user", image_user)), "%s (one-shot): a non-root user" % name)
    for name, s in sorted(homebus.items()):
        cmd = s.get("command") or []
        check(cmd[:1] == ["homebus-" + name], "%s runs homebus-%s (%s)" % (name, name, cmd))
        check(bool(s.get("mem_limit")), "%s: mem_limit (%s)" % (name, s.get("mem_limit")))
        check(s.get("cpus") is not None and float(s.get("cpus")) > 0,
              "%s: cpus (%s)" % (name, s.get("cpus")))
        hc = (s.get("healthcheck") or {}).get("test") or []
        url = "http://127.0.0.1:%d/health" % HTTP_PORTS.get(name, 0)
        check(url in hc, "%s: healthcheck on its own %s (%s)" % (name, url, hc))
        check(s.get("read_only") is True, "%s: read_only" % name)
        check("no-new-privileges:true" in (s.get("security_opt") or []),
              "%s: no-new-privileges" % name)
        check(s.get("cap_drop") == ["ALL"], "%s: cap_drop ALL (%s)" % (name, s.get("cap_drop")))
        check(non_root(s.get("user", image_user)), "%s: a non-root user (%s)"
              % (name, s.get("user", image_user)))
        env = s.get("environment") or {}
        pw = env.get("HOMEBUS_BUS_PASSWORD_FILE", "")
        svc_secrets = [x if isinstance(x, str) else x.get("source")
                       for x in (s.get("secrets") or [])]
        check(pw.startswith("/run/secrets/") and pw[len("/run/secrets/"):] in svc_secrets,
              "%s: its bus password is a secret file (%s)" % (name, pw))
        check(env.get("HOMEBUS_BUS_USERNAME") == name, "%s: broker user %s" % (name, name))
        mounts = {}
        for v in s.get("volumes") or []:
            parts = split_volume(v)
            mounts[parts[1] if len(parts) > 1 else parts[0]] = parts[0]
        if name in SQLITE:
            src = mounts.get("/var/lib/homebus")
            check(src in volumes, "%s: its SQLite files (/var/lib/homebus) on a named "
                  "volume (%s)" % (name, src))
        for tmp in s.get("tmpfs") or []:
            check(name in SQLITE and "size=" in tmp,
                  "%s: tmpfs %s only for SQLite's temporary files, with a size" % (name, tmp))
    # every volume, network and secret any service names exists
    networks = set((doc.get("networks") or {}).keys()) | {"default"}
    for name, s in sorted(services.items()):
        for v in s.get("volumes") or []:
            src = split_volume(v)[0]
            if not src.startswith((".", "/", "$")):
                check(src in volumes, "%s: volume %s is declared" % (name, src))
            check(src.rstrip("/") != "" and not re.match(r"^/+(:|$)", src),
                  "%s: not the host's / (%s)" % (name, v))
        for n in s.get("networks") or []:
            check(n in networks, "%s: network %s is declared" % (name, n))
        for x in s.get("secrets") or []:
            src = x if isinstance(x, str) else x.get("source")
            check(src in secrets, "%s: secret %s is declared" % (name, src))
    for sname, sec in sorted(secrets.items()):
        check("file" in sec and sec["file"].startswith("./deploy/secrets/"),
              "secret %s is a file in deploy/secrets/ (%s)" % (sname, sec.get("file")))
    deployer_rules(services, doc.get("networks") or {})
    # host ports: exactly the README's
    published = set()
    for name, s in services.items():
        for p in s.get("ports") or []:
            published.add(host_port(p))
    readme = readme_ports()
    check(readme is not None and published == readme,
          "host ports %s are the README's %s" % (sorted(published), sorted(readme or [])))
    # Grafana: provisioned from deploy/grafana/, the dashboard on the datasource
    g = services.get("grafana", {})
    check(str(g.get("image", "")).startswith("grafana/grafana-oss:"),
          "Grafana is grafana/grafana-oss (%s)" % g.get("image"))
    gv = [str(v) for v in g.get("volumes") or []]
    check(any(v.startswith("./deploy/grafana/provisioning:/etc/grafana/provisioning")
              for v in gv), "Grafana's provisioning comes from deploy/grafana/provisioning")
    with open(os.path.join(ROOT, "deploy/grafana/provisioning/datasources/influxdb.yaml")) as f:
        ds = yaml.safe_load(f)["datasources"][0]
    check(ds["type"] == "influxdb" and ds["url"] == "http://influxdb:8086"
          and "influxdb" in services and ds["jsonData"]["dbName"] == "homebus",
          "the datasource is the compose InfluxDB, database homebus")
    with open(os.path.join(ROOT, "deploy/grafana/provisioning/dashboards/homebus.yaml")) as f:
        prov = yaml.safe_load(f)["providers"][0]
    mount = [v for v in gv if v.startswith("./deploy/grafana/dashboards:")]
    check(bool(mount) and mount[0].split(":")[1] == prov["options"]["path"],
          "the dashboards folder is mounted where the provider reads (%s)"
          % prov["options"]["path"])
    dash = dashboard()
    check(dash.get("title") == "homebus", "the dashboard is called homebus")
    titles = " / ".join(p.get("title", "") for p in dash["panels"]).lower()
    for want in ("points in and written", "spool depth", "spool age", "write latency",
                 "memory", "cpu", "health states"):
        check(want in titles, "a panel for %s" % want)
    known = example_rule_measurements() | set(DEPLOYER_WRITES)
    for where, q in dashboard_queries(dash):
        m, fields, tags = parse_query(q)
        check(m in known, "%s: measurement %s is one the example config's rules or the "
              "deployer write" % (where, m))
        check(bool(fields), "%s: names a field" % where)
    for p in dash["panels"]:
        for t in p["targets"]:
            check(t["datasource"]["uid"] == ds["uid"], "panel %s: the provisioned datasource"
                  % p["title"])
    deploys = [a for a in dash["annotations"]["list"] if a.get("name") == "Deploys"]
    check(bool(deploys) and "homebus_deploy" in deploys[0]["query"],
          "deploys as annotations from homebus_deploy")


def docs_proxy_table():
    """The sections docs/packaging.md lists as granted to the proxy."""
    with open(os.path.join(ROOT, "docs/packaging.md")) as f:
        text = f.read()
    return set(re.findall(r'^\| `([A-Z_]+)` \| granted \|', text, re.M))


def deployer_rules(services, networks):
    """The deployer drives Docker through the proxy and nothing else."""
    d = services.get("deployer", {})
    proxy_name = "docker-proxy"
    proxy = services.get(proxy_name, {})
    # the socket: mounted into the proxy only
    for name, s in sorted(services.items()):
        sock = [v for v in s.get("volumes") or [] if "docker.sock" in str(v)]
        if name == proxy_name:
            check(len(sock) == 1, "the proxy mounts the Docker socket (%s)" % sock)
        else:
            check(not sock, "%s: no Docker socket of its own (%s)" % (name, sock))
    check(str(proxy.get("image", "")).startswith("tecnativa/docker-socket-proxy:") and
          not str(proxy.get("image")).endswith(":latest"),
          "the proxy is tecnativa/docker-socket-proxy, a pinned version (%s)"
          % proxy.get("image"))
    check(not proxy.get("ports"), "the proxy publishes no port (%s)" % proxy.get("ports"))
    env = {k: str(v) for k, v in (proxy.get("environment") or {}).items()}
    granted = {k for k in PROXY_SECTIONS
               if env.get(k, "1" if k in PROXY_DEFAULT_ON else "0") in ("1", "true")}
    check(granted <= PROXY_GRANTED, "the proxy grants no more than %s: %s"
          % (sorted(PROXY_GRANTED), sorted(granted - PROXY_GRANTED) or "nothing else"))
    check(granted >= PROXY_GRANTED, "and every one of them, which compose needs: %s "
          "missing" % (sorted(PROXY_GRANTED - granted) or "none"))
    unknown = {k for k in env if k not in PROXY_SECTIONS and k != "LOG_LEVEL"}
    check(not unknown, "the proxy is told nothing it does not know (%s)" % sorted(unknown))
    check(docs_proxy_table() == granted, "docs/packaging.md lists the sections granted "
          "(%s), and only those: %s" % (sorted(granted), sorted(docs_proxy_table())))
    check(proxy.get("read_only") is True and proxy.get("cap_drop") == ["ALL"] and
          "no-new-privileges:true" in (proxy.get("security_opt") or []) and
          bool(proxy.get("mem_limit")), "the proxy: read_only, cap_drop ALL, "
          "no-new-privileges, mem_limit")
    # the proxy's network: internal, shared with the deployer's own only
    pnets = proxy.get("networks") or ["default"]
    check(bool(pnets) and all((networks.get(n) or {}).get("internal") is True
                              for n in pnets),
          "the proxy is only on internal networks (%s)" % pnets)
    for name, s in sorted(services.items()):
        if name == proxy_name:
            continue
        shared = set(s.get("networks") or ["default"]) & set(pnets)
        if shared:
            check(name.startswith("deployer"), "%s reaches the proxy's network: "
                  "only the deployer may (%s)" % (name, sorted(shared)))
            env_s = s.get("environment") or {}
            check(env_s.get("DOCKER_HOST") == "tcp://%s:2375" % proxy_name,
                  "%s: DOCKER_HOST is the proxy (%s)" % (name, env_s.get("DOCKER_HOST")))
    check(bool(set(d.get("networks") or []) & set(pnets)),
          "the deployer is on the proxy's network")
    check(d.get("depends_on") and proxy_name in d.get("depends_on"),
          "the deployer starts after the proxy")
    # this folder, read-only, at the same path as on the host
    same = [split_volume(v) for v in d.get("volumes") or []]
    same = [p for p in same if len(p) == 3 and var_name(p[0]) and
            var_name(p[0]) == var_name(p[1]) and p[2] == "ro"]
    check(len(same) == 1, "the deployer mounts the project folder read-only at its "
          "host path (%s)" % same)
    folder = var_name(same[0][0]) if same else None
    denv = d.get("environment") or {}
    check(folder is not None and
          denv.get("HOMEBUS_DEPLOYER_COMPOSE_FILE") == "${%s}/docker-compose.yml" % folder
          and denv.get("HOMEBUS_DEPLOYER_WORKDIR") == "${%s}" % folder,
          "deployer.compose_file and workdir are in that folder (%s, %s)"
          % (denv.get("HOMEBUS_DEPLOYER_COMPOSE_FILE"), denv.get("HOMEBUS_DEPLOYER_WORKDIR")))
    check(d.get("restart") == "unless-stopped", "the deployer restarts unless stopped")
    # its own restart: deployer-restart, one-shot, with the same image
    r = services.get("deployer-restart", {})
    check(r.get("image") == d.get("image") and r.get("profiles") and
          r.get("restart") == "no" and "restart-deployer" in (r.get("command") or []),
          "deployer-restart: the deployer's image, one-shot, restart-deployer")
    # the compose profile: the deployer is never among the services it ups
    with open(os.path.join(ROOT, "deploy/deployer-compose.json")) as f:
        prof = json.load(f)["deployer"]
    check("deployer" not in prof["services"] and
          set(prof["services"]) <= set(services), "the compose profile deploys "
          "services of this file, not the deployer itself: %s" % prof["services"])
    check(prof["steps"]["up"]["argv"][:2] == ["/usr/lib/homebus/compose-up", "up"],
          "the compose profile's up is compose-up (%s)" % prof["steps"]["up"]["argv"])


def check_profiles(bindir):
    """Each deploy profile merged over the example passes --check-config."""
    import subprocess
    import tempfile

    def merge(a, b):
        for k, v in b.items():
            a[k] = merge(a[k], v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
        return a

    for prof in ("deployer-compose.json", "deployer-native.json"):
        example = load_json_comments(os.path.join(ROOT, "deploy/homebus.example.json"))
        merged = merge(example, load_json_comments(os.path.join(ROOT, "deploy", prof)))
        with tempfile.NamedTemporaryFile("w", suffix=".json") as t:
            json.dump(merged, t)
            t.flush()
            r = subprocess.run([os.path.join(bindir, "homebus-deployer"), "--check-config",
                                "-c", t.name], capture_output=True, text=True)
        out = (r.stdout + r.stderr).strip()
        check(r.returncode == 0 and out == "configuration OK",
              "the example with deploy/%s: %s" % (prof, out))


def influx(url, db, q):
    u = url.rstrip("/") + "/query?" + urllib.parse.urlencode({"db": db, "q": q})
    with urllib.request.urlopen(u, timeout=10) as r:
        return json.load(r)


def influx_keys(url, db, what, measurement):
    ans = influx(url, db, 'SHOW %s KEYS FROM "%s"' % (what, measurement))
    keys = set()
    for res in ans.get("results", []):
        for s in res.get("series", []) or []:
            for v in s.get("values", []):
                keys.add(v[0])
    return keys


def dashboard_data(url, db):
    dash = dashboard()
    for where, q in dashboard_queries(dash):
        m, names, tags = parse_query(q)
        fields = influx_keys(url, db, "FIELD", m)
        tag_keys = influx_keys(url, db, "TAG", m)
        check(bool(fields), "%s: %s has points in the real run" % (where, m))
        # a SELECT may name tags too (the annotation's tags column): each
        # name is a field or a tag that was written, and one at least a field
        for f in sorted(names):
            if f not in fields and (m, f) in PENDING_FIELDS:
                print("pending: %s: %s.%s is not sent yet" % (where, m, f))
                continue
            check(f in fields or f in tag_keys, "%s: %s.%s was written (as a %s)"
                  % (where, m, f, "tag" if f in tag_keys else "field"))
        check(bool(names & fields) or all((m, f) in PENDING_FIELDS for f in names),
              "%s: selects at least one field of %s" % (where, m))
        for t in sorted(tags):
            check(t in tag_keys, "%s: tag %s.%s was written" % (where, m, t))
    # what the panels filter on is there: each service's heartbeat, a state
    svcs = influx(url, db, 'SHOW TAG VALUES FROM "homebus_service" WITH KEY = "service"')
    seen = {v[1] for r in svcs["results"] for s in r.get("series", []) or []
            for v in s["values"]}
    check({"writer", "ingest", "health", "notifier"} <= seen,
          "every service's heartbeat became points: %s" % sorted(seen))
    # the deployer's point, from a real deploy (test_dashboard runs one)
    want = DEPLOYER_WRITES["homebus_deploy"]
    check(influx_keys(url, db, "FIELD", "homebus_deploy") >= want["fields"] and
          influx_keys(url, db, "TAG", "homebus_deploy") >= want["tags"],
          "a deploy's homebus_deploy point has every field and tag the deployer "
          "writes: %s" % sorted(want["fields"] | want["tags"]))
    states = influx(url, db, 'SELECT count("state") FROM "homebus_health"')
    n = states["results"][0].get("series", [{}])[0].get("values", [[0, 0]])[0][1]
    check(n > 0, "health states became points (%s)" % n)


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "compose":
        compose()
        if len(sys.argv) >= 3:
            check_profiles(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "dashboard":
        dashboard_data(sys.argv[2], sys.argv[3])
    else:
        print(__doc__)
        sys.exit(2)
    finish()


if __name__ == "__main__":
    main()
