"""A local GitHub REST API lookalike for the GitHub block tests: real HTTP on 127.0.0.1, state in memory.

It answers the endpoints the blocks use with GitHub's JSON shapes and status codes:

* ``GET /user``; ``POST /user/repos`` (201; 422 when the name is taken);
* ``GET /repos/{owner}/{repo}/branches`` (paginated: ``per_page``, ``page``, a ``Link`` header);
* ``GET|PUT /repos/{owner}/{repo}/contents/{path}`` (base64 content with the git blob sha; PUT creates
  (201), or updates (200) only with the current ``sha``: 422 without it, 409 with a stale one);
* ``POST /repos/{owner}/{repo}/issues`` (201; 422 without a title);
* ``GET /repos/{owner}/{repo}/pulls`` (``state`` filter, paginated).

Tokens: ``Authorization: Bearer <token>`` (or ``token <token>``) of a registered user; none is 401
"Requires authentication", an unknown one 401 "Bad credentials". Private repositories of others are
404 (GitHub hides them), writing to someone else's public repository is 403. ``log`` keeps every
request (method, path, Authorization header) for assertions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

WEB = "https://github.com"
DOCS = "https://docs.github.com/rest"


def blob_sha(data: bytes) -> str:
    """Git's blob id of ``data`` (what GitHub reports as a file's ``sha``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _commit_sha() -> str:
    return secrets.token_hex(20)


@dataclass
class Branch:
    """A branch: its head commit and the files at that commit."""

    commit: str
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass
class Repo:
    """A repository in memory."""

    id: int
    owner: str
    name: str
    private: bool
    description: str = ""
    default_branch: str = "main"
    branches: dict[str, Branch] = field(default_factory=dict)
    issues: list[dict[str, Any]] = field(default_factory=list)
    pulls: list[dict[str, Any]] = field(default_factory=list)
    next_number: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


