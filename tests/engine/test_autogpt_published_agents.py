"""Agents in AutoGPT's export format import through the real graph API of a running server and run
to COMPLETED against local servers only.

Two sets: ours (tests/data/autogpt_format_agents, written for this project on the patterns of
AutoGPT's published agents, always run), and AutoGPT's published agents themselves, unchanged,
from ``$WORKBENCH_AUTOGPT_AGENTS_DIR`` or tests/data/autogpt_agents (their license keeps them out of
this repository: copy ``autogpt_platform/backend/agents/*.json`` of AutoGPT's repository there to run
them). A published agent whose blocks are all in AutoGPT's interoperability reference must complete;
one that uses blocks beyond it (Gmail, Google Maps, E2B, Airtable...) must be refused at import with
each such node named.

One ``workbench serve`` process for the module, pointed at lookalikes of every vendor the agents
call: the OpenAI/Anthropic-compatible LLM server (every model, GPT, Claude or Perplexity, is
answered there), Jina Search and Reader, YouTube, Replicate, Ideogram and Google. The test user's
vault holds one credential per provider, each naming its lookalike as ``base_url``; the agents
carry no credentials of their own (AutoGPT strips them from exports), so each node takes the
user's only credential for its provider.

The LLM server answers by what each request asks (:func:`answer`): the JSON object or list an
AI block's format instructions describe, the XML tags a prompt asks the answer to be wrapped in,
the YouTube links found in the data it was given; never a tool call (a decision maker finishes at
once). The inputs are what a user would give: each input node's own default, else its
first offered choice, else a plain value for its kind (:func:`user_inputs`).

"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.api_support import api
from tests.support.google_server import GoogleServer, in_days
from tests.support.ideogram_server import IdeogramServer
from tests.support.jina_server import JinaServer
from tests.support.openai_server import LLMServer
from tests.support.replicate_server import ReplicateServer
from tests.support.servers import ServerProcess, start_server, stop_server
from tests.support.youtube_server import Track, YouTubeServer
from workbench.block.context import BlockServices, RunContext
from workbench.errors import CredentialsError, NotFoundError
from workbench.graph.autogpt_names import AUTOGPT_BLOCK_CLASSES

DATA = Path(__file__).resolve().parents[1] / "data"
OURS = sorted((DATA / "autogpt_format_agents").glob("*.json"))
PUBLISHED_DIR = Path(os.environ.get("WORKBENCH_AUTOGPT_AGENTS_DIR") or DATA / "autogpt_agents")
PUBLISHED = sorted(PUBLISHED_DIR.glob("*.json"))
EXPECTED_NODE_FAILURES = {
    # Its prompt asks the model for <title>, <blog_post> and <keywords> side by side; the XML parser
    # (ours and AutoGPT's) takes one root element, so that node fails into the agent's error output.
    "AI YouTube-to-Blog Converter": {"XMLParserBlock"},
}
RUN_WAIT = 40
"""Seconds one run may take (the slowest, with a dozen model and vendor calls, takes a few)."""

# ---- what a user types --------------------------------------------------------------------------

INPUT_BLOCKS = {
    "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b": "any",  # AgentInputBlock
    "7fcd3bcb-8e1b-4e69-903d-32d3d4a92158": "text",  # AgentShortTextInputBlock
    "90a56ffb-7024-4b2b-ab50-e26c5e5ab8ba": "text",  # AgentLongTextInputBlock
    "96dae2bb-97a2-41c2-bd2f-13a3b5a8ea98": "number",  # AgentNumberInputBlock
    "655d6fdf-a334-421c-b733-520549c07cd1": "choice",  # AgentDropdownInputBlock
}
VIDEO_IDS = ("J1Mzd1ZeSaU", "KWonAsyKF3g", "aGptVid0001", "aGptVid0002", "aGptVid0003")
"""The videos the YouTube lookalike publishes: the agents' own example URLs and the search results."""
SEARCH_PAGE = "\n".join(
    f"[{title}](https://www.youtube.com/watch?v={vid})"
    for title, vid in (
        ("AutoGPT in 10 minutes", "aGptVid0001"),
        ("Building agents with AutoGPT", "aGptVid0002"),
        ("AutoGPT platform tour", "aGptVid0003"),
    )
)


