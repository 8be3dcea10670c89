"""/api/v1/knowledge over HTTP on a real ``workbench serve --auth accounts`` process: CRUD, JSON and
multipart documents, search, other users' 404s, scopes, and located 422s. Every response is also
checked against the error contract (tests/server/api_support.check_response)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from tests.knowledge.conftest import CORPUS
from tests.knowledge.pdfs import make_pdf
from tests.server.api_support import User, api, signup
from tests.support.servers import ServerProcess


@pytest.fixture(scope="module")
def server(accounts_server: ServerProcess) -> ServerProcess:
    """The run's ``--auth accounts`` server (its scheduler runs; users here are this module's own)."""
    return accounts_server


@pytest.fixture(scope="module")
def kim(server: ServerProcess) -> Iterator[User]:
    user = signup(server, "kim")
    yield user
    user.close()


@pytest.fixture(scope="module")
def lee(server: ServerProcess) -> Iterator[User]:
    user = signup(server, "lee")
    yield user
    user.close()


def fields_of(response: object) -> dict[str, str]:
    body = response.json()  # type: ignore[attr-defined]
    return {d["key"]: d["message"] for d in body["error"]["details"]}


def test_knowledge_base_lifecycle_documents_and_search(kim: User) -> None:
    c = kim.client
    r = c.post("/knowledge", json={"name": "Manuals", "chunk_size": 300, "chunk_overlap": 30})
    assert r.status_code == 201, r.text
    kb = r.json()
    assert kb["dimension"] == 384 and kb["embedding_model"] == "local:all-MiniLM-L6-v2"
    assert kb["document_count"] == 0 and kb["language"] == "english"

    r = c.post(
        f"/knowledge/{kb['id']}/documents",
        json={
            "content": (CORPUS / "cats.md").read_text(),
            "source": "cats.md",
            "metadata": {"topic": "pets"},
        },
    )
    assert r.status_code == 201, r.text
    cats = r.json()
    assert cats["title"] == "Caring for cats" and cats["content_type"] == "text/markdown"
    assert cats["chunk_count"] >= 3 and cats["metadata"] == {"topic": "pets"}

    pdf = make_pdf(
        ["Sourdough needs flour, water and starter.", "Bake the loaf at 250 degrees."], title="Bread"
    )
    r = c.post(
        f"/knowledge/{kb['id']}/documents",
        files={"file": ("bread.pdf", pdf, "application/pdf")},
        data={"metadata": json.dumps({"topic": "food"}), "source": "kitchen/bread.pdf"},
    )
    assert r.status_code == 201, r.text
    bread = r.json()
    assert (bread["title"], bread["content_type"], bread["source"]) == (
        "Bread",
        "application/pdf",
        "kitchen/bread.pdf",
    )
    assert bread["metadata"] == {"topic": "food"} and bread["chunk_count"] == 2

    r = c.post(
        f"/knowledge/{kb['id']}/documents",
        files={"file": ("jupiter.html", (CORPUS / "jupiter.html").read_bytes())},
    )
    assert r.status_code == 201 and r.json()["content_type"] == "text/html"

    listed = c.get(f"/knowledge/{kb['id']}/documents").json()
    assert listed["total"] == 3 and listed["items"][0]["title"] == "The planet Jupiter"
    assert c.get(f"/knowledge/{kb['id']}/documents/{cats['id']}").json() == cats
    got = c.get(f"/knowledge/{kb['id']}").json()
    assert got["document_count"] == 3 and got["chunk_count"] > 5
    assert c.get("/knowledge").json()["items"][0]["id"] == kb["id"]

    r = c.post(
        f"/knowledge/{kb['id']}/search", json={"query": "what temperature for the loaf", "mode": "vector"}
    )
    assert r.status_code == 200, r.text
    found = r.json()
    assert found["mode"] == "vector" and found["results"][0]["document_id"] == bread["id"]
    assert found["results"][0]["page"] == 2 and found["results"][0]["vector_rank"] == 1

    found = c.post(f"/knowledge/{kb['id']}/search", json={"query": "Ganymede", "mode": "keyword"}).json()
    assert [h["title"] for h in found["results"]] == ["The planet Jupiter"]

    found = c.post(
        f"/knowledge/{kb['id']}/search", json={"query": "food", "top_k": 10, "filter": {"topic": "pets"}}
    ).json()
    assert found["mode"] == "hybrid" and {h["document_id"] for h in found["results"]} == {cats["id"]}

    assert c.delete(f"/knowledge/{kb['id']}/documents/{cats['id']}").status_code == 204
    assert c.get(f"/knowledge/{kb['id']}/documents/{cats['id']}").status_code == 404
    assert c.get(f"/knowledge/{kb['id']}").json()["document_count"] == 2
    assert c.delete(f"/knowledge/{kb['id']}").status_code == 204
    assert c.get(f"/knowledge/{kb['id']}").status_code == 404
    assert c.post(f"/knowledge/{kb['id']}/search", json={"query": "x"}).status_code == 404


def test_other_users_knowledge_bases_are_404(kim: User, lee: User) -> None:
    kb = kim.client.post("/knowledge", json={"name": "Private"}).json()
    doc = kim.client.post(f"/knowledge/{kb['id']}/documents", json={"content": "kim's secret"}).json()
    c = lee.client
    for r in (
        c.get(f"/knowledge/{kb['id']}"),
        c.delete(f"/knowledge/{kb['id']}"),
        c.get(f"/knowledge/{kb['id']}/documents"),
        c.post(f"/knowledge/{kb['id']}/documents", json={"content": "x"}),
        c.get(f"/knowledge/{kb['id']}/documents/{doc['id']}"),
        c.delete(f"/knowledge/{kb['id']}/documents/{doc['id']}"),
        c.post(f"/knowledge/{kb['id']}/search", json={"query": "secret"}),
        c.get(f"/knowledge/{uuid.uuid4()}"),
    ):
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "not_found"
    assert all(item["id"] != kb["id"] for item in c.get("/knowledge").json()["items"])
    assert c.post("/knowledge", json={"name": "Private"}).status_code == 201  # names are per user
    assert kim.client.get(f"/knowledge/{kb['id']}").json()["document_count"] == 1
    # A knowledge base is also addressed by name, as blocks and notebooks name it: each user's own.
    assert kim.client.get("/knowledge/Private").json()["id"] == kb["id"]
    assert c.get("/knowledge/Private").json()["id"] != kb["id"]
    found = kim.client.post("/knowledge/Private/search", json={"query": "secret", "mode": "keyword"})
    assert [h["document_id"] for h in found.json()["results"]] == [doc["id"]]
    assert c.get("/knowledge/No%20such%20base").status_code == 404


def test_invalid_requests_name_their_fields(kim: User) -> None:
    c = kim.client
    r = c.post("/knowledge", json={"name": "", "chunk_size": 5, "dimension": 99999, "extra": 1})
    assert r.status_code == 422
    assert {"name", "chunk_size", "dimension", "extra"} <= set(fields_of(r))

    r = c.post("/knowledge", json={"name": "Lang", "language": "klingon"})
    assert r.status_code == 422 and "klingon" in fields_of(r)["language"]
    r = c.post("/knowledge", json={"name": "Remote", "embedding_model": "local:nope"})
    assert r.status_code == 422 and "unknown local embedding model" in fields_of(r)["embedding_model"]

    kb = c.post("/knowledge", json={"name": "Checks"}).json()
    r = c.post("/knowledge", json={"name": "Checks"})
    assert r.status_code == 422 and "already have" in fields_of(r)["name"]

    docs = f"/knowledge/{kb['id']}/documents"
    r = c.post(docs, json={"content": "", "metadata": "not an object"})
    assert r.status_code == 422 and {"content", "metadata"} <= set(fields_of(r))
    r = c.post(docs, json={"content": "x", "content_type": "image/png"})
    assert r.status_code == 422 and "unsupported content type" in fields_of(r)["content"]
    r = c.post(docs, files={"file": ("broken.pdf", b"%PDF-1.4 broken", "application/pdf")})
    assert r.status_code == 422 and "not a readable PDF" in fields_of(r)["content"]
    r = c.post(docs, files={"upload": ("a.txt", b"text")})
    assert r.status_code == 422 and "file" in fields_of(r)
    r = c.post(docs, files={"file": ("a.txt", b"text")}, data={"metadata": "{oops"})
    assert r.status_code == 422 and "metadata" in fields_of(r)
    r = c.post(docs, content=b"plain body", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    r = c.post(docs, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400

    search = f"/knowledge/{kb['id']}/search"
    r = c.post(search, json={"query": "", "mode": "fuzzy", "top_k": 0})
    assert r.status_code == 422 and {"query", "mode", "top_k"} <= set(fields_of(r))
    assert c.get("/knowledge/not-a-uuid").status_code in (400, 404)
    assert c.get(f"/knowledge/{kb['id']}/documents/{uuid.uuid4()}").status_code == 404


def test_scopes_guard_reading_and_writing(kim: User, server: ServerProcess) -> None:
    kb = kim.client.post("/knowledge", json={"name": "Scoped"}).json()
    reader, _ = kim.key("knowledge:read")
    with api(server, api_key=reader) as c:
        assert c.get(f"/knowledge/{kb['id']}").status_code == 200
        assert (
            c.post(f"/knowledge/{kb['id']}/search", json={"query": "x", "mode": "keyword"}).status_code == 200
        )
        r = c.post(f"/knowledge/{kb['id']}/documents", json={"content": "x"})
        assert r.status_code == 403 and "knowledge:write" in r.json()["error"]["message"]
        assert c.delete(f"/knowledge/{kb['id']}").status_code == 403
    graphs_only, _ = kim.key("graphs:read")
    with api(server, api_key=graphs_only) as c:
        assert c.get("/knowledge").status_code == 403
    with api(server) as anonymous:
        assert anonymous.get("/knowledge").status_code == 401
