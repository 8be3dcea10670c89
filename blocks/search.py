"""Web search: AutoGPT's ``SearchTheWebBlock``, through Jina Search or a SearXNG instance.

Which search engine answers, first match wins:

1. the credential the node names (its ``credentials`` input, or the execution's choice): a ``jina``
   credential searches with Jina (at its ``base_url``, else ``WORKBENCH_JINA_SEARCH_URL``, else
   s.jina.ai), a ``searxng`` credential queries the SearXNG instance at its ``base_url``;
2. the user's only ``jina`` credential, else their only ``searxng`` credential;
3. ``WORKBENCH_SEARXNG_URL``: the operator's SearXNG instance, no key needed;
4. ``WORKBENCH_JINA_SEARCH_URL``: the operator's Jina-compatible search, keyless.

Otherwise the node fails with a CredentialsError saying how to set one up. Both engines' results
come out in Jina Search's text form (``[1] Title: ...``, ``[1] URL Source: ...``...), so a graph
works the same with either.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from blocks import _jina, _searxng
from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema
from workbench.block.base import get_context
from workbench.block.context import RunContext
from workbench.errors import CredentialsError

HOW_TO_CONFIGURE = (
    "web search is not configured: add a 'jina' credential (a Jina API key) or a 'searxng' credential "
    "(the base_url of a SearXNG instance), or have the operator set WORKBENCH_SEARXNG_URL"
)


class SearchTheWebBlock(Block):
    """Searches the web and outputs the top results with their content."""

    id = "87840993-2053-44b7-8da4-187ad4ee518c"
    name = "SearchTheWebBlock"
    description = (
        "Searches the web for a query and outputs the top results as text: title, URL, description "
        "and, with Jina Search, the content of each page. Uses your 'jina' credential (Jina Search) "
        "or 'searxng' credential (your SearXNG instance), or the server's SearXNG instance."
    )
    categories = (BlockCategory.SEARCH,)
    max_retries = 2
    retry_backoff = 2.0

    class Input(BlockSchema):
        credentials: Any = Field(
            default=None,
            description="A 'jina' credential (API key) or a 'searxng' credential (instance URL), as "
            "{id, provider} or an id; empty: yours, or the server's search engine.",
        )
        query: str = Field(description="The search query to search the web for.")

    class Output(BlockSchema):
        results: str = Field(description="The search results including content from the top URLs.")

    test_input = {
        "credentials": {"id": "01234567-89ab-cdef-0123-456789abcdef", "provider": "jina", "type": "api_key"},
        "query": "Artificial Intelligence",
    }
    test_output = [("results", "search content")]
    test_mock = {"_search": lambda context, credentials, query: "search content"}

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        yield "results", await self._search(get_context(kwargs), input_data.credentials, input_data.query)

    async def _search(self, context: RunContext, credentials: Any, query: str) -> str:
        """The rendered results from the engine the module docstring's order picks."""
        found = await _jina.chosen_credential(context, credentials, (_jina.PROVIDER, _searxng.PROVIDER))
        if found is not None:
            provider, cred = found
            if provider == _searxng.PROVIDER:
                results = await _searxng.search(_searxng.access(context, cred), query)
            else:
                results = await _jina.search(_jina.access(context, cred, reader=False), query)
        elif context.settings.searxng_url:
            results = await _searxng.search(_searxng.access(context, None), query)
        elif context.settings.jina_search_url:
            results = await _jina.search(_jina.access(context, None, reader=False), query)
        else:
            raise CredentialsError(HOW_TO_CONFIGURE)
        return _jina.render_results(results)
