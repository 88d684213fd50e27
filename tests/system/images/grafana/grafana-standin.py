"""Grafana stand-in: checks the provisioning Grafana would load, then serves
/api/health. Exits 1 with the reason where the real Grafana would log an
error and leave the dashboard or data source out."""
import glob, json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import yaml

PROV = os.environ.get("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning")


def fail(msg):
    print("grafana-standin: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def check():
    pw = os.environ.get("GF_SECURITY_ADMIN_PASSWORD__FILE")
    if pw:
        try:
            open(pw).read()
        except OSError as e:
            fail("cannot read the admin password file %s: %s" % (pw, e))
    sources = 0
    for f in glob.glob(PROV + "/datasources/*.y*ml"):
        doc = yaml.safe_load(open(f))
        for ds in (doc or {}).get("datasources", []):
            for key in ("name", "type", "url"):
                if not ds.get(key):
                    fail("%s: a data source without %s" % (f, key))
            sources += 1
    dashboards = 0
    for f in glob.glob(PROV + "/dashboards/*.y*ml"):
        doc = yaml.safe_load(open(f))
        for prov in (doc or {}).get("providers", []):
            path = (prov.get("options") or {}).get("path")
            if not path or not os.path.isdir(path):
                fail("%s: provider %s: no folder %s" % (f, prov.get("name"), path))
            for d in glob.glob(path + "/*.json"):
                try:
                    dash = json.load(open(d))
                except ValueError as e:
                    fail("%s: not JSON: %s" % (d, e))
                if not dash.get("title") or not isinstance(dash.get("panels"), list):
                    fail("%s: a dashboard needs a title and panels" % d)
                dashboards += 1
    print("grafana-standin: %d data sources, %d dashboards provisioned" % (sources, dashboards), flush=True)


class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.split("?")[0] != "/api/health":
            self.send_error(404)
            return
        body = json.dumps({"database": "ok", "version": "10.4.2"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


check()
HTTPServer(("", int(os.environ.get("GF_SERVER_HTTP_PORT", "3000"))), Health).serve_forever()