def plain_value(name: str, kind: str) -> Any:
    """What a user types into an input with no default: by its kind, then by what its name asks."""
    lowered = name.lower()
    if kind == "number":
        return 3
    if "email" in lowered:
        return "ada@example.com"
    if "youtube" in lowered:
        return f"https://www.youtube.com/watch?v={VIDEO_IDS[0]}"
    if "url" in lowered:
        return "https://example.com"
    if lowered in ("input", "number", "count") or "how many" in lowered:
        return 3
    return f"A friendly neighbourhood bakery ({name})"


def user_inputs(doc: dict[str, Any]) -> dict[str, Any]:
    """The value a user gives each input of the agent's top graph: the input's own default, else the
    first value it offers, else :func:`plain_value`."""
    inputs: dict[str, Any] = {}
    for node in doc["nodes"]:
        kind = INPUT_BLOCKS.get(node["block_id"])
        if kind is None:
            continue
        given = node.get("input_default") or {}
        name = given["name"]
        value = given.get("value")
        if value in (None, "") and given.get("placeholder_values"):
            value = given["placeholder_values"][0]
        if value in (None, ""):
            value = plain_value(name, kind)
        inputs[name] = value
    return inputs


# ---- how the model answers ----------------------------------------------------------------------

FORMAT_LINE = re.compile(r'^\s+"([^"]+)":\s+"', re.MULTILINE)
TAG = re.compile(r'<json_output id="([0-9a-f]+)">')
ANSWER_TAG = re.compile(r"<([A-Za-z_][\w-]*)>(?:[^<]{0,40}</\1>)?\s*(?:xml\s+)?tags?\b")
"""A tag the prompt asks the answer to be wrapped in: ``inside <email></email> tags``, ``within
<executive_briefing> tags``, ``a set of <prompt>...</prompt> xml tags``."""
YOUTUBE_LINK = re.compile(r"https://www\.youtube\.com/watch\?v=[\w-]{11}")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def _system_and_user(body: dict[str, Any]) -> tuple[str, str]:
    """The system instructions and the user's text of a chat request (OpenAI or Anthropic shape)."""
    messages = body.get("messages") or []
    system = _text(body.get("system")) + "".join(
        _text(m.get("content")) for m in messages if m.get("role") in ("system", "developer")
    )
    user = "\n".join(_text(m.get("content")) for m in messages if m.get("role") == "user")
    return system, user


def _field_value(key: str, asked: str) -> Any:
    """A well-formed value for one field of a structured answer."""
    if key == "list":
        links = list(dict.fromkeys(YOUTUBE_LINK.findall(asked)))
        if "youtube" in asked.lower() and links:
            wanted = re.search(r"top (\d+)", asked)
            return links[: int(wanted.group(1))] if wanted else links
        return ["First idea", "Second idea", "Third idea"]
    return f"A short answer for {key}"


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """A scripted reply fitting what the request asks for (see the module docstring)."""
    system, user = _system_and_user(body)
    asked = system + "\n" + user
    keys = FORMAT_LINE.findall(system)
    if keys and ("json_output" in system or "pure JSON" in system):
        obj = {k: _field_value(k, asked) for k in dict.fromkeys(keys)}
        payload: Any = obj
        if "a JSON array of objects" in system:
            payload = [obj]
        elif '{"results": [...]}' in system:
            payload = {"results": [obj]}
        found = TAG.search(system)
        if found is None:
            return {"json": payload}
        return {"content": f'<json_output id="{found.group(1)}">{json.dumps(payload)}</json_output>'}
    tags = list(dict.fromkeys(ANSWER_TAG.findall(asked)))
    if tags:
        return {"content": "".join(f"<{t}>A short answer for {t}</{t}>" for t in tags)}
    return {"content": "A short, friendly answer."}


# ---- the servers ---------------------------------------------------------------------------------


