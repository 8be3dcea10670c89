"""The client's public names are pinned; the graph picture lays nodes out by data flow."""

from __future__ import annotations

import inspect

import workbench.client
from tests.client.conftest import greeter
from workbench.client.render import graph_svg, layers


def test_public_names_are_pinned() -> None:
    assert workbench.client.__all__ == sorted(workbench.client.__all__)
    assert set(workbench.client.__all__) == {
        "AsyncClient", "BlockInfo", "Client", "CredentialInfo", "DocumentInfo", "GraphInfo",
        "KnowledgeBaseInfo", "LocalClient", "PinInfo", "RemoteBlockError", "RemoteClient", "ReviewInfo", "RunHandle",
        "ScheduleInfo", "ScheduleRun", "SearchResult", "ServerError", "TriggerInfo", "as_graph", "connect",
        "graph_svg",
    }  # fmt: skip


def test_the_blocking_client_has_every_method_with_its_signature() -> None:
    names = sorted(workbench.client.AsyncClient.__abstractmethods__ - {"start", "close", "where", "events"})
    assert {"create_knowledge_base", "add_document", "search", "delete_document"} <= set(names)
    for name in names:
        blocking = getattr(workbench.client.Client, name)
        assert inspect.signature(blocking) == inspect.signature(getattr(workbench.client.AsyncClient, name))


def test_picture_columns_follow_the_links_and_survive_loops() -> None:
    graph = greeter().build()
    level = layers(graph)
    assert level["input_name"] == 0
    assert level["fill_text_template_1"] == level["fill_text_template_2"] == 1
    assert level["condition_1"] == 2 and level["output_kind"] == level["output_kind_no"] == 3
    looped = graph.model_copy(deep=True)
    back = looped.links[0].model_copy(update={"source_id": "condition_1", "sink_id": "input_name", "id": "x"})
    looped.links.append(back)  # a cycle: still a finite layout
    assert layers(looped)["input_name"] == 0
    svg = graph_svg(graph)
    assert svg.count('class="wb-node"') == len(graph.nodes)
    assert svg.count('class="wb-link') == len(graph.links)
    assert "input &#x27;name&#x27;" in svg  # an input node shows the input's name
    # Each link carries its ends as a tooltip; the pins it joins are labelled on the boxes.
    assert "\u2068condition_1\u2069.\u2068yes_output\u2069 → \u2068output_kind\u2069.\u2068value\u2069" in svg
