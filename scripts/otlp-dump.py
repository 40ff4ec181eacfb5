#!/usr/bin/env python3
"""A tiny OTLP/HTTP (JSON) span collector for looking at Herald's traces locally, no collector needed.

    scripts/otlp-dump.py [--port 4318] [--seconds 10]
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_EXPORTER_OTLP_PROTOCOL=http/json herald worker ...

Listens on 127.0.0.1 only, accepts POST /v1/traces, and when it stops (after --seconds, or Ctrl-C)
prints every trace it got as an indented tree: name, service, duration, the attributes Herald sets, links.
For anything real use an OpenTelemetry Collector, Jaeger or Tempo (http/protobuf, the default protocol).
"""
import argparse, base64, json, signal, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

spans = {}
lock = threading.Lock()


def hex_id(value):
    # The OTLP/JSON spec writes ids as hex; protobuf's JSON mapping (swift-otel) writes base64.
    if not value:
        return None
    if len(value) in (16, 32) and all(c in "0123456789abcdefABCDEF" for c in value):
        return value.lower()
    return base64.b64decode(value).hex()


def attribute_value(typed):
    for _, v in typed.items():
        return v
    return None


class Collector(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            root = json.loads(body)
        except ValueError:
            self.send_error(415, "send OTLP/HTTP with OTEL_EXPORTER_OTLP_PROTOCOL=http/json")
            return
        with lock:
            for resource in root.get("resourceSpans", []):
                service = {a["key"]: attribute_value(a["value"]) for a in resource.get("resource", {}).get("attributes", [])}.get("service.name")
                for scope in resource.get("scopeSpans", []):
                    for s in scope.get("spans", []):
                        sid = hex_id(s["spanId"])
                        spans[sid] = {
                            "name": s["name"], "trace": hex_id(s["traceId"]), "id": sid, "parent": hex_id(s.get("parentSpanId")),
                            "service": service, "start": int(s["startTimeUnixNano"]), "end": int(s["endTimeUnixNano"]),
                            "attributes": {a["key"]: attribute_value(a["value"]) for a in s.get("attributes", [])},
                            "links": [hex_id(l["spanId"]) for l in s.get("links", [])], "error": s.get("status", {}).get("code") == 2,
                        }
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


SHOWN = ["http.request.method", "http.route", "url.full", "http.response.status_code", "webhook.id", "retry.attempt_number",
         "retry.delay_ms", "herald.outcome", "herald.application_id", "herald.endpoint_id", "herald.delivery_id", "herald.batch.leased"]


def dump():
    with lock:
        children = {}
        for s in spans.values():
            children.setdefault(s["parent"], []).append(s)
        roots = [s for s in spans.values() if s["parent"] not in spans]
        by_trace = {}
        for s in sorted(roots, key=lambda s: s["start"]):
            by_trace.setdefault(s["trace"], []).append(s)
        for trace, tops in by_trace.items():
            print(f"trace {trace}")
            for top in tops:
                if top["parent"]:
                    print(f"  (parent {top['parent']}: not exported here, e.g. the producer's own span)")
                show(top, children, 1 if not top["parent"] else 2)
            print()


def show(s, children, depth):
    ms = (s["end"] - s["start"]) / 1e6
    attrs = " ".join(f"{k}={s['attributes'][k]}" for k in SHOWN if k in s["attributes"])
    links = f" links={','.join(s['links'])}" if s["links"] else ""
    flag = " ERROR" if s["error"] else ""
    print(f"{'  ' * depth}{s['name']} [{s['service']}] {ms:.1f} ms span={s['id']}{flag} {attrs}{links}".rstrip())
    for c in sorted(children.get(s["id"], []), key=lambda c: c["start"]):
        show(c, children, depth + 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=4318)
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: on Ctrl-C)")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"collecting OTLP/HTTP JSON spans on http://127.0.0.1:{args.port}", file=sys.stderr)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait(args.seconds if args.seconds > 0 else None)
    server.shutdown()
    dump()


if __name__ == "__main__":
    main()
