"""``@block``: turn a typed (async) function into a block, so a notebook cell can define one.

Parameters become input pins (their annotations and defaults); the result becomes outputs:

- a plain return value goes to one output pin, ``result`` by default (``output="name"`` renames it);
- a returned ``TypedDict`` gives one pin per key, each emitted when present;
- an async generator yields values to the single output pin, or ``(pin, value)`` pairs when
  ``outputs={"pin": type, ...}`` declares several.

A parameter annotated :class:`~workbench.block.context.RunContext` (or named ``context``) receives
the run context instead of being a pin. Example::

    @block(categories=[BlockCategory.TEXT])
    async def shout(text: str, times: int = 1) -> str:
        "Upper-case a text, repeated."
        return text.upper() * times
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, get_type_hints, is_typeddict

from pydantic import Field, create_model

from workbench.block.base import Block, BlockCategory, BlockOutput, BlockSchema, BlockType, uuid_for
from workbench.block.context import RunContext


def _input_model(
    fn: Callable[..., Any], hints: dict[str, Any], name: str
) -> tuple[type[BlockSchema], str | None]:
    fields: dict[str, Any] = {}
    context_param = None
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(param.name, Any)
        if annotation is RunContext or param.name == "context":
            context_param = param.name
            continue
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, Field(default))
    model = create_model(f"{name}Input", __base__=BlockSchema, **fields)
    return model, context_param


def _output_model(
    hints: dict[str, Any], name: str, outputs: Mapping[str, Any] | None, output: str, is_gen: bool
) -> tuple[type[BlockSchema], bool]:
    """Return the Output model and whether results are a mapping of pins (TypedDict)."""
    if outputs:
        return create_model(
            f"{name}Output", __base__=BlockSchema, **{k: (v, ...) for k, v in outputs.items()}
        ), True
    ret = hints.get("return", Any)
    if is_gen:
        args = getattr(ret, "__args__", None)
        ret = args[0] if args else Any
    if is_typeddict(ret):
        item_hints = get_type_hints(ret)
        fields = {k: (v, ...) for k, v in item_hints.items()}
        return create_model(f"{name}Output", __base__=BlockSchema, **fields), True
    if ret is None or ret is type(None):
        ret = Any
    return create_model(f"{name}Output", __base__=BlockSchema, **{output: (ret, ...)}), False


def block(
    fn: Callable[..., Any] | None = None,
    *,
    id: str | None = None,
    name: str | None = None,
    description: str | None = None,
    categories: list[BlockCategory] | tuple[BlockCategory, ...] = (BlockCategory.BASIC,),
    outputs: Mapping[str, Any] | None = None,
    output: str = "result",
    static_output: bool = False,
    timeout: float | None = None,
    max_retries: int = 0,
    test_input: dict[str, Any] | list[dict[str, Any]] | None = None,
    test_output: list[tuple[str, Any]] | None = None,
    register: bool = True,
) -> Any:
    """Decorate a function to make it a Block class (usable at once in a graph)."""

    def wrap(func: Callable[..., Any]) -> type[Block]:
        block_name = name or func.__name__
        hints = get_type_hints(func)
        is_gen = inspect.isasyncgenfunction(func)
        is_async = inspect.iscoroutinefunction(func)
        if not (is_gen or is_async or callable(func)):
            raise TypeError("@block needs a function")
        input_model, context_param = _input_model(func, hints, block_name)
        output_model, mapped = _output_model(hints, block_name, outputs, output, is_gen)
        pins = list(output_model.model_fields)

        async def run(self: Block, input_data: Any, **kwargs: Any) -> BlockOutput:
            args = {k: getattr(input_data, k) for k in input_model.model_fields}
            if context_param is not None:
                args[context_param] = kwargs.get("context")
            if is_gen:
                async for item in func(**args):
                    if mapped and outputs:
                        yield item[0], item[1]
                    else:
                        yield pins[0], item
                return
            result = await func(**args) if is_async else func(**args)
            if inspect.isawaitable(result):
                result = await result
            if mapped:
                for key in pins:
                    if key in result:
                        yield key, result[key]
            else:
                yield pins[0], result

        attrs = {
            "id": id or uuid_for(f"{func.__module__}.{func.__qualname__}"),
            "name": block_name,
            "description": description or inspect.getdoc(func) or "",
            "categories": tuple(categories),
            "block_type": BlockType.STANDARD,
            "static_output": static_output,
            "Input": input_model,
            "Output": output_model,
            "timeout": timeout,
            "max_retries": max_retries,
            "test_input": test_input,
            "test_output": test_output,
            "run": run,
            "func": staticmethod(func),
            "__module__": func.__module__,
            "__doc__": inspect.getdoc(func),
        }
        cls = type(block_name, (Block,), attrs)
        if register:
            # Usable at once in local runs; re-running the defining cell replaces the old definition.
            from workbench.block.registry import register_local

            register_local(cls, f"{func.__module__}.{func.__qualname__}")
        return cls

    return wrap(fn) if fn is not None else wrap
