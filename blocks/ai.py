"""AI blocks: text generation, structured answers, conversations, summaries, lists, images.

They keep AutoGPT's block ids and pins, so exported agents import unchanged. Every call goes through
:mod:`workbench.llm` (any OpenAI-compatible server or Anthropic), with the provider from the node's
``credentials`` input, the user's credential for the model's provider, or the environment; tokens
and cost land in the node execution's stats, and text answers stream to watchers as NODE_STREAM
events. The tool-calling SmartDecisionMakerBlock lives in :mod:`blocks.ai_agent`.
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from workbench import jsonutil
from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema
from workbench.block.base import get_context
from workbench.block.context import RunContext
from workbench.errors import BlockError, LimitExceeded

if TYPE_CHECKING:  # imported where used: workbench.llm brings httpx, templating Jinja (slow imports)
    from workbench.llm import ChatResponse, Message, ProviderConfig

DEFAULT_MODEL = "gpt-5.2-2025-12-11"
"""AutoGPT's default model id; ``WORKBENCH_LLM_MODEL`` or a credential's ``model`` replaces it."""
DEFAULT_OLLAMA_HOST = "localhost:11434"
CREDENTIALS_HELP = (
    "The LLM provider credential: AutoGPT's {id, provider, type, title} or a credential id. Empty: "
    "the user's credential for the model's provider, else the environment (OPENAI_API_KEY, "
    "WORKBENCH_LLM_BASE_URL, ANTHROPIC_API_KEY)."
)


class LLMInput(BlockSchema):
    """Pins every LLM block shares: model, credentials, answer length, Ollama host."""

    model: str = Field(default=DEFAULT_MODEL, title="LLM Model", description="The model id to call.")
    credentials: Any = Field(default=None, description=CREDENTIALS_HELP)
    max_tokens: int | None = Field(default=None, description="Most tokens the answer may have.")
    ollama_host: str = Field(
        default=DEFAULT_OLLAMA_HOST,
        description="host:port of Ollama, for an 'ollama' credential without base_url.",
    )


def _mock_response(text: str) -> ChatResponse:
    from workbench.llm import ChatResponse, Usage

    return ChatResponse(text=text, model="mock", usage=Usage(1, 1, 0.0))


class LLMBlock(Block):
    """Base of the blocks that call a chat model through :meth:`llm_call` (mocked in self-tests)."""

    async def provider(self, context: RunContext, input_data: Any) -> tuple[ProviderConfig, str]:
        """The provider config and the model to call for this node."""
        from workbench.llm import resolve_config
        from workbench.llm.config import DEFAULT_BASE_URLS
        from workbench.llm.resolve import ollama_base_url, user_endpoint

        config = await resolve_config(context, input_data.credentials, model=input_data.model)
        if (
            config.provider == "ollama"
            and config.base_url == DEFAULT_BASE_URLS["ollama"]
            and input_data.ollama_host != DEFAULT_OLLAMA_HOST
        ):
            # A host the user names: guarded, and never with the operator's key (user_endpoint).
            config = user_endpoint(config, ollama_base_url(input_data.ollama_host), context)
        model = input_data.model
        if config.model and model == DEFAULT_MODEL:
            model = config.model
        return config, model

    async def llm_call(
        self,
        context: RunContext,
        input_data: Any,
        messages: list[Message],
        *,
        stream_pin: str | None = None,
        **options: Any,
    ) -> ChatResponse:
        """One chat call; records tokens and cost, streams text to ``stream_pin`` when given."""
        from workbench.llm import chat

        config, model = await self.provider(context, input_data)

        def on_token(token: str) -> None:
            context.stream(stream_pin or "response", token)

        response = await chat(
            messages,
            config=config,
            model=model,
            max_tokens=input_data.max_tokens,
            on_token=on_token if stream_pin is not None and context.stream_sink is not None else None,
            **options,
        )
        usage = response.usage
        context.add_stats(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_usd=usage.cost_usd,
            llm_calls=1,
        )
        return response


async def render_prompt(template: str, values: dict[str, Any], pin: str) -> str:
    """A prompt with ``{{ name }}`` placeholders filled from ``prompt_values`` (sandboxed Jinja,
    bounded: see :mod:`workbench.templating`).

    Raises:
        BlockError: the template cannot be rendered, or hit a limit (the message names the pin).
    """
    if not values or "{" not in template:
        return template
    from workbench.templating import TemplateFailure, render

    try:
        return await render(template, values)
    except TemplateFailure as exc:
        raise BlockError(f"pin {pin!r}: the template cannot be rendered: {exc}") from None
    except LimitExceeded as exc:
        raise LimitExceeded(f"pin {pin!r}: {exc}", exc.limit) from None


# ---- structured answers ------------------------------------------------------------------------

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def _format_lines(expected: dict[str, str]) -> str:
    return ",\n".join(f'  "{k}": "{v}"' for k, v in expected.items())


def format_instructions(expected: dict[str, str], *, list_result: bool, force_json: bool, tag: str) -> str:
    """The system message telling the model the exact JSON shape to answer with."""
    obj = "{\n" + _format_lines(expected) + "\n}"
    shape = f"a JSON array of objects, each like:\n{obj}" if list_result else f"a JSON object like:\n{obj}"
    if force_json and list_result:
        shape = f'a JSON object {{"results": [...]}} whose "results" array holds objects like:\n{obj}'
    if force_json:
        return (
            f"Reply with pure JSON: {shape}\nGive every key; use an empty string for a value you cannot "
            "answer. No text and no code fences outside the JSON."
        )
    return (
        f'Reply with your answer as {shape}\nPut it inside <json_output id="{tag}"></json_output> tags, '
        "exactly once. Give every key; use an empty string for a value you cannot answer."
    )


def json_schema_for(expected: dict[str, str], *, list_result: bool) -> dict[str, Any]:
    """The JSON Schema of the answer AutoGPT's ``expected_format`` describes (values: descriptions)."""
    item = {
        "type": "object",
        "properties": {k: {"description": str(v)} for k, v in expected.items()},
        "required": list(expected),
    }
    if list_result:
        return {
            "title": "response",
            "type": "object",
            "properties": {"results": {"type": "array", "items": item}},
            "required": ["results"],
        }
    return {"title": "response", **item}


