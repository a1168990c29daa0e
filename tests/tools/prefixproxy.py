#!/usr/bin/env python3
"""prefixproxy PREFIX UPSTREAM PORTFILE: an HTTP proxy on 127.0.0.1 that
serves UPSTREAM (http://127.0.0.1:PORT) under PREFIX and takes PREFIX off
each request's path, as a reverse proxy in front of g2t-serve does; 404 for
a path outside PREFIX.  Writes its port to PORTFILE."""
import http.client
import os
import http.server
import sys
import urllib.parse

prefix, upstream, portfile = sys.argv[1:4]
target = urllib.parse.urlsplit(upstream)


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def forward(self):
        if not self.path.startswith(prefix + "/"):
            self.send_error(404)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        conn.request(self.command, self.path[len(prefix):], body, headers)
        answer = conn.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for k, v in answer.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = forward

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
with open(portfile + ".tmp", "w") as f:
    f.write("%d\n" % server.server_address[1])
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
