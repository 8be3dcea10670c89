"""SmartDecisionMakerBlock: the model picks which linked block or sub-graph to call next (AutoGPT's id/pins).

The blocks linked from its ``tools`` pin are the model's functions: the engine lists them in
``context.tools`` (:class:`~workbench.block.context.Tool`), each function's parameters being the sink
pins of those links. Two modes, chosen by ``agent_mode_max_iterations``:

- **traditional** (0): one model call per execution. When the model calls a function, the block
  yields what the tool's ``invoke`` gives: each argument as ``tools_^_{sink node id}_~_{sink pin}``
  (the engine routes it to that one link only, contract C2); then it yields its ``conversations``.
  Linking the tool's output back to ``last_tool_output`` and ``conversations`` back to
  ``conversation_history`` makes the agent loop through the graph: the block waits until the tool's
  answer is there (see :meth:`SmartDecisionMakerBlock.waiting_for`), adds it to the conversation,
  asks the model again, and so on until the model answers without a tool call, which it yields on
  ``finished``.
- **agent mode** (N > 0: at most N model calls; -1: until done, up to
  :data:`AGENT_MODE_SAFETY_CAP`): the loop runs inside one node execution. The block runs each tool
  the model calls itself (``await tool.call(...)``: a node execution of the tool's node, stored and
  streamed like any other), gives the model the tool's outputs (or why the call failed: an unknown
  function, bad arguments, the tool's error) and asks again, until the model answers without a tool
  call; then it yields ``finished`` and ``conversations`` once. Each step is streamed (NODE_STREAM
  events on the pins ``tool_call``, ``tool_result`` and ``compaction``); each model call's tokens and
  cost are added to the node's stats. At the limit, ``finished`` says so.

**MCP servers** (``mcp_servers``: ``mcp`` credentials, each an MCP server) add their tools to the
graph's: each is a function ``mcp__<server>__<tool>`` (:mod:`blocks._mcp`), called by the block
itself in both modes, its answer (or why it failed) given to the model like a graph tool's. In
traditional mode a turn whose calls are all MCP calls is answered at once and the model asked again
(at most :data:`MCP_ROUNDS_CAP` times per execution); calls of graph tools leave on the tool pins as
above. The servers are connected once per execution (their tool lists read then) and closed at its
end. Without MCP servers nothing changes.

With ``conversation_compaction`` on, a conversation that outgrows half the model's context window
(:mod:`workbench.llm.windows`) is compacted before the model sees it (:mod:`workbench.llm.compaction`):
old tool results first, then old turns; the system prompt, the task and the latest turn stay.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field

from blocks._mcp import McpFunction, open_toolbox
from blocks.ai import LLMBlock, LLMInput, _mock_response, render_prompt
from workbench import jsonutil
from workbench.block import BlockCategory, BlockOutput, BlockSchema
from workbench.block.base import BlockType, get_context
from workbench.block.context import RunContext, Tool
from workbench.errors import BlockError

if TYPE_CHECKING:  # workbench.llm brings httpx: imported when a call is made (blocks.ai)
    from workbench.llm import ChatResponse, Message
    from workbench.llm.types import ToolCall

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


AGENT_MODE_SAFETY_CAP = 100
"""Most model calls of one agent-mode execution with ``agent_mode_max_iterations`` -1 ("until done")."""
LAST_ITERATION_PROMPT = (
    MAIN_OBJECTIVE_PREFIX + "This is your last iteration. Complete the task with the information you "
    "have. If you cannot complete it, summarise what you have done and what remains. Answer now rather "
    "than calling more tools."
)
"""Added (for that call only) to the last model call an agent-mode limit allows."""
STREAMED_CONTENT_CHARS = 2000
"""How much of a tool's answer a ``tool_result`` stream event carries (the conversation has it all)."""
MCP_ROUNDS_CAP = 20
"""Traditional mode: turns of MCP calls only that one execution answers itself before it stops."""


def clean_name(name: str) -> str:
    """A function or parameter name providers accept: ``[a-zA-Z0-9_-]``, lower case."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", name).lower()


def _content_blocks(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The content blocks of type ``kind`` of a message in Anthropic's shape (``tool_use``...)."""
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, dict) and b.get("type") == kind]