def parse_answer(
    text: str, expected: dict[str, str], *, list_result: bool, force_json: bool, tag: str
) -> dict[str, Any] | list[dict[str, Any]]:
    """The answer's JSON, checked against ``expected``; ValueError says what is wrong."""
    if force_json:
        raw = text.strip()
        fenced = _FENCE.match(raw)
        raw = fenced.group(1) if fenced else raw
    else:
        found = re.findall(rf'<json_output id="{re.escape(tag)}">(.*?)</json_output>', text, re.DOTALL)
        if len(found) != 1:
            raise ValueError(f'expected exactly one <json_output id="{tag}"> block, found {len(found)}')
        raw = found[0].strip()
    try:
        value = jsonutil.loads(raw)
    except Exception as exc:
        raise ValueError(f"the answer is not valid JSON ({exc})") from None
    if list_result:
        if force_json and isinstance(value, dict):
            value = value.get("results")
        if not isinstance(value, list):
            raise ValueError("expected a JSON array of objects")
        for i, item in enumerate(value):
            _check_keys(item, expected, f"item {i}")
        return value
    _check_keys(value, expected, "the answer")
    return value


def _check_keys(value: Any, expected: dict[str, str], where: str) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"{where} is not a JSON object")
    missing = [k for k in expected if k not in value]
    if missing:
        raise ValueError(f"{where} lacks the keys {', '.join(missing)}")