LLM_BLOCKS = (
    "1f292d4a-41a4-4977-9684-7c8d560b9f91",  # AITextGeneratorBlock
    "ed55ac19-356e-4243-a6cb-bc599e9b716f",  # AIStructuredResponseGeneratorBlock
    "9c0b0450-d199-458b-a731-072189dd6593",  # AIListGeneratorBlock
    "a0a69be1-4528-491c-a85a-a4ab6873e3f0",  # AITextSummarizerBlock
    "3b191d9f-356f-482d-8238-ba04b6d18381",  # SmartDecisionMakerBlock
)
VENDOR_BLOCKS = {
    **dict.fromkeys(LLM_BLOCKS, "llm"),
    "6ab085e2-20b3-4055-bc3e-08036e01eca6": "ideogram",  # IdeogramModelBlock
    "90f8c45e-e983-4644-aa0b-b4ebe2f531bc": "replicate",  # ReplicateFluxAdvancedModelBlock
    "87840993-2053-44b7-8da4-187ad4ee518c": "jina search",  # SearchTheWebBlock
    "436c3984-57fd-4b85-8e9a-459b356883bd": "jina reader",  # ExtractWebsiteContentBlock
    "f3a8f7e1-4b1d-4e5f-9f2a-7c3d5a2e6b4c": "youtube",  # TranscribeYoutubeVideoBlock
    "80bc3ed1-e9a4-449e-8163-a8fc86f74f6a": "google",  # GoogleCalendarReadEventsBlock
}
"""The vendor each block calls: a run of an agent with such a block must have reached its lookalike."""


@dataclass
class Stack:
    """The server process, its API client as the local user, and the lookalikes it calls."""

    server: ServerProcess
    client: httpx.Client
    llm: LLMServer
    vendors: dict[str, Any]

    def calls(self) -> dict[str, int]:
        """How many requests each vendor's lookalike has received so far."""
        jina = [r.path for r in self.vendors["jina"].requests]
        return {
            "llm": len(self.llm.requests),
            "jina search": sum(1 for p in jina if p.startswith("/s")),
            "jina reader": sum(1 for p in jina if p.startswith("/r/")),
            **{
                name: len(self.vendors[name].requests)
                for name in ("ideogram", "replicate", "youtube", "google")
            },
        }


def _credential(client: httpx.Client, provider: str, type_: str, secret: dict[str, Any]) -> None:
    r = client.post(
        "/credentials",
        json={"provider": provider, "type": type_, "title": f"local {provider}", "secret": secret},
    )
    assert r.status_code == 201, r.text


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    llm = LLMServer()
    llm.start()
    llm.rule("", answer)
    jina = JinaServer(keys={"jina-local"})
    jina.any_query = [
        {"title": "A result", "url": "https://example.com/a", "description": "About it", "content": "Text."}
    ]
    jina.any_page = {"title": "A page", "content": f"Welcome to the page.\n\n{SEARCH_PAGE}"}
    jina.start()
    youtube = YouTubeServer()
    youtube.start()
    lines = [(0.0, 2.0, "Hello and welcome."), (2.0, 3.0, "Today we build an agent.")]
    for vid in VIDEO_IDS:
        youtube.add_video(vid, f"Video {vid}", Track("en", lines, name="English"))
    replicate = ReplicateServer(polls_to_finish=1)
    replicate.start()
    ideogram = IdeogramServer()
    ideogram.start()
    google = GoogleServer()
    google.start()
    client_id, _ = google.add_client()
    owner = "ada@example.com"
    access, refresh = google.add_user(owner, client_id)
    google.add_event(
        owner,
        "Meeting with Grace",
        in_days(1),
        in_days(1, hour=11),
        attendees=[{"email": owner}, {"email": "grace@partner.example"}],
    )
    servers: list[Any] = [jina, youtube, replicate, ideogram, google]
    home = tmp_path_factory.mktemp("published-agents") / "home"
    env = {
        "WORKBENCH_RATE_LIMIT": "off",
        "WORKBENCH_HTTP_ALLOW_PRIVATE": "1",  # every vendor here is a lookalike on 127.0.0.1
        "WORKBENCH_YOUTUBE_BASE_URL": youtube.url,
        "WORKBENCH_GOOGLE_API_BASE_URL": google.url,
    }
    server = start_server(home, "none", env)
    client = api(server)
    try:
        for provider in ("openai", "anthropic"):
            _credential(client, provider, "api_key", {"api_key": "test-key", "base_url": llm.base_url})
        _credential(
            client,
            "jina",
            "api_key",
            {"api_key": "jina-local", "base_url": jina.search_url, "reader_url": jina.reader_url},
        )
        _credential(
            client, "replicate", "api_key", {"api_key": replicate.add_token(), "base_url": replicate.url}
        )
        _credential(client, "ideogram", "api_key", {"api_key": ideogram.add_key(), "base_url": ideogram.url})
        _credential(
            client,
            "google",
            "oauth2",
            {
                "access_token": access,
                "refresh_token": refresh,
                "expires_at": int(time.time()) + 3600,
                "base_url": google.url,
            },
        )
        vendors = {
            "jina": jina,
            "youtube": youtube,
            "replicate": replicate,
            "ideogram": ideogram,
            "google": google,
        }
        yield Stack(server, client, llm, vendors)
    finally:
        client.close()
        stop_server(server)
        for s in servers:
            s.stop()
        llm.stop()


