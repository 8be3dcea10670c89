"""Forms generated from JSON Schema (workbench/ui/schema_form.py): which control each kind of property
gets, that every kind round-trips its values the way the browser sends them, that only what the
person set lands in ``values``, errors and links, and that every block of the catalogue and an
agent's Run form render."""

from __future__ import annotations

from typing import Any

import pytest
from bokeh.document import Document

from blocks.io import (
    AgentDropdownInputBlock,
    AgentLongTextInputBlock,
    AgentNumberInputBlock,
    AgentShortTextInputBlock,
    AgentToggleInputBlock,
)
from blocks.text import FillTextTemplateBlock
from workbench.block.registry import default_registry
from workbench.engine.plan import Plan
from workbench.graph.model import Graph, Node
from workbench.ui.schema_form import (
    NO_CREDENTIAL,
    UNSET,
    CredentialChoice,
    SchemaForm,
    parse_json_text,
    readable_label,
)

SCHEMA: dict[str, Any] = {
    "type": "object",
    "$defs": {"Level": {"enum": ["info", "warning", "error"], "title": "Level", "type": "string"}},
    "properties": {
        "name": {"type": "string", "title": "Name", "description": "Who to greet."},
        "prompt": {"type": "string", "title": "Prompt", "default": "Say hi"},
        "api_key": {"type": "string", "secret": True},
        "max_tokens": {
            "anyOf": [{"type": "integer"}, {"type": "null"}],
            "default": None,
            "title": "Max Tokens",
            "description": "Most tokens.",
        },
        "top_k": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10, "title": "Top K"},
        "temperature": {"type": "number", "exclusiveMinimum": 0, "title": "Temperature"},
        "verbose": {"type": "boolean", "default": False, "title": "Verbose"},
        "style": {"enum": ["short", "long"], "type": "string", "default": "short", "title": "Style"},
        "level": {"$ref": "#/$defs/Level", "description": "How loud."},
        "mode": {"anyOf": [{"const": "fast"}, {"const": "slow"}, {"type": "null"}], "title": "Mode"},
        "seconds": {"anyOf": [{"type": "integer"}, {"type": "string"}], "title": "Seconds"},
        "tags": {"type": "array", "items": {"type": "string"}, "title": "Tags"},
        "sizes": {"type": "array", "items": {"type": "integer"}, "title": "Sizes"},
        "levels": {"type": "array", "items": {"$ref": "#/$defs/Level"}, "title": "Levels"},
        "rows": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}, "title": "Headers"},
        "anything": {"title": "Anything"},
        "credentials": {"default": None, "title": "Credentials", "credentials_provider": ["github"]},
        "escape": {"type": "boolean", "advanced": True, "title": "Escape"},
    },
    "required": ["name", "level"],
}
VAULT = [
    CredentialChoice(id="cred-gh", provider="github", title="My GitHub"),
    CredentialChoice(id="cred-ai", provider="openai", title="My OpenAI"),
]


def _form(values: dict[str, Any] | None = None, **kwargs: Any) -> tuple[SchemaForm, list[tuple[str, Any]]]:
    changes: list[tuple[str, Any]] = []
    form = SchemaForm(
        SCHEMA, values, credentials=VAULT, on_change=lambda f, v: changes.append((f, v)), **kwargs
    )
    return form, changes


def _drawn(form: SchemaForm, name: str) -> dict[str, Any]:
    return next(f for f in form.__panel__().spec if f["name"] == name)


def test_each_property_gets_the_control_its_schema_calls_for() -> None:
    form, _ = _form()
    kinds = {name: spec.kind for name, spec in form.fields.items()}
    assert kinds == {
        "name": "text",
        "prompt": "longtext",
        "api_key": "secret",
        "max_tokens": "int",
        "top_k": "int",
        "temperature": "float",
        "verbose": "bool",
        "style": "select",
        "level": "select",
        "mode": "select",
        "seconds": "union",
        "tags": "list",
        "sizes": "list",
        "levels": "list",
        "rows": "json",
        "headers": "json",
        "anything": "json",
        "credentials": "credentials",
        "escape": "bool",
    }
    assert form.fields["level"].options == ("info", "warning", "error")
    assert form.fields["mode"].options == ("fast", "slow")
    assert form.fields["escape"].advanced and not form.fields["verbose"].advanced
    # Labels a person reads, required fields marked, the pin name and the help beside them.
    name, tokens = _drawn(form, "name"), _drawn(form, "max_tokens")
    assert (name["label"], name["required"], name["help"]) == ("Name", True, "Who to greet.")
    assert (tokens["label"], tokens["required"], tokens["name"]) == ("Max tokens", False, "max_tokens")
    assert _drawn(form, "top_k")["min"] == 1 and _drawn(form, "top_k")["max"] == 100
    assert _drawn(form, "temperature")["min"] == 0


