"""The SmartDecisionMaker turns the tools of its context into provider functions, without a graph."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blocks.ai_agent import _check_call, tool_functions
from workbench.block.context import RunContext, Tool
from workbench.llm.types import ToolCall


def _tool(name: str, properties: dict[str, Any], required: list[str], node: str) -> Tool:
    def invoke(arguments: Mapping[str, Any]) -> list[tuple[str, Any]]:
        return [(f"tools_^_{node}_~_{pin}", arguments.get(pin)) for pin in properties]

    schema = {"type": "object", "properties": properties, "required": required}
    return Tool(name=name, description=f"The {name}.", input_schema=schema, invoke=invoke)


def test_tools_become_functions_with_unique_clean_names() -> None:
    search = {"query": {"type": "string", "title": "Query", "default": ""}, "values_#_k": {}}
    functions = tool_functions(
        [
            _tool("Web Search", search, ["query"], "n1"),
            _tool("web search", {"q": {"type": "string"}}, [], "n2"),
        ]
    )
    assert [f.name for f in functions] == ["web_search", "web_search_1"]
    first = functions[0].definition
    assert first == {
        "type": "function",
        "function": {
            "name": "web_search",
            "description": "The Web Search.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}, "values___k": {"type": "string"}},
                "required": ["query"],
            },
        },
    }
    assert functions[0].call({"query": "pins", "values___k": 3}) == [
        ("tools_^_n1_~_query", "pins"),
        ("tools_^_n1_~_values_#_k", 3),
    ]


def test_a_wrong_call_is_explained() -> None:
    functions = tool_functions([_tool("calc", {"a": {}, "b": {}}, ["a", "b"], "c")])
    assert _check_call(ToolCall(id="1", name="calc", arguments='{"a": 1}'), functions) == (
        "'calc' needs the arguments b"
    )
    assert "there is no function 'calk'" in str(
        _check_call(ToolCall(id="1", name="calk", arguments="{}"), functions)
    )
    assert _check_call(ToolCall(id="1", name="calc", arguments='{"a": 1, "b": 2}'), functions) is None


def test_a_block_run_alone_has_no_tools() -> None:
    assert tool_functions(RunContext.for_test().tools) == []
