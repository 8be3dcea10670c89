"""The Builder's editor: every edit checked, undo/redo, copy/paste, import, layout, pin kinds, diffs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.block.registry import default_registry
from workbench.errors import GraphValidationError
from workbench.graph import pin_types
from workbench.graph.diff import diff
from workbench.graph.model import Graph
from workbench.ui.builder.canvas import CanvasModel, problem_css
from workbench.ui.builder.editor import Editor, EditRefused, position_of

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def registry():  # type: ignore[no-untyped-def]
    return default_registry()


def three_blocks(editor: Editor) -> tuple[str, str, str]:
    """input -> text replace -> output, linked, with the defaults a valid agent needs."""
    first = editor.add_node("AgentShortTextInputBlock", (0, 0), {"name": "text"}).id
    middle = editor.add_node("TextReplaceBlock", (300, 0), {"old": "a", "new": "b"}).id
    last = editor.add_node("AgentOutputBlock", (600, 0), {"name": "result"}).id
    editor.connect(first, "result", middle, "text")
    editor.connect(middle, "output", last, "value")
    return first, middle, last


def test_a_three_block_agent_is_valid_and_every_edit_undoes(registry) -> None:  # type: ignore[no-untyped-def]
    editor = Editor(registry)
    _, middle, _ = three_blocks(editor)
    assert editor.problems() == []
    assert [(link.source_name, link.sink_name) for link in editor.graph.links] == [
        ("result", "text"),
        ("output", "value"),
    ]
    editor.set_default(middle, "old", None)  # a required input cleared: a located problem
    assert [(p.node_id, p.pin) for p in editor.problems()] == [(middle, "old")]
    assert editor.undo()
    assert editor.problems() == []
    assert editor.redo()
    assert [(p.node_id, p.pin) for p in editor.problems()] == [(middle, "old")]
    while editor.undo():
        pass
    assert editor.graph.nodes == [] and not editor.can_undo and editor.can_redo


def test_links_the_catalogue_does_not_allow_are_refused_with_the_reason(registry) -> None:  # type: ignore[no-untyped-def]
    editor = Editor(registry)
    split = editor.add_node("TextSplitBlock", (0, 0)).id
    calc = editor.add_node("CalculatorBlock", (300, 0)).id
    with pytest.raises(EditRefused, match=r"TextSplitBlock.texts gives list, CalculatorBlock.a takes number"):
        editor.connect(split, "texts", calc, "a")
    with pytest.raises(EditRefused, match="has no output 'nope'"):
        editor.connect(split, "nope", calc, "a")
    with pytest.raises(EditRefused, match="has no input 'zzz'"):
        editor.connect(split, "texts", calc, "zzz")
    with pytest.raises(EditRefused, match="cannot feed itself"):
        editor.connect(calc, "result", calc, "a")
    with pytest.raises(EditRefused, match="no block 'NoSuchBlock'"):
        editor.add_node("NoSuchBlock")
    assert editor.graph.links == []
    editor.connect(calc, "result", split, "text")  # a number becomes text: allowed
    with pytest.raises(EditRefused, match="linked already"):
        editor.connect(calc, "result", split, "text")


def test_dynamic_pins_are_added_linked_and_checked(registry) -> None:  # type: ignore[no-untyped-def]
    editor = Editor(registry)
    make = editor.add_node("CreateDictionaryBlock", (0, 0)).id
    source = editor.add_node("AgentShortTextInputBlock", (-300, 0), {"name": "topic"}).id
    editor.add_pin(make, "values_#_topic")
    assert "values_#_topic" in [p.name for p in editor.input_pins(editor.graph.node(make))]
    editor.connect(source, "result", make, "values_#_topic")
    with pytest.raises(EditRefused, match="not a dynamic input pin"):
        editor.add_pin(make, "nothing_#_x")
    model = CanvasModel(editor)
    name, kind = model.type_of(editor.graph.node(make))
    assert name.endswith(make) and any(h["id"] == "values_#_topic" for h in kind.inputs)


def test_copy_paste_gives_new_ids_and_keeps_inner_links(registry) -> None:  # type: ignore[no-untyped-def]
    editor = Editor(registry)
    first, middle, last = three_blocks(editor)
    assert editor.copy([first, middle]) == 2
    pasted = editor.paste()
    assert len(pasted) == 2 and not set(pasted) & {first, middle, last}
    inner = [link for link in editor.graph.links if link.source_id in pasted and link.sink_id in pasted]
    assert len(inner) == 1  # result -> text among the copies; the link to the output was not copied
    assert position_of(editor.graph.node(pasted[0])) == (40.0, 40.0)
    again = editor.paste()
    assert position_of(editor.graph.node(again[0])) == (80.0, 80.0)


def test_import_lays_out_nodes_without_positions_and_reports_bad_documents(registry) -> None:  # type: ignore[no-untyped-def]
    editor = Editor(registry)
    doc = json.loads((EXAMPLES / "hello_agent.json").read_text())
    for node in doc["nodes"]:
        node.pop("metadata", None)
    graph = editor.import_text(json.dumps(doc))
    spots = [position_of(n) for n in graph.nodes]
    assert all(spot is not None for spot in spots) and len(set(spots)) == len(spots)
    before = editor.graph
    with pytest.raises(GraphValidationError, match=r"line 1 column"):
        editor.import_text('{"nodes": [')
    with pytest.raises(GraphValidationError, match=r"node '#0': block_id: Field required"):
        editor.import_text('{"name": "x", "nodes": [{"input_default": {}}]}')
    with pytest.raises(GraphValidationError, match="empty"):
        editor.import_text("  ")
    assert editor.graph is before


def test_moves_of_one_node_undo_as_one_step(registry) -> None:  # type: ignore[no-untyped-def]
    editor = Editor(registry)
    node = editor.add_node("StoreValueBlock", (0, 0)).id
    for x in range(1, 6):
        editor.move(node, x * 10, 0)
    assert position_of(editor.graph.node(node)) == (50.0, 0.0)
    editor.undo()
    assert position_of(editor.graph.node(node)) == (0.0, 0.0)


def test_pin_kinds_follow_what_conversion_makes_meaningful() -> None:
    kinds = pin_types.kinds
    assert pin_types.refusal(kinds(list[str]), kinds(int)) is not None
    assert pin_types.refusal(kinds(dict[str, int]), kinds(list[int])) is not None
    assert pin_types.refusal(kinds(int), kinds(str)) is None  # anything becomes text
    assert pin_types.refusal(kinds(str), kinds(list[str])) is None  # text is parsed
    assert pin_types.refusal(kinds(list[str] | None), kinds(bool)) is not None
    assert pin_types.refusal(kinds(int | list[int]), kinds(float)) is None
    assert pin_types.refusal(kinds(object), kinds(int)) is None


def test_the_diff_names_nodes_links_and_defaults(registry) -> None:  # type: ignore[no-untyped-def]
    editor = Editor(registry)
    first, middle, last = three_blocks(editor)
    older = editor.graph.model_copy(deep=True)
    editor.set_default(middle, "new", "c")
    editor.remove(node_ids=[last])
    editor.rename("Renamed")
    editor.move(first, 999, 999)
    changes = diff(older, editor.graph)
    names = {b.id: b.name for b in registry}
    lines = changes.lines(names)
    assert f"- node {last}" in lines
    assert f"~ {middle}.new: 'b' -> 'c'" in lines
    assert any(line.startswith("- link") and "output -> " in line for line in lines)
    assert "renamed 'Untitled agent' -> 'Renamed'" in lines
    assert not any("position" in line for line in lines)
    assert diff(older, older).empty


def test_problems_mark_the_node_and_the_pin(registry) -> None:  # type: ignore[no-untyped-def]
    editor = Editor(registry)
    node = editor.add_node("TextReplaceBlock", (0, 0)).id
    css = problem_css(editor.problems())
    assert f'[data-id="{node}"] .react-flow__handle-left[data-handleid="text"]' in css
    _, nodes, _ = CanvasModel(editor).payloads()
    assert "wb-invalid" in nodes[0]["className"]


def test_a_graph_from_python_without_positions_opens_laid_out(registry) -> None:  # type: ignore[no-untyped-def]
    from workbench.graph.builder import GraphBuilder

    builder = GraphBuilder("built")
    a = builder.add("AgentShortTextInputBlock", name="text")
    b = builder.add("AgentOutputBlock", name="out")
    a.result >> b.value
    editor = Editor(registry, builder.build())
    xs = sorted(position_of(n)[0] for n in editor.graph.nodes)  # type: ignore[index]
    assert xs[0] < xs[1]
    assert isinstance(editor.graph, Graph)


def test_a_node_form_offers_only_the_credentials_its_block_takes(registry) -> None:  # type: ignore[no-untyped-def]
    from workbench.graph.model import Node
    from workbench.ui.builder.view import node_schema

    llm = registry.find("AITextGeneratorBlock")
    claude = Node(block_id=llm.id, input_default={"model": "claude-3-5-sonnet-latest"})
    assert node_schema(llm, claude, registry)["properties"]["credentials"]["credentials_provider"] == [
        "anthropic"
    ]
    github = registry.find("GithubReadFileBlock")
    schema = node_schema(github, Node(block_id=github.id), registry)
    assert schema["properties"]["credentials"]["credentials_provider"] == ["github"]
    assert "credentials_provider" not in github.input_schema()["properties"]["credentials"]  # a copy
