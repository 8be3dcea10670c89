"""GitHub blocks (REST API): create a repository, create and update files, read a file, list branches,
create an issue, list pull requests. AutoGPT's block ids and pins.

The token comes from the vault: a ``github`` credential whose secret holds ``api_key`` (or
``access_token``), and optionally ``base_url``, the API root for GitHub Enterprise
(``https://ghe.example.com/api/v3``) or tests. Repositories are named by ``repo_url``
(``https://github.com/owner/repo``, the Enterprise host, or just ``owner/repo``); the host must be
GitHub's (or the Enterprise one): API URLs are always built from the credential's API root, never
from the user's URL, so the token cannot be sent elsewhere (AutoGPT's CVE-2024-10457). Requests go
through :func:`workbench.net.safe_client` (SSRF guard, size and time limits).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from pydantic import Field

from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema
from workbench.block.base import get_context
from workbench.block.context import RunContext
from workbench.errors import BlockError, CredentialsError, RetryableError

if TYPE_CHECKING:  # workbench.net brings httpx: imported when a block makes a request
    from workbench.net import HttpResult, SafeClient

GITHUB_API = "https://api.github.com"
PROVIDER = "github"
MAX_ITEMS = 1000
"""Listing blocks stop after this many items."""

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


@dataclass(frozen=True, slots=True)
class RepoRef:
    """``owner/name`` of a repository."""

    owner: str
    name: str

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def api_path(self) -> str:
        return f"/repos/{quote(self.owner, safe='')}/{quote(self.name, safe='')}"


def parse_repo(repo_url: str, api_base: str = GITHUB_API) -> RepoRef:
    """The repository ``repo_url`` names; BlockError when it is not a GitHub repository URL.

    Accepted: ``owner/repo``, or an http(s) URL on github.com or on the host of ``api_base``
    (GitHub Enterprise; a ``.git`` suffix and further path parts are ignored).
    """
    text = repo_url.strip()
    if "://" in text:
        parts = urlsplit(text)
        api_host = (urlsplit(api_base).hostname or "").lower()
        allowed = {"github.com", "www.github.com", api_host, api_host.removeprefix("api.")}
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or host not in allowed:
            raise BlockError(
                f"repo_url {repo_url!r} is not a GitHub repository URL: expected "
                f"https://github.com/<owner>/<repo> (or the credential's GitHub host), got host {host!r}"
            )
        segments = [s for s in parts.path.split("/") if s]
    else:
        segments = [s for s in text.split("/") if s]
    if len(segments) < 2 or (len(segments) > 2 and "://" not in text):
        raise BlockError(f"repo_url {repo_url!r} must name a repository: <owner>/<repo>")
    owner, name = segments[0], segments[1].removesuffix(".git")
    if not (_NAME.fullmatch(owner) and _NAME.fullmatch(name)):
        raise BlockError(f"repo_url {repo_url!r}: {owner!r}/{name!r} is not a valid repository name")
    return RepoRef(owner, name)


def _message(result: HttpResult) -> str:
    try:
        body = result.json()
    except BlockError:
        return result.text[:200]
    if not isinstance(body, dict):
        return str(body)[:200]
    text = str(body.get("message") or "").strip()
    details = [
        str(e.get("message") or f"{e.get('field')} {e.get('code')}")
        for e in body.get("errors") or []
        if isinstance(e, dict)
    ]
    return "; ".join([text, *details]) if details else text


class GitHubApi:
    """A few REST calls, with errors that name what was being done."""

    def __init__(self, http: SafeClient, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    async def call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        hints: dict[int, str] | None = None,
    ) -> HttpResult:
        """Send one request; a non-2xx answer raises an error about ``what`` (e.g. "reading o/r:f").

        ``hints`` replaces the message of some statuses by a more useful one.
        """
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        result = await self.http.request(method, url, json=json, params=params)
        if result.status_code < 300:
            return result
        if hints and result.status_code in hints:
            raise BlockError(f"{hints[result.status_code]} ({result.status_code} {_message(result)})")
        raise self._error(result, what)

    def _error(self, result: HttpResult, what: str) -> BlockError:
        status, message = result.status_code, _message(result)
        if status == 401:
            return CredentialsError(
                f"GitHub rejected the token while {what} (401 {message}): check the 'github' credential"
            )
        if status == 403 and result.headers.get("x-ratelimit-remaining") == "0":
            return RetryableError(f"GitHub rate limit reached while {what} (403 {message})")
        if status == 403:
            return BlockError(
                f"GitHub refused {what} (403 {message}): the token lacks access or the 'repo' scope"
            )
        if status == 404:
            return BlockError(
                f"GitHub found nothing while {what} (404 {message}): check the names, "
                "or whether the token can see this private repository"
            )
        if status in (409, 422):
            return BlockError(f"GitHub rejected {what} ({status} {message})")
        if status >= 500:
            return RetryableError(f"GitHub failed while {what} ({status} {message})")
        return BlockError(f"GitHub answered {status} while {what}: {message}")

    async def paginate(self, path: str, what: str, params: dict[str, Any] | None = None) -> list[Any]:
        """All items of a listing, following ``Link: rel="next"`` (at most :data:`MAX_ITEMS`)."""
        items: list[Any] = []
        url: str | None = self.base_url + path
        query: dict[str, Any] | None = {"per_page": 100, **(params or {})}
        while url and len(items) < MAX_ITEMS:
            result = await self.call("GET", url, what, params=query)
            page = result.json()
            if not isinstance(page, list):
                raise BlockError(f"GitHub answered {what} with {type(page).__name__}, not a list")
            items.extend(page)
            url = _next_link(result.headers.get("link"))
            query = None  # the next link carries its own query
            if url and not url.startswith(self.base_url):
                raise BlockError(f"GitHub's next page link leaves the API root: {url}")
        return items[:MAX_ITEMS]


def _next_link(header: str | None) -> str | None:
    for part in (header or "").split(","):
        match = re.match(r'\s*<([^>]+)>\s*;\s*rel="?next"?', part)
        if match:
            return match[1]
    return None


@asynccontextmanager
async def github_api(context: RunContext, credentials: Any) -> AsyncIterator[GitHubApi]:
    """A :class:`GitHubApi` with the run's ``github`` credential."""
    cred = await context.get_credential(PROVIDER, credentials)
    token = cred.secret.get("api_key") or cred.secret.get("access_token") or cred.secret.get("token")
    if not token:
        raise CredentialsError(f"credential {cred.meta.id} has no api_key or access_token for GitHub")
    base_url = str(cred.secret.get("base_url") or GITHUB_API)
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "agent-workbench",
    }
    from workbench.net import safe_client

    async with safe_client(context.settings, headers=headers) as http:
        yield GitHubApi(http, base_url)