# ---- the agents ----------------------------------------------------------------------------------


def _block_ids(doc: dict[str, Any]) -> set[str]:
    return {n["block_id"] for graph in [doc, *(doc.get("sub_graphs") or [])] for n in graph["nodes"]}


def _in_scope(doc: dict[str, Any]) -> bool:
    """Whether every block the agent uses is one of AutoGPT's interoperability reference."""
    return _block_ids(doc) <= set(AUTOGPT_BLOCK_CLASSES)


def _run_to_completion(stack: Stack, doc: dict[str, Any]) -> None:
    name = doc["name"]
    created = stack.client.post("/graphs", json=doc)
    assert created.status_code == 201, f"{name}: import refused: {created.text[:3000]}"
    graph = created.json()
    assert graph["is_active"] is True, f"{name}: the imported graph is not the active version"
    before = stack.calls()
    r = stack.client.post(
        f"/graphs/{graph['id']}/execute", params={"wait": RUN_WAIT}, json={"inputs": user_inputs(doc)}
    )
    assert r.status_code == 200, f"{name}: not finished in {RUN_WAIT} s: {r.text[:2000]}"
    run = r.json()
    failed = [n for n in run["node_executions"] if n["status"] == "FAILED"]
    described = [f"{n['node_id']}: {n.get('error')}" for n in failed]
    assert run["status"] == "COMPLETED", f"{name}: {run['status']}: {run.get('error')}; {described}"
    blocks = {n["id"]: n["block_id"] for g in [graph, *(graph.get("sub_graphs") or [])] for n in g["nodes"]}
    unexpected = [
        d
        for n, d in zip(failed, described, strict=True)
        if AUTOGPT_BLOCK_CLASSES.get(blocks.get(n["node_id"], ""))
        not in EXPECTED_NODE_FAILURES.get(name, set())
    ]
    assert not unexpected, (
        f"{name}: completed, but nodes failed (their errors went to an output): {unexpected}"
    )
    assert run["outputs"], f"{name}: completed without outputs"
    after = stack.calls()
    unused = sorted(
        {VENDOR_BLOCKS[b] for b in _block_ids(doc) if b in VENDOR_BLOCKS}
        - {vendor for vendor, count in after.items() if count > before[vendor]}
    )
    assert not unused, f"{name}: never reached {unused}"


def test_there_are_agents_of_our_own_to_run() -> None:
    assert len(OURS) >= 5, "tests/data/autogpt_format_agents lost its agents"


AGENTS = [*OURS, *PUBLISHED]
AGENT_IDS = [f"ours-{p.stem}" for p in OURS] + [
    f"published-{p.stem.removeprefix('agent_')[:8]}" for p in PUBLISHED
]