def test_defaults_are_placeholders_and_values_only_what_was_given_or_set() -> None:
    form, changes = _form({"name": "Ada", "sizes": [1, 2]})
    assert _drawn(form, "prompt")["placeholder"] == "Say hi" and _drawn(form, "prompt")["text"] == ""
    assert _drawn(form, "top_k")["placeholder"] == "10"
    assert _drawn(form, "style")["options"][0] == "— default: short —"
    assert _drawn(form, "style")["selected"] == 0
    assert _drawn(form, "name")["text"] == "Ada"
    assert _drawn(form, "sizes")["items"] == ["1", "2"]
    assert form.values == {"name": "Ada", "sizes": [1, 2]}
    assert changes == []


@pytest.mark.parametrize(
    ("field", "raw", "value"),
    [
        ("name", "Grace", "Grace"),
        ("prompt", "line one\nline two", "line one\nline two"),
        ("api_key", "s3cret", "s3cret"),
        ("max_tokens", "256", 256),
        ("top_k", "5", 5),
        ("temperature", "0.7", 0.7),
        ("verbose", True, True),
        ("style", 2, "long"),
        ("level", 3, "error"),
        ("mode", 1, "fast"),
        ("seconds", "30", 30),
        ("seconds", "5 minutes", "5 minutes"),
        ("tags", ["a", "", "b"], ["a", "b"]),
        ("sizes", ["3", "4"], [3, 4]),
        ("levels", [1, 2], ["info", "warning"]),
        ("rows", '[{"id": 1}]', [{"id": 1}]),
        ("headers", '{"Accept": "text/plain"}', {"Accept": "text/plain"}),
        ("anything", "just words", "just words"),
        ("anything", '{"a": [1, 2]}', {"a": [1, 2]}),
        ("credentials", 1, "cred-gh"),
        ("escape", True, True),
    ],
)
def test_every_kind_round_trips_what_the_browser_sends(field: str, raw: Any, value: Any) -> None:
    form, changes = _form()
    form.__panel__()._handle_msg({"field": field, "value": raw})  # the browser's message
    assert form.values == {field: value}
    assert changes == [(field, value)]
    assert form.problems == {}


def test_emptying_a_field_unsets_it_and_one_commit_is_one_change() -> None:
    form, changes = _form({"max_tokens": 100, "tags": ["x"], "style": "long", "credentials": "cred-gh"})
    assert _drawn(form, "credentials")["selected"] == 1
    form.enter("max_tokens", "100")  # the same value again: no change
    form.enter("max_tokens", "")
    form.enter("tags", [""])
    form.enter("style", 0)
    form.enter("credentials", 0)
    assert form.values == {}
    assert changes == [("max_tokens", None), ("tags", None), ("style", None), ("credentials", None)]
    form.enter("name", "Ada")
    form.enter("name", "Ada")
    assert changes[-1] == ("name", "Ada") and len(changes) == 5


def test_credentials_offer_the_providers_vault_entries_and_the_environment_default() -> None:
    form, _ = _form()
    assert _drawn(form, "credentials")["options"] == [NO_CREDENTIAL, "My GitHub (github)"]
    llm = SchemaForm({"properties": {"credentials": {"default": None}}}, credentials=VAULT)
    assert _drawn(llm, "credentials")["options"] == [
        NO_CREDENTIAL,
        "My GitHub (github)",
        "My OpenAI (openai)",
    ]
    # AutoGPT's {id, provider, ...} reference is shown as the credential it names.
    kept = SchemaForm(
        {"properties": {"credentials": {}}}, {"credentials": {"id": "cred-ai"}}, credentials=VAULT
    )
    assert _drawn(kept, "credentials")["selected"] == 2


def test_unreadable_text_is_the_fields_error_and_keeps_the_value() -> None:
    form, changes = _form({"rows": [{"id": 1}]})
    form.enter("rows", '[\n  {"id": 1},\n  {"id" 2}\n]')
    assert form.values == {"rows": [{"id": 1}]}
    assert changes == []
    assert form.problems["rows"] == "Not valid JSON at line 3, column 9: Expecting ':' delimiter"
    assert form.errors["rows"] == form.problems["rows"]
    form.enter("headers", "[1, 2]")
    assert form.errors["headers"] == "Expected a JSON object {...}, got list"
    form.enter("top_k", "500")
    form.enter("temperature", "0")
    form.enter("max_tokens", "1.5")
    form.enter("sizes", ["1", "two"])
    assert form.errors["top_k"] == "At most 100"
    assert form.errors["temperature"] == "More than 0"
    assert form.errors["max_tokens"] == "Expected a whole number"
    assert form.errors["sizes"] == "Item 2: Expected a whole number"
    form.enter("rows", "[]")  # fixed: the error goes, the value is kept
    assert "rows" not in form.errors and form.values["rows"] == []
    assert changes == [("rows", [])]