def pending_tool_calls(conversation: list[Any] | None) -> dict[str, int]:
    """Tool call ids of the conversation without an answer yet (id -> how many answers missing).

    Calls and answers count in OpenAI's shape (``tool_calls``, ``tool`` messages) and in Anthropic's
    (``tool_use`` and ``tool_result`` blocks), as AutoGPT's exported conversations may hold either.
    """
    pending: dict[str, int] = {}

    def count(call_id: Any, by: int) -> None:
        if call_id:
            pending[str(call_id)] = pending.get(str(call_id), 0) + by

    for message in conversation or []:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role == "assistant":
            for call in message.get("tool_calls") or []:
                if isinstance(call, dict):
                    count(call.get("id"), 1)
            for block in _content_blocks(message, "tool_use"):
                count(block.get("id"), 1)
        elif role == "tool":
            count(message.get("tool_call_id"), -1)
        elif role == "user":
            for block in _content_blocks(message, "tool_result"):
                count(block.get("tool_use_id"), -1)
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

    def by_pin(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The model's ``arguments`` (by parameter name) by the tool's input pin."""
        return {pin: arguments.get(param) for param, pin in self.pins.items()}

    def call(self, arguments: dict[str, Any]) -> list[tuple[str, Any]]:
        """The outputs that call the tool with the model's ``arguments`` (by parameter name)."""
        return self.tool.invoke(self.by_pin(arguments))


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


Function = ToolFunction | McpFunction
"""A function the model may call: a linked graph tool, or a tool of an MCP server."""


def _check_call(call: Any, functions: Sequence[Function]) -> str | None:
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
            default=0,
            title="Agent Mode Max Iterations",
            description=(
                "0: one model call per execution, the tool calls leave on the tool pins for the graph to "
                f"run; -1: agent mode until the model is done (at most {AGENT_MODE_SAFETY_CAP} model "
                "calls); N > 0: agent mode with at most N model calls. In agent mode the block runs "
                "the tools itself and loops within one execution."
            ),
        )
        conversation_compaction: bool = Field(
            default=True,
            title="Context window auto-compaction",
            description="Compact the conversation once it outgrows the model's context window.",
        )
        mcp_servers: list[Any] = Field(
            default_factory=list,
            title="MCP servers",
            description=(
                "'mcp' credentials ({id, provider} or ids), each an MCP server whose tools the model "
                "may call too, as functions named mcp__<server>__<tool>; the block calls them itself."
            ),
            json_schema_extra={"advanced": True},
        )

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
        functions: list[Function] = list(tool_functions(ctx.tools))
        if not input_data.mcp_servers:
            async for output in self._run(ctx, input_data, functions):
                yield output
            return
        taken = {f.name for f in functions}
        # The MCP connections live within this block: the outputs are yielded once they are closed.
        async with open_toolbox(ctx, input_data.mcp_servers, taken) as mcp:
            outputs = [output async for output in self._run(ctx, input_data, [*functions, *mcp])]
        for output in outputs:
            yield output

    async def _run(self, ctx: RunContext, input_data: Input, functions: list[Function]) -> BlockOutput:
        """One execution, with the model's functions (graph tools first, then MCP tools)."""
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
        if input_data.agent_mode_max_iterations != 0:
            async for output in self._agent_mode(ctx, input_data, conversation, functions):
                yield output
            return
        for turn in range(1, MCP_ROUNDS_CAP + 1):
            if input_data.conversation_compaction and any(m.get("role") == "assistant" for m in conversation):
                conversation = self._compacted(ctx, conversation, await self._window(ctx, input_data))
            response = await self._decide(ctx, input_data, conversation, functions)
            if not response.tool_calls:
                yield "finished", response.text
                return
            calls = response.tool_calls if input_data.multiple_tool_calls else response.tool_calls[:1]
            mcp_calls = []
            for call in calls:
                fn = next(f for f in functions if f.name == call.name)
                if isinstance(fn, McpFunction):
                    mcp_calls.append(call)
                    continue
                for output in fn.call(jsonutil.loads(call.arguments or "{}")):
                    yield output
            if response.reasoning:
                conversation.append({"role": "assistant", "content": f"[Reasoning]: {response.reasoning}"})
            response.tool_calls = list(calls)
            conversation.append(response.message())
            for call in mcp_calls:  # answered here; the graph's tools answer through the graph
                conversation.append(await self._run_tool(ctx, call, functions, turn))
            if len(mcp_calls) < len(calls):  # a graph tool was called: the graph answers it
                yield "conversations", conversation
                return
        yield "finished", f"Stopped after {MCP_ROUNDS_CAP} turns of MCP tool calls in one execution"
        yield "conversations", conversation

    async def _decide(
        self, ctx: RunContext, input_data: Input, conversation: list[Message], functions: list[Function]
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

    # ---- agent mode ---------------------------------------------------------------------------

    async def _agent_mode(
        self, ctx: RunContext, input_data: Input, conversation: list[Message], functions: list[Function]
    ) -> BlockOutput:
        """Ask the model, run the tools it calls, give it their answers; again until it is done."""
        limit = input_data.agent_mode_max_iterations
        most = limit if limit > 0 else AGENT_MODE_SAFETY_CAP
        window = await self._window(ctx, input_data) if input_data.conversation_compaction else None
        definitions = [f.definition for f in functions] or None
        for iteration in range(1, most + 1):
            if window is not None:
                conversation = self._compacted(ctx, conversation, window, iteration)
            messages = conversation
            if iteration == limit:
                messages = [*conversation, {"role": "system", "content": LAST_ITERATION_PROMPT}]
            response = await self.llm_call(
                ctx,
                input_data,
                messages,
                stream_pin="finished",
                tools=definitions,
                parallel_tool_calls=input_data.multiple_tool_calls if functions else None,
            )
            if not response.tool_calls:
                if response.reasoning:
                    conversation.append(
                        {"role": "assistant", "content": f"[Reasoning]: {response.reasoning}"}
                    )
                conversation.append(response.message())
                yield "finished", response.text
                yield "conversations", conversation
                return
            conversation.append(response.message())
            for call in response.tool_calls:  # every call needs its answer, whatever multiple_tool_calls says
                conversation.append(await self._run_tool(ctx, call, functions, iteration))
            ctx.add_stats(tool_calls=len(response.tool_calls))
        reason = "limit reached" if limit > 0 else "safety cap reached"
        yield "finished", f"Agent mode completed after {most} iterations ({reason})"
        yield "conversations", conversation

    async def _run_tool(
        self, ctx: RunContext, call: ToolCall, functions: list[Function], iteration: int
    ) -> Message:
        """Run one tool call; its answer for the model (the tool's outputs, or what went wrong)."""
        ctx.stream(
            "tool_call",
            {"iteration": iteration, "id": call.id, "name": call.name, "arguments": call.arguments},
        )
        node_execution_id: str | None = None
        error = _check_call(call, functions)
        if error is not None:
            content = f"Error: {error}. Call a listed function with valid arguments, or answer."
        else:
            fn = next(f for f in functions if f.name == call.name)
            if isinstance(fn, McpFunction):
                content, error = await fn.answer(jsonutil.loads(call.arguments or "{}"))
                return self._told(ctx, call, iteration, content, error, None)
            result = await fn.tool.call(fn.by_pin(jsonutil.loads(call.arguments or "{}")))
            node_execution_id = result.node_execution_id
            error = result.error
            outputs = result.by_pin()
            if error is not None:
                content = f"Tool execution failed: {error}"
            else:
                content = jsonutil.dumps(outputs) if outputs else "Tool executed successfully"
        return self._told(ctx, call, iteration, content, error, node_execution_id)

    @staticmethod
    def _told(
        ctx: RunContext,
        call: ToolCall,
        iteration: int,
        content: str,
        error: str | None,
        node_execution_id: str | None,
    ) -> Message:
        """The answer to a call for the model, streamed as a ``tool_result`` step first."""
        ctx.stream(
            "tool_result",
            {
                "iteration": iteration,
                "id": call.id,
                "name": call.name,
                "node_execution_id": node_execution_id,
                "error": error,
                "content": content[:STREAMED_CONTENT_CHARS],
            },
        )
        return call.result_message(content)

    # ---- compaction ---------------------------------------------------------------------------

    async def _window(self, ctx: RunContext, input_data: Input) -> int:
        """The context window of the model this node calls (configured, else by model name)."""
        from workbench.llm.windows import context_window

        config, model = await self.provider(ctx, input_data)
        return context_window(model, config.context_window)

    @staticmethod
    def _compacted(
        ctx: RunContext, conversation: list[Message], window: int, iteration: int | None = None
    ) -> list[Message]:
        """The conversation within half the context window (as AutoGPT budgets it), the rest left for
        the tools' definitions and the answer; a ``compaction`` stream event says what was done."""
        from workbench.llm.compaction import compact

        done = compact(conversation, window // 2, keep=_is_objective)
        if done.changed:
            ctx.stream("compaction", {"iteration": iteration, "context_window": window, **done.summary()})
        return done.messages


def _is_objective(message: Message) -> bool:
    """The task and system prompt the block added: never compacted away."""
    return str(message.get("content") or "").startswith(MAIN_OBJECTIVE_PREFIX)