@pytest.mark.parametrize("path", AGENTS, ids=AGENT_IDS)
def test_agent_in_autogpt_format_imports_unchanged_and_completes_or_names_what_is_missing(
    stack: Stack, path: Path
) -> None:
    """Ours (always there) must be in scope and complete; AutoGPT's published ones (when present)
    complete when every block is in the reference, else are refused naming each missing node."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    if path in OURS:
        assert _in_scope(doc), f"{path.name} uses blocks beyond the reference"
    if _in_scope(doc):
        _run_to_completion(stack, doc)
        return
    missing = {
        n["id"]
        for g in [doc, *(doc.get("sub_graphs") or [])]
        for n in g["nodes"]
        if n["block_id"] not in AUTOGPT_BLOCK_CLASSES
    }
    refused = stack.client.post("/graphs", json=doc)
    assert refused.status_code == 422, f"{doc['name']}: {refused.status_code} {refused.text[:500]}"
    named = {
        p.get("node_id") for p in refused.json()["error"]["problems"] if p.get("code") == "unknown_block"
    }
    assert missing <= named, f"{doc['name']}: unavailable blocks not named: {missing - named}"


# ---- credentials an imported agent names --------------------------------------------------------


@dataclass(frozen=True)
class _Meta:
    id: str
    provider: str


@dataclass(frozen=True)
class _Cred:
    meta: _Meta
    secret: dict[str, Any]


class _Vault:
    """A vault with fixed credentials (``resolve`` answers NotFoundError for others, as the real one)."""

    def __init__(self, *creds: _Cred) -> None:
        self.creds = {c.meta.id: c for c in creds}

    async def resolve(self, user_id: str, credential_id: str) -> _Cred:
        if credential_id not in self.creds:
            raise NotFoundError(f"credential {credential_id} not found")
        return self.creds[credential_id]

    async def list(self, user_id: str, provider: str | None = None) -> list[_Meta]:
        return [c.meta for c in self.creds.values() if provider in (None, c.meta.provider)]

    async def update_secret(self, user_id: str, credential_id: str, secret: dict[str, Any]) -> None:
        raise NotImplementedError


OPENAI = _Cred(_Meta("3f2b7a1c-0000-4000-8000-000000000001", "openai"), {"api_key": "mine"})
OPENAI_2 = _Cred(_Meta("3f2b7a1c-0000-4000-8000-000000000002", "openai"), {"api_key": "other"})
GITHUB = _Cred(_Meta("3f2b7a1c-0000-4000-8000-000000000003", "github"), {"token": "gh"})
FOREIGN = {
    "id": "53e2b3c8-8b4b-4b35-9c5e-4f2e3a1c9d77",  # an id of the AutoGPT instance the agent came from
    "provider": "openai",
    "type": "api_key",
    "title": None,
}


def _context(*creds: _Cred) -> RunContext:
    return RunContext.for_test(services=BlockServices(vault=_Vault(*creds)))


async def test_a_credential_id_from_another_platform_falls_back_to_the_users_only_one() -> None:
    assert (await _context(OPENAI, GITHUB).get_credential("openai", FOREIGN)).secret == {"api_key": "mine"}
    for foreign_id in (FOREIGN["id"], "autogpt-cred-1"):  # a bare id, one that is not even a UUID
        assert (await _context(OPENAI).get_credential("openai", foreign_id)).meta.id == OPENAI.meta.id


async def test_a_known_credential_id_is_still_the_one_used_and_checked() -> None:
    ctx = _context(OPENAI, OPENAI_2, GITHUB)
    assert (await ctx.get_credential("openai", {"id": OPENAI_2.meta.id})).secret == {"api_key": "other"}
    with pytest.raises(CredentialsError, match="is for provider 'github'"):
        await ctx.get_credential("openai", GITHUB.meta.id)


async def test_an_unknown_credential_id_without_one_to_fall_back_to_is_explained() -> None:
    with pytest.raises(CredentialsError, match=r"not in your vault, and several 'openai' credentials"):
        await _context(OPENAI, OPENAI_2).get_credential("openai", FOREIGN)
    with pytest.raises(CredentialsError, match=r"not in your vault, and no 'openai' credentials: add one"):
        await _context(GITHUB).get_credential("openai", FOREIGN)
