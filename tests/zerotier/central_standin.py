#!/usr/bin/env python3
"""A stand-in for a ZeroTier network controller's member API, for tests only (the real services cannot run here):
ZeroTier Central API v1 (--kind central, the default) or a self-hosted controller, the ZeroTier One service
(--kind controller).

Every request it receives and every response it sends is validated against the published OpenAPI document given
with --spec (../shared/reference/zerotier/zerotier-central.openapi.json or zerotier-one.openapi.json) with
openapi-core; each violation is appended to the file given with --violations, which the test asserts is empty.
One exception: the controller's POST /controller/network/{id}/member/{id}, which ZeroTier documents for
self-hosted controllers but which that OpenAPI document leaves out; its body is checked by hand below.
Members live in memory, seeded from --members.

    central_standin.py [--kind central|controller] --spec SPEC --token TOKEN --network NWID --members JSON
                       --violations FILE
Prints the port it listens on (127.0.0.1) as its first stdout line.
"""
import argparse
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qsl

from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

# Requests are validated as if they had gone to the spec's own server.
SPEC_HOSTS = {"central": "https://api.zerotier.com", "controller": "http://localhost:9993"}


class SpecRequest:
    def __init__(self, host, method, path, query, headers, body):
        self.host_url = host
        self.path = path
        self.full_url_pattern = host + path
        self.method = method.lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(query)), header=Headers(headers), cookie=ImmutableMultiDict()
        )
        self.body = body
        self.content_type = headers.get("Content-Type", "application/json").split(";")[0]


class SpecResponse:
    def __init__(self, status, body):
        self.status_code = status
        self.data = body
        self.content_type = "application/json"
        self.headers = Headers({"Content-Type": "application/json"})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=("central", "controller"), default="central")
    for flag in ("--spec", "--token", "--network", "--members", "--violations"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    api = OpenAPI.from_file_path(args.spec)
    host = SPEC_HOSTS[args.kind]
    if args.kind == "controller":
        members = {m["id"]: m for m in json.loads(args.members)}
        for member in members.values():
            member.update({"address": member["id"], "nwid": args.network, "revision": 1})
            member.setdefault("authorized", False)
            member.setdefault("ipAssignments", [])
    else:
        members = {m["nodeId"]: m for m in json.loads(args.members)}
    for member in (members.values() if args.kind == "central" else []):
        member.setdefault("networkId", args.network)
        member.setdefault("id", f"{args.network}-{member['nodeId']}")
        member.setdefault("config", {}).setdefault("authorized", False)
        member["config"].setdefault("id", member["nodeId"])
        member.setdefault("name", "")
        member.setdefault("description", "")
        member.setdefault("lastOnline", int(time.time() * 1000))

    def violation(text):
        with open(args.violations, "a") as out:
            out.write(text + "\n")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_):
            pass

        def handle_any(self, method):
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            request = SpecRequest(host, method, url.path, url.query, dict(self.headers), body)
            undocumented = args.kind == "controller" and method == "POST"
            if undocumented:
                change = json.loads(body or b"{}")
                if set(change) - {"authorized", "activeBridge", "ipAssignments"} or not isinstance(change.get("authorized", True), bool):
                    violation(f"request {method} {url.path}: unexpected controller member change {change}")
            else:
                try:
                    api.validate_request(request)
                except Exception as err:  # any validation failure is recorded, then answered like the service would
                    violation(f"request {method} {url.path}: {type(err).__name__}: {err} {getattr(err, '__cause__', '')}")
            status, payload = self.route(method, url.path, body) if args.kind == "central" else self.controller(method, url.path, body)
            data = json.dumps(payload).encode() if payload is not None else b""
            if not undocumented:
                try:
                    api.validate_response(request, SpecResponse(status, data))
                except Exception as err:
                    violation(f"response {method} {url.path} {status}: {type(err).__name__}: {err} {getattr(err, '__cause__', '')}")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def route(self, method, path, body):
            auth = self.headers.get("Authorization", "")
            if auth not in (f"token {args.token}", f"bearer {args.token}", f"Bearer {args.token}"):
                return 401, None
            prefix = f"/api/v1/network/{args.network}/member"
            if method == "GET" and path == prefix:
                return 200, list(members.values())
            if path.startswith(prefix + "/"):
                member = members.get(path[len(prefix) + 1:])
                if member is None:
                    return 404, None
                if method == "GET":
                    return 200, member
                if method == "POST":
                    change = json.loads(body or b"{}")
                    for key in ("name", "description", "hidden"):
                        if key in change:
                            member[key] = change[key]
                    member["config"].update({k: v for k, v in (change.get("config") or {}).items()
                                             if k in ("authorized", "ipAssignments", "activeBridge", "noAutoAssignIps")})
                    return 200, member
                if method == "DELETE":
                    del members[member["nodeId"]]
                    return 200, None
            return 404, None

        def controller(self, method, path, body):
            if self.headers.get("X-ZT1-Auth") != args.token:
                return 401, None
            prefix = f"/controller/network/{args.network}/member"
            if method == "GET" and path == prefix:
                return 200, {member_id: member["revision"] for member_id, member in members.items()}
            member = members.get(path[len(prefix) + 1:]) if path.startswith(prefix + "/") else None
            if member is None:
                return 404, None
            if method == "POST":
                change = json.loads(body or b"{}")
                member.update({k: v for k, v in change.items() if k in ("authorized", "activeBridge", "ipAssignments")})
                member["revision"] += 1
            return 200, member

        def do_GET(self):
            self.handle_any("GET")

        def do_POST(self):
            self.handle_any("POST")

        def do_DELETE(self):
            self.handle_any("DELETE")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