async def structured_response(
    block: LLMBlock,
    context: RunContext,
    input_data: Any,
    *,
    prompt: str,
    expected_format: dict[str, str],
    sys_prompt: str = "",
    conversation_history: list[dict[str, Any]] | None = None,
    list_result: bool = False,
    force_json_output: bool = False,
    retry: int = 3,
    prompt_values: dict[str, Any] | None = None,
    stream_pin: str | None = None,
) -> tuple[dict[str, Any] | list[dict[str, Any]] | str, list[Message]]:
    """AutoGPT's structured-response loop: ask, check the JSON, give feedback and retry.

    Returns the answer (the JSON value, or the plain text when ``expected_format`` is empty) and the
    messages sent.
    """
    values = prompt_values or {}
    prompt = await render_prompt(prompt, values, "prompt")
    sys_prompt = await render_prompt(sys_prompt, values, "sys_prompt")
    messages: list[Message] = [dict(m) for m in conversation_history or []]
    if sys_prompt:
        messages.append({"role": "system", "content": sys_prompt})
    tag = secrets.token_hex(8)
    options: dict[str, Any] = {}
    if expected_format:
        messages.append(
            {
                "role": "system",
                "content": format_instructions(
                    expected_format, list_result=list_result, force_json=force_json_output, tag=tag
                ),
            }
        )
        if force_json_output:
            options["json_schema"] = json_schema_for(expected_format, list_result=list_result)
    if prompt:
        messages.append({"role": "user", "content": prompt})
    attempts = max(1, retry)
    problem = ""
    for _ in range(attempts):
        response = await block.llm_call(
            context,
            input_data,
            messages,
            stream_pin=None if expected_format else stream_pin,
            **options,
        )
        if not expected_format:
            return response.text, messages
        try:
            return (
                parse_answer(
                    response.text,
                    expected_format,
                    list_result=list_result,
                    force_json=force_json_output,
                    tag=tag,
                ),
                messages,
            )
        except ValueError as exc:
            problem = str(exc)
            messages = [
                *messages,
                {"role": "assistant", "content": response.text},
                {
                    "role": "user",
                    "content": f"Your answer was invalid: {problem}. Answer again in the exact format asked for.",
                },
            ]
    raise BlockError(f"the model gave no valid answer after {attempts} attempt(s): {problem}")


# ---- the blocks --------------------------------------------------------------------------------


class AIStructuredResponseGeneratorBlock(LLMBlock):
    """Asks a model for a JSON answer with the given keys, checking and retrying until it fits."""

    id = "ed55ac19-356e-4243-a6cb-bc599e9b716f"
    description = "Call a large language model and get a JSON answer with the keys you describe."
    categories = (BlockCategory.AI,)

    class Input(LLMInput):
        prompt: str = Field(description="The prompt; {{ name }} placeholders take prompt_values.")
        expected_format: dict[str, str] = Field(
            description="Keys the answer must have, each with a description; {} asks for free text."
        )
        list_result: bool = Field(default=False, description="Answer with a list of such objects.")
        force_json_output: bool = Field(
            default=False, description="Ask for pure JSON (the provider's JSON-schema mode) instead of tags."
        )
        sys_prompt: str = Field(default="", title="System Prompt", description="The system prompt.")
        conversation_history: list[dict[str, Any]] | None = Field(
            default_factory=list, description="Earlier messages of the conversation."
        )
        retry: int = Field(default=3, title="Retry Count", description="Attempts before giving up.")
        prompt_values: dict[str, Any] = Field(default_factory=dict, description="Values of the placeholders.")
        compress_prompt_to_fit: bool = Field(default=True, description="Kept for AutoGPT compatibility.")

    class Output(BlockSchema):
        response: dict[str, Any] | list[dict[str, Any]] = Field(description="The answer.")
        prompt: list = Field(description="The messages sent.")

    test_input = {"prompt": "Who wrote Hamlet?", "expected_format": {"author": "the author's name"}}
    test_output = [("response", {"author": "Shakespeare"}), ("prompt", list)]
    test_mock = {
        "llm_call": lambda _ctx, _inp, messages, **_kw: _mock_response(
            '<json_output id="'
            + re.search(r'id="([0-9a-f]+)"', messages[-2]["content"]).group(1)
            + '">{"author": "Shakespeare"}</json_output>'
        )
    }

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        ctx = get_context(kwargs)
        answer, messages = await structured_response(
            self,
            ctx,
            input_data,
            prompt=input_data.prompt,
            expected_format=input_data.expected_format,
            sys_prompt=input_data.sys_prompt,
            conversation_history=input_data.conversation_history,
            list_result=input_data.list_result,
            force_json_output=input_data.force_json_output,
            retry=input_data.retry,
            prompt_values=input_data.prompt_values,
            stream_pin="response",
        )
        yield "response", answer if input_data.expected_format else {"response": answer}
        yield "prompt", messages