def test_json_errors_name_the_line_even_after_leading_blank_lines() -> None:
    with pytest.raises(ValueError, match=r"line 3, column 7"):
        parse_json_text('\n\n{"a": }', "object")
    with pytest.raises(ValueError, match=r"line 1, column 2"):
        parse_json_text("[", "any")
    assert parse_json_text("  ", "any") is UNSET
    assert parse_json_text("42", "any") == 42


def test_set_errors_shows_and_clears_and_names_others_at_the_top() -> None:
    form, _ = _form()
    form.set_errors({"name": "Required input missing", "level": "Not a level", "": "Graph has a cycle"})
    assert form.errors == {"name": "Required input missing", "level": "Not a level"}
    assert form.__panel__().notes == ["Graph has a cycle"]
    form.enter("anything", "{broken")
    form.set_errors({})
    assert form.errors == {"anything": form.problems["anything"]}  # a local problem stays
    assert form.__panel__().notes == []


def test_linked_fields_are_disabled_and_ignore_edits() -> None:
    form, changes = _form(linked=["name", "not_a_field"])
    assert form.linked == ["name"]
    form.enter("name", "typed anyway")
    assert form.values == {} and changes == []
    form.set_linked(["prompt", "tags"])
    assert form.linked == ["prompt", "tags"]
    form.enter("name", "Ada")
    assert form.values == {"name": "Ada"}


def test_a_given_value_of_the_wrong_type_is_shown_as_json_not_lost() -> None:
    form, _ = _form({"top_k": "ten", "verbose": "yes", "tags": [{"a": 1}], "style": "medium"})
    assert form.fields["top_k"].kind == "json" and _drawn(form, "top_k")["text"] == "ten"
    assert form.fields["verbose"].kind == "json"
    assert form.fields["tags"].kind == "json"
    assert _drawn(form, "style")["options"][-1] == "medium (not a listed choice)"
    assert form.values["style"] == "medium"


def test_labels_are_readable() -> None:
    assert readable_label("max_tokens", "Max Tokens") == "Max tokens"
    assert readable_label("repo_url", "Repo Url") == "Repo URL"
    assert readable_label("model", "LLM Model") == "LLM Model"
    assert readable_label("who", "Your name") == "Your name"


def test_every_block_of_the_catalogue_renders() -> None:
    registry = default_registry()
    count = 0
    for block in registry:
        schema = block.input_schema()
        form = SchemaForm(schema, credentials=VAULT, title=block.name)
        assert list(form.fields) == list(schema.get("properties", {})), block.name
        form.__panel__().get_root(Document())
        count += 1
    assert count == len(registry) > 50
    fill = SchemaForm(FillTextTemplateBlock().input_schema())
    assert [n for n, s in fill.fields.items() if s.advanced] == ["escape_html"]


def test_an_agents_run_form() -> None:
    nodes = [
        (AgentShortTextInputBlock, {"name": "who", "title": "Your name", "description": "Who to greet."}),
        (AgentLongTextInputBlock, {"name": "notes", "value": "none", "secret": False}),
        (AgentNumberInputBlock, {"name": "times"}),
        (AgentDropdownInputBlock, {"name": "tone", "options": ["warm", "dry"]}),
        (AgentToggleInputBlock, {"name": "shout", "value": False}),
        (AgentShortTextInputBlock, {"name": "token", "secret": True}),
    ]
    graph = Graph(
        name="run form",
        nodes=[Node(id=f"n{i}", block_id=b.id, input_default=d) for i, (b, d) in enumerate(nodes)],
    )
    schema = Plan(graph, default_registry(), 60.0).input_schema()
    form = SchemaForm(schema, title="Run")
    kinds = {n: (s.kind, s.label, s.required) for n, s in form.fields.items()}
    assert kinds == {
        "who": ("text", "Your name", True),
        "notes": ("longtext", "Notes", False),
        "times": ("int", "Times", True),
        "tone": ("select", "Tone", True),
        "shout": ("bool", "Shout", False),
        "token": ("secret", "Token", True),
    }
    assert _drawn(form, "notes")["placeholder"] == "none"
    assert form.__panel__().heading == "Run"
    form.enter("tone", 2)
    form.enter("who", "Ada")
    assert form.values == {"tone": "dry", "who": "Ada"}