class _GithubInput(BlockSchema):
    credentials: Any = Field(
        default=None,
        description="The 'github' credential to use ({id, provider, type} or an id); "
        "empty: your only GitHub credential.",
    )


class _RepoInput(_GithubInput):
    repo_url: str = Field(description="The repository: https://github.com/<owner>/<repo> or <owner>/<repo>.")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class GithubCreateRepositoryBlock(Block):
    """Creates a repository for the token's user."""

    id = "029ec3b8-1cfd-46d3-b6aa-28e4a706efd1"
    name = "GithubCreateRepositoryBlock"
    description = "Creates a new GitHub repository for the credential's user."
    categories = (BlockCategory.DEVELOPER_TOOLS,)

    class Input(_GithubInput):
        name: str = Field(description="Name of the repository to create.")
        description: str = Field(default="", description="Description of the repository.")
        private: bool = Field(default=False, description="Whether the repository is private.")
        auto_init: bool = Field(default=True, description="Start the repository with a README.")
        gitignore_template: str = Field(default="", description="A .gitignore template (Python, Node...).")

    class Output(BlockSchema):
        url: str = Field(description="URL of the created repository.")
        clone_url: str = Field(description="Git clone URL of the repository.")

    test_input = {"name": "test-repo", "description": "A test repository"}
    test_output = [
        ("url", "https://github.com/owner/test-repo"),
        ("clone_url", "https://github.com/owner/test-repo.git"),
    ]
    test_mock = {
        "_execute": lambda context, data: {
            "html_url": f"https://github.com/owner/{data.name}",
            "clone_url": f"https://github.com/owner/{data.name}.git",
        }
    }

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        repo = await self._execute(get_context(kwargs), input_data)
        yield "url", repo["html_url"]
        yield "clone_url", repo["clone_url"]

    async def _execute(self, context: RunContext, data: Input) -> dict[str, Any]:
        if not _NAME.fullmatch(data.name):
            raise BlockError(f"name {data.name!r}: use letters, digits, '-', '_' or '.' (at most 100)")
        body: dict[str, Any] = {
            "name": data.name,
            "description": data.description,
            "private": data.private,
            "auto_init": data.auto_init,
        }
        if data.gitignore_template:
            body["gitignore_template"] = data.gitignore_template
        async with github_api(context, data.credentials) as api:
            result = await api.call("POST", "/user/repos", f"creating repository {data.name!r}", json=body)
            return result.json()


