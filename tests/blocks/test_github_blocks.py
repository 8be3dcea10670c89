"""The GitHub blocks' real client code against a local GitHub API lookalike, with tokens from the vault."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from blocks.github import (
    GithubCreateFileBlock,
    GithubCreateRepositoryBlock,
    GithubListBranchesBlock,
    GithubListPullRequestsBlock,
    GithubMakeIssueBlock,
    GithubReadFileBlock,
    GithubUpdateFileBlock,
    parse_repo,
)
from tests.support.github_server import GitHubServer, blob_sha
from workbench.app import Workbench
from workbench.block.context import RunContext
from workbench.block.selftest import run_block_once
from workbench.errors import BlockError, CredentialsError


@pytest.fixture(scope="module")
def github() -> Iterator[GitHubServer]:
    server = GitHubServer().start()
    yield server
    server.stop()


class Env:
    """A user with a 'github' credential pointing at the fake server, and contexts to run blocks in."""

    def __init__(self, wb: Workbench, github: GitHubServer, user_id: str, cred_id: str, login: str) -> None:
        self.wb, self.github, self.user_id, self.cred_id, self.login = wb, github, user_id, cred_id, login

    def context(self, allow_loopback: bool = True) -> RunContext:
        settings = self.wb.settings.with_(http_allow=("127.0.0.1",) if allow_loopback else ())
        ctx = RunContext.for_test(settings, services=self.wb.block_services)
        ctx.user_id = self.user_id
        return ctx

    async def run(self, block: Any, data: dict[str, Any], **kw: Any) -> dict[str, Any]:
        out = await run_block_once(
            block, {"credentials": {"id": self.cred_id, "provider": "github"}, **data}, self.context(**kw)
        )
        return dict(out)


async def _env(wb: Workbench, github: GitHubServer, login: str, token: str | None = None) -> Env:
    assert wb.accounts is not None and wb.credentials is not None
    user = await wb.accounts.signup(f"{login}-{uuid.uuid4().hex[:8]}@example.com", "correct horse battery")
    token = token or github.add_user(login)
    cred = await wb.credentials.create(
        user.id, "github", "api_key", {"api_key": token, "base_url": github.url}, title="fake github"
    )
    return Env(wb, github, user.id, cred.id, login)


@pytest.fixture
async def octo(wb: Workbench, github: GitHubServer) -> Env:
    return await _env(wb, github, f"octo{uuid.uuid4().hex[:6]}")


def test_parse_repo_accepts_github_urls_only() -> None:
    assert str(parse_repo("https://github.com/octo/hello")) == "octo/hello"
    assert str(parse_repo("https://github.com/octo/hello.git")) == "octo/hello"
    assert str(parse_repo("https://github.com/octo/hello/tree/main/src")) == "octo/hello"
    assert str(parse_repo("octo/hello")) == "octo/hello"
    assert (
        str(parse_repo("https://ghe.corp.example/team/app", "https://ghe.corp.example/api/v3")) == "team/app"
    )
    for bad in (
        "https://github.com.evil.com/octo/hello",
        "https://evil.com/octo/hello",
        "octo",
        "file:///x/y",
    ):
        with pytest.raises(BlockError):
            parse_repo(bad)


async def test_create_repository_then_files_round_trip(octo: Env) -> None:
    out = await octo.run(GithubCreateRepositoryBlock(), {"name": "demo", "description": "A demo"})
    assert out == {
        "url": f"https://github.com/{octo.login}/demo",
        "clone_url": f"https://github.com/{octo.login}/demo.git",
    }
    repo_url = out["url"]
    created = await octo.run(
        GithubCreateFileBlock(),
        {
            "repo_url": repo_url,
            "file_path": "docs/notes.md",
            "content": "héllo\n",
            "commit_message": "add notes",
        },
    )
    repo = octo.github.repos[(octo.login.lower(), "demo")]
    assert repo.branches["main"].files["docs/notes.md"] == "héllo\n".encode()
    assert created == {
        "url": f"https://github.com/{octo.login}/demo/blob/main/docs/notes.md",
        "sha": repo.branches["main"].commit,
    }
    read = await octo.run(
        GithubReadFileBlock(), {"repo_url": repo_url, "file_path": "docs/notes.md", "branch": "main"}
    )
    assert read == {
        "raw_content": base64.b64encode("héllo\n".encode()).decode(),
        "text_content": "héllo\n",
        "size": len("héllo\n".encode()),
    }
    updated = await octo.run(
        GithubUpdateFileBlock(), {"repo_url": repo_url, "file_path": "docs/notes.md", "content": "v2"}
    )
    assert updated["sha"] == repo.branches["main"].commit
    assert repo.branches["main"].files["docs/notes.md"] == b"v2"
    # the update sent the sha of the version it replaced
    assert blob_sha(b"v2") != blob_sha("héllo\n".encode())


async def test_clear_errors_name_the_repo_and_path(octo: Env) -> None:
    octo.github.add_repo(octo.login, "errs", files={"a.txt": "A"})
    url = f"https://github.com/{octo.login}/errs"
    with pytest.raises(BlockError, match=rf"{octo.login}/errs:a.txt on branch 'main' exists already"):
        await octo.run(GithubCreateFileBlock(), {"repo_url": url, "file_path": "a.txt", "content": "x"})
    with pytest.raises(
        BlockError, match=rf"found nothing while reading {octo.login}/errs:nope.txt at 'main' \(404 Not"
    ):
        await octo.run(GithubReadFileBlock(), {"repo_url": url, "file_path": "nope.txt", "branch": "main"})
    with pytest.raises(
        BlockError, match=rf"found nothing while reading {octo.login}/errs:gone.txt on branch 'main'"
    ):
        await octo.run(GithubUpdateFileBlock(), {"repo_url": url, "file_path": "gone.txt", "content": "x"})
    with pytest.raises(BlockError, match=r"422 Repository creation failed.; name already exists"):
        await octo.run(GithubCreateRepositoryBlock(), {"name": "errs"})
    octo.github.add_repo(octo.login, "tree", files={"src/x.py": "1"})
    with pytest.raises(BlockError, match="is a folder, not a file"):
        await octo.run(
            GithubReadFileBlock(), {"repo_url": f"{octo.login}/tree", "file_path": "src", "branch": "main"}
        )


async def test_permissions_401_403_404(wb: Workbench, github: GitHubServer, octo: Env) -> None:
    github.add_repo(octo.login, "secret", private=True, files={"k": "v"})
    github.add_repo(octo.login, "open", files={"k": "v"})
    other = await _env(wb, github, f"other{uuid.uuid4().hex[:6]}")
    with pytest.raises(BlockError, match=r"404 Not Found.*private repository"):
        await other.run(
            GithubReadFileBlock(), {"repo_url": f"{octo.login}/secret", "file_path": "k", "branch": "main"}
        )
    with pytest.raises(
        BlockError, match=rf"GitHub refused creating {octo.login}/open:k2 on branch 'main' \(403"
    ):
        await other.run(
            GithubCreateFileBlock(), {"repo_url": f"{octo.login}/open", "file_path": "k2", "content": "x"}
        )
    bad = await _env(wb, github, "nobody", token="ghp_not_a_real_token")
    with pytest.raises(CredentialsError, match=r"rejected the token .*401 Bad credentials"):
        await bad.run(GithubListBranchesBlock(), {"repo_url": f"{octo.login}/open"})


async def test_list_branches_follows_pagination(octo: Env) -> None:
    names = tuple(f"feature-{i:03d}" for i in range(130))
    octo.github.add_repo(octo.login, "many", branches=names)
    out = await run_block_once(
        GithubListBranchesBlock(),
        {"repo_url": f"https://github.com/{octo.login}/many", "credentials": octo.cred_id},
        octo.context(),
    )
    branches = next(v for pin, v in out if pin == "branches")
    assert len(branches) == 131  # main + 130, over two pages of 100
    assert branches[0] == {"name": "main", "url": f"https://github.com/{octo.login}/many/tree/main"}
    assert [v for pin, v in out if pin == "branch"] == branches
    assert sum(1 for r in octo.github.log if r["path"].endswith("/many/branches")) == 2


async def test_issue_and_pull_requests(octo: Env) -> None:
    repo = octo.github.add_repo(octo.login, "work", branches=("fix", "feat"))
    octo.github.add_pull(repo, "Fix it", "fix")
    octo.github.add_pull(repo, "Old", "feat", state="closed")
    issue = await octo.run(
        GithubMakeIssueBlock(), {"repo_url": f"{octo.login}/work", "title": "Bug", "body": "Broken"}
    )
    assert issue == {"number": 3, "url": f"https://github.com/{octo.login}/work/issues/3"}
    assert repo.issues[0]["body"] == "Broken" and repo.issues[0]["user"]["login"] == octo.login
    pulls = await octo.run(GithubListPullRequestsBlock(), {"repo_url": f"{octo.login}/work"})
    assert pulls["pull_requests"] == [
        {"title": "Fix it", "url": f"https://github.com/{octo.login}/work/pull/1"}
    ]
    with pytest.raises(BlockError, match="422 Validation Failed"):
        await octo.run(GithubMakeIssueBlock(), {"repo_url": f"{octo.login}/work", "title": ""})


async def test_token_goes_only_to_the_api_root(octo: Env) -> None:
    """A look-alike host in repo_url is refused before any request (AutoGPT's CVE-2024-10457)."""
    before = len(octo.github.log)
    with pytest.raises(BlockError, match="not a GitHub repository URL"):
        await octo.run(GithubListBranchesBlock(), {"repo_url": "https://github.com.evil.com/octo/hello"})
    assert len(octo.github.log) == before
    tokens = {r["authorization"] for r in octo.github.log if r["authorization"]}
    assert all(t.startswith("Bearer ghp_") for t in tokens)


async def test_the_ssrf_guard_applies_to_github_too(octo: Env) -> None:
    """The credential's base_url points at 127.0.0.1: without WORKBENCH_HTTP_ALLOW it is refused."""
    with pytest.raises(BlockError, match=r"refused to connect to 127\.0\.0\.1"):
        await octo.run(GithubListBranchesBlock(), {"repo_url": f"{octo.login}/x"}, allow_loopback=False)