class HttpAnswer(Exception):
    """Raised by a handler to answer with a status and a JSON body."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _error(status: int, message: str, **extra: Any) -> HttpAnswer:
    return HttpAnswer(status, {"message": message, "documentation_url": DOCS, **extra})


class GitHubServer:
    """The fake GitHub; ``start()`` it and point credentials' ``base_url`` at :attr:`url`."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.repos: dict[tuple[str, str], Repo] = {}
        self.log: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._ids = 1000
        self._server: ThreadingHTTPServer | None = None

    # ---- setup --------------------------------------------------------------------------------

    def add_user(self, login: str) -> str:
        """Register a user; returns a new token for them."""
        token = "ghp_" + secrets.token_hex(18)
        self.tokens[token] = login
        return token

    def add_repo(
        self,
        owner: str,
        name: str,
        *,
        private: bool = False,
        files: dict[str, str] | None = None,
        branches: tuple[str, ...] = (),
    ) -> Repo:
        """A repository with ``main`` holding ``files``, plus further branches copied from it."""
        self._ids += 1
        repo = Repo(self._ids, owner, name, private)
        repo.branches["main"] = Branch(_commit_sha(), {p: c.encode() for p, c in (files or {}).items()})
        for branch in branches:
            repo.branches[branch] = Branch(_commit_sha(), dict(repo.branches["main"].files))
        self.repos[(owner.lower(), name.lower())] = repo
        return repo

    def add_pull(self, repo: Repo, title: str, head: str, base: str = "main", state: str = "open") -> None:
        """A pull request from ``head`` into ``base``."""
        number = repo.next_number
        repo.next_number += 1
        repo.pulls.append(
            {
                "id": self._ids + number,
                "number": number,
                "state": state,
                "title": title,
                "html_url": f"{WEB}/{repo.full_name}/pull/{number}",
                "url": f"{self.url}/repos/{repo.full_name}/pulls/{number}",
                "user": {"login": repo.owner},
                "head": {"ref": head, "sha": repo.branches[head].commit},
                "base": {"ref": base, "sha": repo.branches[base].commit},
            }
        )

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self) -> GitHubServer:
        """Serve on a free port of 127.0.0.1 in a background thread."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="github-fake", daemon=True).start()
        self._server = server
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        """The API root, e.g. ``http://127.0.0.1:54321``."""
        assert self._server is not None, "start() the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ---- request handling ---------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> HttpAnswer:
        """Answer one request (called from the HTTP handler thread)."""
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.log.append({"method": method, "path": parts.path, "authorization": headers.get("authorization")})
        try:
            user = self._authenticate(headers.get("authorization"))
            payload = json.loads(body) if body else {}
            with self._lock:
                return self._route(method, parts.path, query, payload, user)
        except HttpAnswer as answer:
            return answer
        except ValueError:
            return _error(400, "Problems parsing JSON")

    def _authenticate(self, header: str | None) -> str:
        if not header:
            raise _error(401, "Requires authentication")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "token") or token not in self.tokens:
            raise _error(401, "Bad credentials")
        return self.tokens[token]

    def _route(self, method: str, path: str, query: dict[str, str], payload: Any, user: str) -> HttpAnswer:
        if path == "/user" and method == "GET":
            return HttpAnswer(200, {"login": user, "id": abs(hash(user)) % 10**6, "type": "User"})
        if path == "/user/repos" and method == "POST":
            return self._create_repo(payload, user)
        match = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)?", path)
        if match is None:
            raise _error(404, "Not Found")
        owner, name, rest = unquote(match[1]), unquote(match[2]), match[3] or ""
        repo = self.repos.get((owner.lower(), name.lower()))
        if repo is None or (repo.private and repo.owner != user):
            raise _error(404, "Not Found")
        if rest == "/branches" and method == "GET":
            items = [
                {
                    "name": b,
                    "commit": {
                        "sha": br.commit,
                        "url": f"{self.url}/repos/{repo.full_name}/commits/{br.commit}",
                    },
                    "protected": False,
                }
                for b, br in repo.branches.items()
            ]
            return self._page(items, query, f"/repos/{repo.full_name}/branches")
        if rest.startswith("/contents/"):
            file_path = unquote(rest[len("/contents/") :]).strip("/")
            if method == "GET":
                return self._read(repo, file_path, query.get("ref") or repo.default_branch)
            if method == "PUT":
                self._check_write(repo, user)
                return self._write(repo, file_path, payload, user)
        if rest == "/issues" and method == "POST":
            return self._create_issue(repo, payload, user)
        if rest == "/pulls" and method == "GET":
            state = query.get("state", "open")
            items = [p for p in repo.pulls if state == "all" or p["state"] == state]
            return self._page(items, query, f"/repos/{repo.full_name}/pulls")
        raise _error(404, "Not Found")

    def _page(self, items: list[Any], query: dict[str, str], path: str) -> HttpAnswer:
        per_page = min(int(query.get("per_page", 30)), 100)
        page = max(int(query.get("page", 1)), 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            headers["Link"] = f'<{self.url}{path}?per_page={per_page}&page={page + 1}>; rel="next"'
        return HttpAnswer(200, chunk, headers)

    def _check_write(self, repo: Repo, user: str) -> None:
        if repo.owner != user:
            raise _error(403, "Resource not accessible by personal access token")

    def _create_repo(self, payload: dict[str, Any], user: str) -> HttpAnswer:
        name = str(payload.get("name") or "")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", name):
            raise _error(
                422,
                "Repository creation failed.",
                errors=[
                    {
                        "resource": "Repository",
                        "code": "custom",
                        "field": "name",
                        "message": "name is invalid",
                    }
                ],
            )
        if (user.lower(), name.lower()) in self.repos:
            raise _error(
                422,
                "Repository creation failed.",
                errors=[
                    {
                        "resource": "Repository",
                        "code": "custom",
                        "field": "name",
                        "message": "name already exists on this account",
                    }
                ],
            )
        files = (
            {"README.md": f"# {name}\n\n{payload.get('description') or ''}\n"}
            if payload.get("auto_init")
            else {}
        )
        if payload.get("auto_init") and payload.get("gitignore_template"):
            files[".gitignore"] = f"# {payload['gitignore_template']}\n__pycache__/\n"
        repo = self.add_repo(user, name, private=bool(payload.get("private")), files=files)
        repo.description = str(payload.get("description") or "")
        return HttpAnswer(201, self._repo_json(repo))

    def _repo_json(self, repo: Repo) -> dict[str, Any]:
        return {
            "id": repo.id,
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": {"login": repo.owner},
            "private": repo.private,
            "description": repo.description or None,
            "html_url": f"{WEB}/{repo.full_name}",
            "clone_url": f"{WEB}/{repo.full_name}.git",
            "url": f"{self.url}/repos/{repo.full_name}",
            "default_branch": repo.default_branch,
        }

    def _file_json(self, repo: Repo, branch: str, path: str, data: bytes) -> dict[str, Any]:
        return {
            "type": "file",
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": blob_sha(data),
            "size": len(data),
            "url": f"{self.url}/repos/{repo.full_name}/contents/{path}?ref={branch}",
            "html_url": f"{WEB}/{repo.full_name}/blob/{branch}/{path}",
            "download_url": f"https://raw.githubusercontent.com/{repo.full_name}/{branch}/{path}",
        }

    def _read(self, repo: Repo, path: str, ref: str) -> HttpAnswer:
        branch = repo.branches.get(ref)
        if branch is None:
            raise _error(404, f"No commit found for the ref {ref}")
        if path in branch.files:
            data = branch.files[path]
            encoded = base64.encodebytes(data).decode()  # GitHub wraps base64 at 60-76 columns
            return HttpAnswer(
                200, {**self._file_json(repo, ref, path, data), "encoding": "base64", "content": encoded}
            )
        prefix = path + "/"
        entries = sorted({p[len(prefix) :].split("/", 1)[0] for p in branch.files if p.startswith(prefix)})
        if not entries:
            raise _error(404, "Not Found")
        listing = []
        for entry in entries:
            full = prefix + entry
            if full in branch.files:
                listing.append(self._file_json(repo, ref, full, branch.files[full]))
            else:
                listing.append({"type": "dir", "name": entry, "path": full})
        return HttpAnswer(200, listing)

    def _write(self, repo: Repo, path: str, payload: dict[str, Any], user: str) -> HttpAnswer:
        for key in ("message", "content"):
            if key not in payload:
                raise _error(422, f'Invalid request.\n\n"{key}" wasn\'t supplied.')
        ref = payload.get("branch") or repo.default_branch
        branch = repo.branches.get(ref)
        if branch is None:
            raise _error(404, f"Branch {ref} not found")
        try:
            data = base64.b64decode(payload["content"], validate=True)
        except ValueError as exc:
            raise _error(422, "content is not valid Base64") from exc
        existing = branch.files.get(path)
        if existing is not None:
            if not payload.get("sha"):
                raise _error(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
            if payload["sha"] != blob_sha(existing):
                raise _error(409, f"{path} does not match {payload['sha']}")
        branch.files[path] = data
        branch.commit = _commit_sha()
        commit = {
            "sha": branch.commit,
            "message": payload["message"],
            "html_url": f"{WEB}/{repo.full_name}/commit/{branch.commit}",
            "author": {"name": user},
        }
        return HttpAnswer(
            200 if existing is not None else 201,
            {"content": self._file_json(repo, ref, path, data), "commit": commit},
        )

    def _create_issue(self, repo: Repo, payload: dict[str, Any], user: str) -> HttpAnswer:
        title = payload.get("title")
        if not title:
            raise _error(
                422,
                "Validation Failed",
                errors=[{"resource": "Issue", "code": "missing_field", "field": "title"}],
            )
        number = repo.next_number
        repo.next_number += 1
        issue = {
            "id": self._ids * 10 + number,
            "number": number,
            "title": title,
            "body": payload.get("body"),
            "state": "open",
            "user": {"login": user},
            "html_url": f"{WEB}/{repo.full_name}/issues/{number}",
            "url": f"{self.url}/repos/{repo.full_name}/issues/{number}",
        }
        repo.issues.append(issue)
        return HttpAnswer(201, issue)


def _handler(fake: GitHubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = fake.handle(self.command, self.path, headers, body)
            data = json.dumps(answer.body).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in answer.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
