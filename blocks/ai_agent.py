"""SmartDecisionMakerBlock: the model picks which linked block or sub-graph to call next (AutoGPT's id/pins).

The blocks linked from its ``tools`` pin are the model's functions: the engine lists them in
``context.tools`` (:class:`~workbench.block.context.Tool`), each function's parameters being the sink
pins of those links. When the model calls a function, the block yields what the tool's ``invoke``
gives: each argument as ``tools_^_{sink node id}_~_{sink pin}`` (the engine routes it to that one link
only, contract C2); then it yields its ``conversations``. Linking the tool's output back to ``last_tool_output`` and
``conversations`` back to ``conversation_history`` makes the agent loop: the block waits until the
tool's answer is there (see :meth:`SmartDecisionMakerBlock.waiting_for`), adds it to the
conversation, asks the model again, and so on until the model answers without a tool call, which
it yields on ``finished``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field

from blocks.ai import LLMBlock, LLMInput, _mock_response, render_prompt
from workbench import jsonutil
from workbench.block import BlockCategory, BlockOutput, BlockSchema
from workbench.block.base import BlockType, get_context
from workbench.block.context import RunContext, Tool
from workbench.errors import BlockError

if TYPE_CHECKING:  # workbench.llm brings httpx: imported when a call is made (blocks.ai)
    from workbench.llm import ChatResponse, Message

_NOT_FOR_PROVIDERS = frozenset({"title", "default", "advanced", "secret", "placeholder"})
"""Schema keys of our pins that mean nothing to a model (and some providers refuse)."""
MAIN_OBJECTIVE_PREFIX = "[Main Objective Prompt]: "
DEFAULT_SYS_PROMPT = (
    "Thinking carefully step by step decide which function to call. Always choose a function call from "
    "the list of function signatures, and always provide the complete argument provided with the type "
    "matching the required jsonschema signature, no missing argument is allowed. If you have already "
    "completed the task objective, you can end the task by providing the end result of your work as a "
    "finish message. Function parameters that has no default value and not optional typed has to be "
    "provided. "
)


def clean_name(name: str) -> str:
    """A function or parameter name providers accept: ``[a-zA-Z0-9_-]``, lower case."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", name).lower()


def pending_tool_calls(conversation: list[Any] | None) -> dict[str, int]:
    """Tool call ids of the conversation without an answer yet (id -> how many answers missing)."""
    pending: dict[str, int] = {}
    for message in conversation or []:
        if not isinstance(message, dict):
            continue
        if message.get("role") == "assistant":
            for call in message.get("tool_calls") or []:
                if isinstance(call, dict) and call.get("id"):
                    pending[str(call["id"])] = pending.get(str(call["id"]), 0) + 1
        elif message.get("role") == "tool" and message.get("tool_call_id"):
            key = str(message["tool_call_id"])
            pending[key] = pending.get(key, 0) - 1
    return {k: v for k, v in pending.items() if v > 0}


def _tool_output_text(value: Any) -> str:
    return value if isinstance(value, str) else jsonutil.dumps(value)


@dataclass(frozen=True, slots=True)
class ToolFunction:
    """A tool as a provider function: its definition, and which pin each of its parameters stands for."""

    tool: Tool
    definition: dict[str, Any]
    """``{"type": "function", "function": {"name", "description", "parameters"}}``."""
    pins: dict[str, str]
    """Pin name by parameter name (parameter names are cleaned for providers)."""

    @property
    def name(self) -> str:
        """The function's name, unique among the block's tools."""
        return str(self.definition["function"]["name"])

    def call(self, arguments: dict[str, Any]) -> list[tuple[str, Any]]:
        """The outputs that call the tool with the model's ``arguments`` (by parameter name)."""
        return self.tool.invoke({pin: arguments.get(param) for param, pin in self.pins.items()})


def tool_functions(tools: Sequence[Tool]) -> list[ToolFunction]:
    """``tools`` as provider functions: names and parameters as providers accept them, names unique."""
    functions = []
    used: dict[str, int] = {}
    for tool in tools:
        base = clean_name(tool.name)
        count = used.get(base, 0)
        used[base] = count + 1
        properties: dict[str, Any] = {}
        by_param: dict[str, str] = {}
        required = set(tool.input_schema.get("required") or [])
        for pin, prop in (tool.input_schema.get("properties") or {}).items():
            param = clean_name(pin)
            by_param[param] = pin
            kept = {k: v for k, v in prop.items() if k not in _NOT_FOR_PROVIDERS}
            properties[param] = kept or {"type": "string"}
        definition = {
            "name": f"{base}_{count}" if count else base,
            "description": tool.description or tool.name,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": [p for p, pin in by_param.items() if pin in required],
            },
        }
        functions.append(ToolFunction(tool, {"type": "function", "function": definition}, by_param))
    return functions


def _check_call(call: Any, functions: list[ToolFunction]) -> str | None:
    """What is wrong with a tool call (unknown function, bad JSON, missing argument), or None."""
    fn = next((f for f in functions if f.name == call.name), None)
    if fn is None:
        names = ", ".join(f.name for f in functions) or "(none)"
        return f"there is no function {call.name!r}; the functions are: {names}"
    try:
        args = jsonutil.loads(call.arguments or "{}")
    except Exception:
        return f"the arguments of {call.name!r} are not valid JSON: {call.arguments!r}"
    if not isinstance(args, dict):
        return f"the arguments of {call.name!r} must be a JSON object"
    missing = [p for p in fn.definition["function"]["parameters"]["required"] if p not in args]
    if missing:
        return f"{call.name!r} needs the arguments {', '.join(missing)}"
    return None