class _FileInput(_RepoInput):
    file_path: str = Field(description="Path of the file in the repository.")
    content: str = Field(description="Content to write to the file.")
    branch: str = Field(default="main", description="Branch to commit to.")


def _clean_path(path: str) -> str:
    clean = path.strip().strip("/")
    if not clean or any(part in ("", ".", "..") for part in clean.split("/")):
        raise BlockError(f"file_path {path!r} is not a file path in a repository")
    return clean


async def _put_file(context: RunContext, data: _FileInput, message: str, *, update: bool) -> dict[str, Any]:
    path = _clean_path(data.file_path)
    async with github_api(context, data.credentials) as api:
        repo = parse_repo(data.repo_url, api.base_url)
        where = f"{repo}:{path} on branch {data.branch!r}"
        url = f"{repo.api_path}/contents/{quote(path)}"
        body = {"message": message, "content": _b64(data.content), "branch": data.branch}
        hints = {}
        if update:
            current = await api.call("GET", url, f"reading {where}", params={"ref": data.branch})
            found = current.json()
            if not isinstance(found, dict) or found.get("type") != "file":
                raise BlockError(f"{where} is a folder, not a file")
            body["sha"] = found["sha"]
            hints[409] = f"{where} changed while it was being updated; run again"
        else:
            hints[422] = f"{where} exists already (use GithubUpdateFileBlock to change it)"
        verb = "updating" if update else "creating"
        result = await api.call("PUT", url, f"{verb} {where}", json=body, hints=hints)
        return result.json()


class GithubCreateFileBlock(Block):
    """Commits a new file to a branch."""

    id = "8fd132ac-b917-428a-8159-d62893e8a3fe"
    name = "GithubCreateFileBlock"
    description = "Creates a new file in a GitHub repository (one commit on the branch)."
    categories = (BlockCategory.DEVELOPER_TOOLS,)

    class Input(_FileInput):
        commit_message: str = Field(default="Create new file", description="Message of the commit.")

    class Output(BlockSchema):
        url: str = Field(description="URL of the created file.")
        sha: str = Field(description="SHA of the commit.")

    test_input = {"repo_url": "https://github.com/owner/repo", "file_path": "test/file.txt", "content": "Hi"}
    test_output = [("url", "https://github.com/owner/repo/blob/main/test/file.txt"), ("sha", "abc123")]
    test_mock = {
        "_execute": lambda context, data: {
            "content": {"html_url": f"https://github.com/owner/repo/blob/{data.branch}/{data.file_path}"},
            "commit": {"sha": "abc123"},
        }
    }

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        result = await self._execute(get_context(kwargs), input_data)
        yield "url", result["content"]["html_url"]
        yield "sha", result["commit"]["sha"]

    async def _execute(self, context: RunContext, data: Input) -> dict[str, Any]:
        return await _put_file(context, data, data.commit_message, update=False)