class AITextGeneratorBlock(LLMBlock):
    """Asks a model for a text answer (streamed to watchers as it is written)."""

    id = "1f292d4a-41a4-4977-9684-7c8d560b9f91"
    description = "Call a large language model and get its text answer."
    categories = (BlockCategory.AI,)

    class Input(LLMInput):
        prompt: str = Field(description="The prompt; {{ name }} placeholders take prompt_values.")
        sys_prompt: str = Field(default="", title="System Prompt", description="The system prompt.")
        retry: int = Field(default=3, title="Retry Count", description="Attempts before giving up.")
        prompt_values: dict[str, Any] = Field(default_factory=dict, description="Values of the placeholders.")

    class Output(BlockSchema):
        response: str = Field(description="The model's answer.")
        prompt: list = Field(description="The messages sent.")

    test_input = {"prompt": "Say {{ word }}.", "prompt_values": {"word": "hello"}}
    test_output = [("response", "hello"), ("prompt", [{"role": "user", "content": "Say hello."}])]
    test_mock = {"llm_call": lambda *_a, **_kw: _mock_response("hello")}

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        ctx = get_context(kwargs)
        answer, messages = await structured_response(
            self,
            ctx,
            input_data,
            prompt=input_data.prompt,
            expected_format={},
            sys_prompt=input_data.sys_prompt,
            retry=input_data.retry,
            prompt_values=input_data.prompt_values,
            stream_pin="response",
        )
        yield "response", answer
        yield "prompt", messages


class AIConversationBlock(LLMBlock):
    """Continues a conversation: the model answers the messages (and a final prompt, if given)."""

    id = "32a87eab-381e-4dd4-bdb8-4c47151be35a"
    description = "Send a conversation to a large language model and get its next message."
    categories = (BlockCategory.AI,)

    class Input(LLMInput):
        prompt: str = Field(default="", description="A last user message to add (optional).")
        messages: list[Any] = Field(description="The conversation: {role, content} messages.")

    class Output(BlockSchema):
        response: str = Field(description="The model's answer.")
        prompt: list = Field(description="The messages sent.")

    test_input = {"messages": [{"role": "user", "content": "Hi"}], "prompt": "How are you?"}
    test_output = [
        ("response", "Fine."),
        ("prompt", [{"role": "user", "content": "Hi"}, {"role": "user", "content": "How are you?"}]),
    ]
    test_mock = {"llm_call": lambda *_a, **_kw: _mock_response("Fine.")}

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        ctx = get_context(kwargs)
        history = []
        for i, message in enumerate(input_data.messages):
            if not isinstance(message, dict) or "role" not in message:
                raise BlockError(f"pin 'messages': item {i} must be an object with 'role' and 'content'")
            history.append(message)
        answer, messages = await structured_response(
            self,
            ctx,
            input_data,
            prompt=input_data.prompt,
            expected_format={},
            conversation_history=history,
            stream_pin="response",
        )
        yield "response", answer
        yield "prompt", messages


