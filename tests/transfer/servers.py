"""Real file servers on loopback for the VM export and import tests: an FTP server (pyftpdlib, one user with a
password, passive mode) or an HTTP server (the standard library's, with PUT added: it stores the body under the
path) over one folder. Prints the port it listens on as its first line, then serves until killed.

    python servers.py --ftp  --root DIR --user vm --password secret
    python servers.py --http --root DIR [--pace SECONDS]

With --pace, the HTTP server sends a file in pieces of 256 KiB with that pause after each, so a client's progress
through a download can be watched.
"""

import argparse
import http.server
import os
import sys
import time


def serve_ftp(root, user, password):
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    authorizer = DummyAuthorizer()
    authorizer.add_user(user, password, root, perm="elradfmwMT")
    handler = type("Handler", (FTPHandler,), {"authorizer": authorizer})
    server = FTPServer(("127.0.0.1", 0), handler)
    print(server.socket.getsockname()[1], flush=True)
    server.serve_forever()


def serve_http(root, pace):
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=root, **kwargs)

        def copyfile(self, source, outputfile):
            if not pace:
                return super().copyfile(source, outputfile)
            while piece := source.read(256 * 1024):
                outputfile.write(piece)
                outputfile.flush()
                time.sleep(pace)

        def do_PUT(self):
            path = os.path.realpath(os.path.join(root, self.path.split("?")[0].lstrip("/")))
            if not path.startswith(os.path.realpath(root) + os.sep):
                self.send_error(403, "outside the served folder")
                return
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as out:
                out.write(body)
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def main():
    parser = argparse.ArgumentParser()
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--ftp", action="store_true")
    kind.add_argument("--http", action="store_true")
    parser.add_argument("--root", required=True)
    parser.add_argument("--user", default="vm")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--pace", type=float, default=0)
    args = parser.parse_args()
    if args.ftp:
        serve_ftp(args.root, args.user, args.password)
    else:
        serve_http(args.root, args.pace)


if __name__ == "__main__":
    sys.exit(main())