class GithubUpdateFileBlock(Block):
    """Commits a new version of an existing file."""

    id = "30be12a4-57cb-4aa4-baf5-fcc68d136076"
    name = "GithubUpdateFileBlock"
    description = "Updates an existing file in a GitHub repository (one commit on the branch)."
    categories = (BlockCategory.DEVELOPER_TOOLS,)

    class Input(_FileInput):
        commit_message: str = Field(default="Update file", description="Message of the commit.")

    class Output(BlockSchema):
        url: str = Field(description="URL of the updated file.")
        sha: str = Field(description="SHA of the commit.")

    test_input = {"repo_url": "owner/repo", "file_path": "a.txt", "content": "new", "branch": "dev"}
    test_output = [("url", "https://github.com/owner/repo/blob/dev/a.txt"), ("sha", "def456")]
    test_mock = {
        "_execute": lambda context, data: {
            "content": {"html_url": f"https://github.com/owner/repo/blob/{data.branch}/{data.file_path}"},
            "commit": {"sha": "def456"},
        }
    }

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        result = await self._execute(get_context(kwargs), input_data)
        yield "url", result["content"]["html_url"]
        yield "sha", result["commit"]["sha"]

    async def _execute(self, context: RunContext, data: Input) -> dict[str, Any]:
        return await _put_file(context, data, data.commit_message, update=True)


class GithubReadFileBlock(Block):
    """Reads a file of a branch."""

    id = "87ce6c27-5752-4bbc-8e26-6da40a3dcfd3"
    name = "GithubReadFileBlock"
    description = "Reads a file of a GitHub repository: its base64 content, its text (UTF-8) and its size."
    categories = (BlockCategory.DEVELOPER_TOOLS,)

    class Input(_RepoInput):
        file_path: str = Field(description="Path of the file in the repository.")
        branch: str = Field(default="master", description="Branch (or tag, or commit) to read from.")

    class Output(BlockSchema):
        text_content: str = Field(description="The content decoded as UTF-8 (invalid bytes replaced).")
        raw_content: str = Field(description="The content, base64-encoded.")
        size: int = Field(description="The size of the file in bytes.")

    test_input = {"repo_url": "https://github.com/owner/repo", "file_path": "path/to/file"}
    test_output = [("raw_content", "RmlsZSBjb250ZW50"), ("text_content", "File content"), ("size", 12)]
    test_mock = {"_execute": lambda context, data: {"content": "RmlsZSBj\nb250ZW50\n", "size": 12}}

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        found = await self._execute(get_context(kwargs), input_data)
        raw = "".join(str(found["content"]).split())
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            yield "error", f"GitHub sent content of {input_data.file_path!r} that is not base64"
            return
        yield "raw_content", raw
        yield "text_content", data.decode("utf-8", errors="replace")
        yield "size", int(found["size"])

    async def _execute(self, context: RunContext, data: Input) -> dict[str, Any]:
        path = _clean_path(data.file_path)
        async with github_api(context, data.credentials) as api:
            repo = parse_repo(data.repo_url, api.base_url)
            where = f"{repo}:{path} at {data.branch!r}"
            url = f"{repo.api_path}/contents/{quote(path)}"
            result = await api.call("GET", url, f"reading {where}", params={"ref": data.branch})
        found = result.json()
        if isinstance(found, list) or found.get("type") != "file":
            raise BlockError(f"{where} is a folder, not a file")
        if found.get("encoding") != "base64":
            raise BlockError(f"{where} is too large for GitHub's contents API (over 1 MB)")
        return found