class AIListGeneratorBlock(LLMBlock):
    """Asks a model for a list of strings, then yields it whole and item by item."""

    id = "9c0b0450-d199-458b-a731-072189dd6593"
    description = "Generate a list of items with a large language model, from a focus and/or source data."
    categories = (BlockCategory.AI, BlockCategory.TEXT)

    class Input(LLMInput):
        focus: str | None = Field(default=None, description="What the list is about.")
        source_data: str | None = Field(default=None, description="Text to draw the list from.")
        max_retries: int = Field(default=3, description="Attempts before giving up.")
        force_json_output: bool = Field(default=False, description="Ask for pure JSON instead of tags.")

    class Output(BlockSchema):
        generated_list: list[str] = Field(description="The whole list.")
        list_item: str = Field(description="Each item, one at a time.")
        prompt: list = Field(description="The messages sent.")

    test_input = {"focus": "primary colours"}
    test_output = [
        ("generated_list", ["red", "yellow", "blue"]),
        ("prompt", list),
        ("list_item", "red"),
        ("list_item", "yellow"),
        ("list_item", "blue"),
    ]
    test_mock = {
        "llm_call": lambda _ctx, _inp, messages, **_kw: _mock_response(
            '<json_output id="'
            + re.search(r'id="([0-9a-f]+)"', messages[-2]["content"]).group(1)
            + '">{"list": ["red", "yellow", "blue"]}</json_output>'
        )
    }

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        ctx = get_context(kwargs)
        parts = ["Generate a list of short text items."]
        if input_data.focus:
            parts.append(f"The list is about:\n<focus>\n{input_data.focus}\n</focus>")
        if input_data.source_data:
            parts.append(
                f"Take the items from this data:\n<source_data>\n{input_data.source_data}\n</source_data>"
            )
        if not input_data.focus and not input_data.source_data:
            parts.append("Choose any topic.")
        expected = {"list": "a JSON array of strings, the items of the list"}
        if input_data.force_json_output:
            expected = {"reasoning": "how you chose the items", **expected}
        answer, messages = await structured_response(
            self,
            ctx,
            input_data,
            prompt="\n\n".join(parts),
            expected_format=expected,
            sys_prompt="You are a helpful assistant that writes lists.",
            force_json_output=input_data.force_json_output,
            retry=input_data.max_retries,
        )
        items = answer.get("list") if isinstance(answer, dict) else None
        if not isinstance(items, list):
            raise BlockError(f"the model's 'list' is not a list: {items!r}")
        items = [i if isinstance(i, str) else jsonutil.dumps(i) for i in items]
        yield "generated_list", items
        yield "prompt", messages
        for item in items:
            yield "list_item", item


SummaryStyle = Literal["concise", "detailed", "bullet points", "numbered list"]
MAX_SUMMARY_CHUNKS = 100
MAX_SUMMARY_TEXT = 1_000_000


