"""Graphs in the AutoGPT export format: nodes, links, optional sub-graphs, versioned by (id, version).

Unknown top-level and node fields of an export (``input_links``, ``graph_id``, ``user_id``...) are
accepted and dropped: they are derivable or belong to another platform.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


def new_id() -> str:
    """A fresh random UUID as a string."""
    return str(uuid.uuid4())


_URL_NAMESPACE = uuid.NAMESPACE_URL.bytes


def _uuid5_url(name: str) -> str:
    """``str(uuid.uuid5(uuid.NAMESPACE_URL, name))`` without building a UUID object (2.5x faster)."""
    raw = bytearray(hashlib.sha1(_URL_NAMESPACE + name.encode(), usedforsecurity=False).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Node(BaseModel):
    """One block placed in a graph, with the defaults of its input pins."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(default_factory=new_id, min_length=1, description="Unique within the graph.")
    block_id: str = Field(description="The id of the block this node runs.")
    input_default: dict[str, Any] = Field(default_factory=dict, description="Default input values by pin.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Editor data (position...), opaque.")

    _ids = field_validator("id", "block_id")(lambda cls, v: _no_nul(v))
    _fresh_id = field_validator("id", mode="before")(lambda cls, v: _fresh_when_blank(v))

    @field_validator("input_default", "metadata", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


def _fresh_when_blank(value: Any) -> Any:
    """A fresh id for a ``null`` or ``""`` id, as AutoGPT's importer gives one."""
    return new_id() if value is None or value == "" else value


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


class Link(BaseModel):
    """A connection from an output pin of one node to an input pin of another."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(default="", description="Derived from the endpoints when not given.")
    source_id: str = Field(description="The node the value comes from.")
    sink_id: str = Field(description="The node the value goes to.")
    source_name: str = Field(description="Output pin (or dynamic selector) of the source.")
    sink_name: str = Field(description="Input pin (or dynamic pin) of the sink.")
    is_static: bool = Field(default=False, description="A static value is kept for every later execution.")

    _names = field_validator("id", "source_id", "sink_id", "source_name", "sink_name")(
        lambda cls, v: _no_nul(v)
    )

    @field_validator("id", mode="before")
    @classmethod
    def _derived_when_null(cls, value: Any) -> Any:
        return "" if value is None else value


class Graph(BaseModel):
    """An agent: a versioned graph of nodes and links (AutoGPT export format)."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(default_factory=new_id)
    version: int = Field(default=1, ge=1)
    is_active: bool = True
    name: str = Field(default="Untitled agent", max_length=500)
    description: str = Field(default="", max_length=50_000)
    nodes: list[Node] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    sub_graphs: list[Graph] = Field(default_factory=list, description="Graphs used by agent executor nodes.")

    _texts = field_validator("name", "description")(lambda cls, v: _no_nul(v))

    @field_validator("description", mode="before")
    @classmethod
    def _none_is_blank(cls, value: Any) -> Any:
        return "" if value is None else value

    _fresh_id = field_validator("id", mode="before")(lambda cls, v: _fresh_when_blank(v))

    @field_validator("version", "is_active", mode="before")
    @classmethod
    def _null_is_default(cls, value: Any, info: Any) -> Any:
        if value is None:
            return 1 if info.field_name == "version" else True
        return value

    @field_validator("id")
    @classmethod
    def _uuid_id(cls, value: str) -> str:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError(f"graph id must be a UUID, got {value!r}") from None

    @model_validator(mode="after")
    def _derive_link_ids(self) -> Graph:
        # Links written by hand often carry no id; derive a stable one so that saving the same
        # file twice is recognised as the same graph.
        for link in self.links:
            if not link.id:
                key = f"{self.id}|{link.source_id}|{link.source_name}|{link.sink_id}|{link.sink_name}"
                link.id = _uuid5_url(key)
        return self

    def node(self, node_id: str) -> Node:
        """The node with this id (KeyError if none)."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def export(self) -> dict[str, Any]:
        """The AutoGPT-format JSON document of this graph (links also listed per node, as exports do)."""
        doc = self.model_dump(mode="json")
        by_sink: dict[str, list[dict[str, Any]]] = {}
        by_source: dict[str, list[dict[str, Any]]] = {}
        for link in doc["links"]:
            by_sink.setdefault(link["sink_id"], []).append(link)
            by_source.setdefault(link["source_id"], []).append(link)
        for node in doc["nodes"]:
            node["input_links"] = by_sink.get(node["id"], [])
            node["output_links"] = by_source.get(node["id"], [])
            node["graph_id"] = self.id
            node["graph_version"] = self.version
        return doc