class GithubListBranchesBlock(Block):
    """Lists the branches of a repository."""

    id = "74243e49-2bec-4916-8bf4-db43d44aead5"
    name = "GithubListBranchesBlock"
    description = "Lists the branches of a GitHub repository, each with its name and file-tree URL."
    categories = (BlockCategory.DEVELOPER_TOOLS,)

    class Input(_RepoInput):
        pass

    class Output(BlockSchema):
        branches: list[dict[str, str]] = Field(description="All branches: [{name, url}].")
        branch: dict[str, str] = Field(description="Each branch, one at a time: {name, url}.")

    test_input = {"repo_url": "https://github.com/owner/repo"}
    test_output = [
        ("branches", [{"name": "main", "url": "https://github.com/owner/repo/tree/main"}]),
        ("branch", {"name": "main", "url": "https://github.com/owner/repo/tree/main"}),
    ]
    test_mock = {
        "_execute": lambda context, data: [{"name": "main", "url": "https://github.com/owner/repo/tree/main"}]
    }

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        branches = await self._execute(get_context(kwargs), input_data)
        yield "branches", branches
        for branch in branches:
            yield "branch", branch

    async def _execute(self, context: RunContext, data: Input) -> list[dict[str, str]]:
        web = _web_root(data.repo_url)
        async with github_api(context, data.credentials) as api:
            repo = parse_repo(data.repo_url, api.base_url)
            items = await api.paginate(f"{repo.api_path}/branches", f"listing the branches of {repo}")
        return [{"name": b["name"], "url": f"{web}/{repo}/tree/{b['name']}"} for b in items]


def _web_root(repo_url: str) -> str:
    parts = urlsplit(repo_url.strip())
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "https://github.com"


class GithubMakeIssueBlock(Block):
    """Opens an issue."""

    id = "691dad47-f494-44c3-a1e8-05b7990f2dab"
    name = "GithubMakeIssueBlock"
    description = "Creates an issue in a GitHub repository."
    categories = (BlockCategory.DEVELOPER_TOOLS, BlockCategory.ISSUE_TRACKING)

    class Input(_RepoInput):
        title: str = Field(description="Title of the issue.")
        body: str = Field(default="", description="Body of the issue (Markdown).")

    class Output(BlockSchema):
        number: int = Field(description="Number of the created issue.")
        url: str = Field(description="URL of the created issue.")

    test_input = {"repo_url": "https://github.com/owner/repo", "title": "Bug", "body": "It breaks."}
    test_output = [("number", 1), ("url", "https://github.com/owner/repo/issues/1")]
    test_mock = {
        "_execute": lambda context, data: {"number": 1, "html_url": "https://github.com/owner/repo/issues/1"}
    }

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        issue = await self._execute(get_context(kwargs), input_data)
        yield "number", issue["number"]
        yield "url", issue["html_url"]

    async def _execute(self, context: RunContext, data: Input) -> dict[str, Any]:
        async with github_api(context, data.credentials) as api:
            repo = parse_repo(data.repo_url, api.base_url)
            body = {"title": data.title, "body": data.body}
            result = await api.call(
                "POST", f"{repo.api_path}/issues", f"creating an issue in {repo}", json=body
            )
            return result.json()


class GithubListPullRequestsBlock(Block):
    """Lists the open pull requests of a repository."""

    id = "ffef3c4c-6cd0-48dd-817d-459f975219f4"
    name = "GithubListPullRequestsBlock"
    description = "Lists the open pull requests of a GitHub repository, each with its title and URL."
    categories = (BlockCategory.DEVELOPER_TOOLS,)

    class Input(_RepoInput):
        pass

    class Output(BlockSchema):
        pull_requests: list[dict[str, Any]] = Field(description="All open pull requests: [{title, url}].")
        pull_request: dict[str, Any] = Field(description="Each pull request, one at a time: {title, url}.")

    test_input = {"repo_url": "https://github.com/owner/repo"}
    test_output = [
        ("pull_requests", [{"title": "PR 1", "url": "https://github.com/owner/repo/pull/1"}]),
        ("pull_request", {"title": "PR 1", "url": "https://github.com/owner/repo/pull/1"}),
    ]
    test_mock = {
        "_execute": lambda context, data: [{"title": "PR 1", "url": "https://github.com/owner/repo/pull/1"}]
    }

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        pulls = await self._execute(get_context(kwargs), input_data)
        yield "pull_requests", pulls
        for pull in pulls:
            yield "pull_request", pull

    async def _execute(self, context: RunContext, data: Input) -> list[dict[str, Any]]:
        async with github_api(context, data.credentials) as api:
            repo = parse_repo(data.repo_url, api.base_url)
            items = await api.paginate(
                f"{repo.api_path}/pulls", f"listing the pull requests of {repo}", {"state": "open"}
            )
        return [{"title": p["title"], "url": p["html_url"]} for p in items]
