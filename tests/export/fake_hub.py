"""A minimal local Hugging Face Hub over real HTTP, enough for `HfApi.create_repo`,
`HfApi.upload_folder` (every file uploaded inline as a regular git blob) and `HfApi.model_info`. It records the
repos, the files of every commit and the Authorization headers it saw."""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml


class FakeHub:
    def __init__(self):
        self.repos: dict[tuple[str, str], dict[str, bytes]] = {}  # (type, repo_id) -> path -> bytes
        self.auth: list[str | None] = []
        self.validated: list[str] = []  # repo types whose README metadata was checked
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status, obj):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # model_info: a known model repo, or the Hub's "repository not found"
                m = re.fullmatch(r"/api/models/([^/]+/[^/?]+)(/revision/[^?]+)?(\?.*)?", self.path)
                if m and ("model", m[1]) in hub.repos:
                    return self._reply(200, {"id": m[1], "modelId": m[1], "sha": "0" * 40, "siblings": []})
                body = json.dumps({"error": "Repository not found"}).encode()
                self.send_response(404)
                self.send_header("X-Error-Code", "RepoNotFound")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                hub.auth.append(self.headers.get("Authorization"))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/api/validate-yaml":  # the README's metadata block must be a YAML mapping
                    req = json.loads(body)
                    hub.validated.append(req["repoType"])
                    head = req["content"].split("---")[1] if req["content"].startswith("---") else ""
                    ok = isinstance(yaml.safe_load(head), dict)
                    return self._reply(200 if ok else 400, {"errors": [] if ok else [{"message": "bad metadata"}]})
                if self.path == "/api/repos/create":
                    req = json.loads(body)
                    kind = req.get("type") or "model"
                    repo_id = f"{req['organization']}/{req['name']}" if req.get("organization") else req["name"]
                    hub.repos.setdefault((kind, repo_id), {})
                    prefix = "" if kind == "model" else f"{kind}s/"
                    return self._reply(200, {"url": f"{hub.url}/{prefix}{repo_id}", "name": repo_id})
                m = re.fullmatch(r"/api/(model|dataset)s/([^/]+/[^/]+)/(preupload|commit)/main(\?.*)?", self.path)
                if not m or (m[1], m[2]) not in hub.repos:
                    return self._reply(404, {"error": f"no such repo or route: {self.path}"})
                files = hub.repos[(m[1], m[2])]
                if m[3] == "preupload":
                    paths = [f["path"] for f in json.loads(body)["files"]]
                    return self._reply(200, {"files": [{"path": p, "uploadMode": "regular", "shouldIgnore": False,
                                                        "oid": None} for p in paths]})
                for line in body.decode().splitlines():
                    op = json.loads(line)
                    if op["key"] == "file":
                        files[op["value"]["path"]] = base64.b64decode(op["value"]["content"])
                prefix = "" if m[1] == "model" else "datasets/"
                return self._reply(200, {"commitUrl": f"{hub.url}/{prefix}{m[2]}/commit/{'0' * 40}",
                                         "commitOid": "0" * 40})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