class AITextSummarizerBlock(LLMBlock):
    """Summarises a text of any length: chunk by chunk, then the summaries into one."""

    id = "a0a69be1-4528-491c-a85a-a4ab6873e3f0"
    description = "Summarise a long text with a large language model."
    categories = (BlockCategory.AI, BlockCategory.TEXT)

    class Input(LLMInput):
        text: str = Field(description="The text to summarise.")
        focus: str = Field(default="general information", description="What the summary should focus on.")
        style: SummaryStyle = Field(default="concise", description="How the summary is written.")
        max_tokens: int = Field(default=4096, description="Words per chunk (and the answer length limit).")
        chunk_overlap: int = Field(default=100, description="Words shared by neighbouring chunks.")

    class Output(BlockSchema):
        summary: str = Field(description="The summary.")
        prompt: list = Field(description="The messages of the last call.")

    test_input = {"text": "A long story about a fox.", "max_tokens": 50, "chunk_overlap": 5}
    test_output = [("summary", "A fox story."), ("prompt", list)]
    test_mock = {
        "llm_call": lambda _ctx, _inp, messages, **_kw: _mock_response(
            '<json_output id="'
            + re.search(r'id="([0-9a-f]+)"', messages[-2]["content"]).group(1)
            + '">{"summary": "A fox story.", "final_summary": "A fox story."}</json_output>'
        )
    }

    def _chunks(self, text: str, size: int, overlap: int) -> list[str]:
        words = text[:MAX_SUMMARY_TEXT].split()
        step = max(1, size - max(0, overlap))
        chunks = []
        for start in range(0, max(len(words), 1), step):
            chunks.append(" ".join(words[start : start + size]))
            if start + size >= len(words) or len(chunks) == MAX_SUMMARY_CHUNKS:
                break
        return chunks

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        ctx = get_context(kwargs)
        if input_data.max_tokens < 1:
            raise BlockError("pin 'max_tokens': must be at least 1")
        text = input_data.text
        messages: list[Message] = []
        while True:
            summaries = []
            for chunk in self._chunks(text, input_data.max_tokens, input_data.chunk_overlap):
                answer, messages = await structured_response(
                    self,
                    ctx,
                    input_data,
                    prompt=f"Summarise this text in a {input_data.style} style, focusing on "
                    f"{input_data.focus}:\n\n```\n{chunk}\n```",
                    expected_format={"summary": "the summary of the text"},
                )
                summaries.append(str(answer["summary"]))  # type: ignore[index,call-overload]
            combined = "\n\n".join(summaries)
            if len(combined.split()) <= input_data.max_tokens:
                break
            text = combined
        answer, messages = await structured_response(
            self,
            ctx,
            input_data,
            prompt=f"Combine these summaries into one {input_data.style} summary, focusing on "
            f"{input_data.focus}:\n\n```\n{combined}\n```",
            expected_format={"final_summary": "the combined summary"},
        )
        yield "summary", str(answer["final_summary"])  # type: ignore[index,call-overload]
        yield "prompt", messages


class AIImageGenerationBlock(Block):
    """Generates images from a prompt through an OpenAI-compatible ``/images/generations`` endpoint."""

    id = "8526f7b6-ddba-43ed-a046-3e140fdd78cc"
    description = (
        "Generate an image from a text prompt (OpenAI-compatible image API: DALL·E, gpt-image, local)."
    )
    categories = (BlockCategory.AI, BlockCategory.MULTIMEDIA)

    class Input(BlockSchema):
        prompt: str = Field(description="What the image shows.")
        model: str = Field(default="dall-e-3", description="The image model id.")
        size: str = Field(default="1024x1024", description="Width x height in pixels, as the model allows.")
        quality: str | None = Field(default=None, description="'standard' or 'hd' (DALL·E 3), if given.")
        style: str | None = Field(default=None, description="'vivid' or 'natural' (DALL·E 3), if given.")
        credentials: Any = Field(default=None, description=CREDENTIALS_HELP)

    class Output(BlockSchema):
        image_url: str = Field(description="The (first) image: a URL or a data: URL.")
        images: list[str] = Field(description="Every image generated.")
        revised_prompt: str = Field(description="The prompt as the model rewrote it (or the prompt).")

    test_input = {"prompt": "a red fox"}
    test_output = [
        ("image_url", "https://images.example/fox.png"),
        ("images", ["https://images.example/fox.png"]),
        ("revised_prompt", "a red fox"),
    ]
    test_mock = {"generate": lambda _ctx, _inp: (["https://images.example/fox.png"], None)}

    async def generate(self, context: RunContext, input_data: Input) -> tuple[list[str], str | None]:
        """Call the image API; record the cost; return the images and the revised prompt."""
        from workbench.llm import generate_image, resolve_config

        config = await resolve_config(context, input_data.credentials, model=None)
        result = await generate_image(
            input_data.prompt,
            config=config,
            model=input_data.model,
            size=input_data.size,
            quality=input_data.quality,
            style=input_data.style,
        )
        context.add_stats(cost_usd=result.cost_usd, images=len(result.images))
        return result.images, result.revised_prompt

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        ctx = get_context(kwargs)
        images, revised = await self.generate(ctx, input_data)
        yield "image_url", images[0]
        yield "images", images
        yield "revised_prompt", revised or input_data.prompt