class SmartDecisionMakerBlock(LLMBlock):
    """Lets a model decide which linked tool (block or sub-graph) to call, in a loop, until it is done."""

    id = "3b191d9f-356f-482d-8238-ba04b6d18381"
    description = (
        "Use a large language model to decide which linked tool to call next, until the task is done."
    )
    categories = (BlockCategory.AI,)
    block_type = BlockType.AI
    optional_links = frozenset({"conversation_history", "last_tool_output"})
    custom_wait = True

    class Input(LLMInput):
        prompt: str = Field(description="The task; {{ name }} placeholders take prompt_values.")
        multiple_tool_calls: bool = Field(
            default=False, description="Let the model call several tools at once."
        )
        sys_prompt: str = Field(
            default=DEFAULT_SYS_PROMPT, title="System Prompt", description="The system prompt."
        )
        conversation_history: list[dict[str, Any]] | None = Field(
            default_factory=list, description="The conversation so far (link 'conversations' back here)."
        )
        last_tool_output: Any = Field(
            default=None, description="The tool's answer (link the tool's output here)."
        )
        retry: int = Field(default=3, description="Attempts when the model calls a tool wrongly.")
        prompt_values: dict[str, Any] = Field(default_factory=dict, description="Values of the placeholders.")
        agent_mode_max_iterations: int = Field(
            default=0, description="0: one model call per execution, tools run as linked nodes (supported)."
        )
        conversation_compaction: bool = Field(default=True, description="Kept for AutoGPT compatibility.")

    class Output(BlockSchema):
        tools: Any = Field(description="Link to a tool block's input pins: the model's arguments for it.")
        finished: str = Field(description="The model's final answer, when it calls no more tools.")
        conversations: list[Any] = Field(description="The conversation (link back to conversation_history).")

    test_input = {"prompt": "Say done."}
    test_output = [("finished", "done")]
    test_mock = {"llm_call": lambda *_a, **_kw: _mock_response("done")}

    def waiting_for(self, data: dict[str, Any]) -> str | None:
        """AutoGPT's rule: wait for the tool's answer while a call is pending, else for the conversation."""
        pending = pending_tool_calls(data.get("conversation_history"))
        has_output = data.get("last_tool_output") is not None
        if pending and not has_output:
            return "last_tool_output"
        if has_output and not pending:
            return "conversation_history"
        return None

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        ctx = get_context(kwargs)
        if input_data.agent_mode_max_iterations != 0:
            raise BlockError(
                "pin 'agent_mode_max_iterations': only 0 is supported (tools run as linked nodes; link the "
                "tool's output to last_tool_output and conversations to conversation_history)"
            )
        functions = tool_functions(ctx.tools)
        conversation: list[Message] = [dict(m) for m in input_data.conversation_history or []]
        pending = pending_tool_calls(conversation)
        if pending and input_data.last_tool_output is None:
            raise BlockError(
                f"pin 'last_tool_output': the tool calls {', '.join(pending)} have no answer yet"
            )
        if pending:
            first = next(iter(pending))
            conversation.append(
                {
                    "role": "tool",
                    "tool_call_id": first,
                    "content": _tool_output_text(input_data.last_tool_output),
                }
            )
            if len(pending) > 1 or pending[first] > 1:
                # More answers are due: pass the conversation on and wait for them.
                yield "conversations", conversation
                return
        values = input_data.prompt_values
        prompt = await render_prompt(input_data.prompt, values, "prompt")
        sys_prompt = await render_prompt(input_data.sys_prompt, values, "sys_prompt")
        if sys_prompt and not any(
            m.get("role") == "system" and str(m.get("content", "")).startswith(MAIN_OBJECTIVE_PREFIX)
            for m in conversation
        ):
            conversation.append({"role": "system", "content": MAIN_OBJECTIVE_PREFIX + sys_prompt})
        if prompt and not any(
            m.get("role") == "user" and str(m.get("content", "")).startswith(MAIN_OBJECTIVE_PREFIX)
            for m in conversation
        ):
            conversation.append({"role": "user", "content": MAIN_OBJECTIVE_PREFIX + prompt})
        response = await self._decide(ctx, input_data, conversation, functions)
        if not response.tool_calls:
            yield "finished", response.text
            return
        calls = response.tool_calls if input_data.multiple_tool_calls else response.tool_calls[:1]
        for call in calls:
            fn = next(f for f in functions if f.name == call.name)
            for output in fn.call(jsonutil.loads(call.arguments or "{}")):
                yield output
        if response.reasoning:
            conversation.append({"role": "assistant", "content": f"[Reasoning]: {response.reasoning}"})
        response.tool_calls = list(calls)
        conversation.append(response.message())
        yield "conversations", conversation

    async def _decide(
        self, ctx: RunContext, input_data: Input, conversation: list[Message], functions: list[ToolFunction]
    ) -> ChatResponse:
        """Ask the model; when it calls a tool wrongly, tell it why and ask again (``retry`` times)."""
        messages = list(conversation)
        problem = ""
        for _ in range(max(1, input_data.retry)):
            response = await self.llm_call(
                ctx,
                input_data,
                messages,
                stream_pin="finished",
                tools=[f.definition for f in functions] or None,
                parallel_tool_calls=input_data.multiple_tool_calls if functions else None,
            )
            problems = [p for p in (_check_call(c, functions) for c in response.tool_calls) if p]
            if not problems:
                return response
            problem = "; ".join(problems)
            messages = [
                *messages,
                {"role": "assistant", "content": response.text or f"(called {response.tool_calls[0].name})"},
                {"role": "user", "content": f"Your function call was invalid: {problem}. Try again."},
            ]
        raise BlockError(
            f"the model made no valid tool call after {max(1, input_data.retry)} attempt(s): {problem}"
        )
