"""A small client of Replicate's predictions API, shared by the Replicate blocks.

One model run is a *prediction*: ``POST /v1/models/{owner}/{name}/predictions`` (official models,
named ``owner/name``) or ``POST /v1/predictions`` with a ``version`` (``owner/name:<version id>``),
``Authorization: Bearer <token>``, body ``{"input": {...}}``. The answer is the prediction object
(``id``, ``status``, ``output``, ``error``, ``urls.get``, ``urls.cancel``); it goes ``starting`` ->
``processing`` -> ``succeeded`` | ``failed`` | ``canceled``, and we poll ``urls.get`` with a growing
interval (:class:`PollPolicy`) until it ends, within a time limit (``WORKBENCH_REPLICATE_TIMEOUT``)
after which the prediction is canceled. ``Prefer: wait=N`` (sync mode: the server holds the request
up to N seconds) is sent when asked for.

Errors: see :mod:`blocks._vendor_http`; besides, a failed prediction is a BlockError with Replicate's
error text, a canceled one a BlockError, and one that outlives the time limit a RetryableError. While
polling, a rate limit or a server error is waited out (the prediction is already paid for), not raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from blocks._vendor_http import (
    VendorAccess,
    keep_media,
    media_type,
    request,
    status_error,
    unreachable,
    vendor_access,
)
from workbench.block import Block, BlockCategory, BlockOutput
from workbench.block.base import get_context
from workbench.block.context import RunContext
from workbench.errors import BlockError, RetryableError

if TYPE_CHECKING:
    from workbench.net import HttpResult, SafeClient

REPLICATE_API = "https://api.replicate.com"
PROVIDER = "replicate"
VENDOR = "Replicate"
ENDED = frozenset({"succeeded", "failed", "canceled", "aborted"})
"""Statuses after which a prediction changes no more."""
MAX_WAIT = 60
"""The longest ``Prefer: wait`` Replicate accepts, in seconds."""
CANCEL_GRACE = 3.0
"""Seconds given to canceling a prediction when the node itself is being canceled."""

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How often to ask about a running prediction: ``first`` seconds, then ``factor`` times longer
    each time, never more than ``cap``."""

    first: float = 0.5
    factor: float = 1.5
    cap: float = 5.0

    def delays(self) -> Iterator[float]:
        """The waits between polls, without end."""
        delay = self.first
        while True:
            yield delay
            delay = min(self.cap, delay * self.factor)


@dataclass(slots=True)
class Prediction:
    """A prediction as Replicate last described it."""

    id: str
    status: str
    output: Any = None
    error: str | None = None
    urls: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, body: Any) -> Prediction:
        """Read the prediction object; BlockError when the answer is not one."""
        if not isinstance(body, dict) or not body.get("id") or not body.get("status"):
            raise BlockError(f"{VENDOR} answered with something that is not a prediction: {str(body)[:200]}")
        urls = body.get("urls") if isinstance(body.get("urls"), dict) else {}
        error = body.get("error")
        return cls(
            id=str(body["id"]),
            status=str(body["status"]),
            output=body.get("output"),
            error=str(error) if error else None,
            urls={k: str(v) for k, v in urls.items() if v},
        )


def output_urls(output: Any) -> list[str]:
    """The file URLs (or data: URIs) of a prediction's output: a string, a list of them, or a mapping."""
    if isinstance(output, str):
        items: list[Any] = [output]
    elif isinstance(output, list):
        items = output
    elif isinstance(output, dict):
        items = list(output.values())
    else:
        items = []
    return [i for i in items if isinstance(i, str) and i.startswith(("http://", "https://", "data:"))]


def first_output(prediction: Prediction, model: str) -> str:
    """The first file URL (or data: URI) a succeeded prediction produced; BlockError when none."""
    urls = output_urls(prediction.output)
    if not urls:
        raise BlockError(
            f"{VENDOR} prediction {prediction.id} of {model} produced no file: {str(prediction.output)[:200]}"
        )
    return urls[0]


class ReplicateApi:
    """Runs predictions for one run's ``replicate`` credential."""

    def __init__(self, access: VendorAccess, poll: PollPolicy | None = None) -> None:
        self.access = access
        self.poll = poll or PollPolicy()

    @property
    def headers(self) -> dict[str, str]:
        """What every request carries (the token, as Replicate's clients send it)."""
        return {"Authorization": f"Bearer {self.access.api_key}", "User-Agent": "agent-workbench"}

    async def run(self, model: str, model_input: dict[str, Any], *, wait: int | None = None) -> Prediction:
        """Create a prediction of ``model`` (``owner/name`` or ``owner/name:version``) and wait for it.

        Returns the succeeded prediction; raises for any other end (see the module docstring).
        """
        context = self.access.context
        limit = context.settings.replicate_timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        async with self.access.client(self.headers) as http:
            prediction = await self._create(http, model, model_input, wait, context)
            delays = self.poll.delays()
            try:
                while prediction.status not in ENDED:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        await self._cancel(http, prediction)
                        raise RetryableError(
                            f"{VENDOR} prediction {prediction.id} of {model} did not finish within "
                            f"{limit:g} s (status {prediction.status!r}; WORKBENCH_REPLICATE_TIMEOUT); "
                            "it was canceled"
                        )
                    await asyncio.sleep(min(next(delays), remaining))
                    prediction = await self._poll(http, prediction, deadline)
            except asyncio.CancelledError:  # the node was stopped or timed out: stop paying for it
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    async with asyncio.timeout(CANCEL_GRACE):
                        await self._cancel(http, prediction)
                raise
        return _succeeded(prediction, model)

    async def _create(
        self,
        http: SafeClient,
        model: str,
        model_input: dict[str, Any],
        wait: int | None,
        context: RunContext,
    ) -> Prediction:
        name, _, version = model.partition(":")
        if version:
            url = f"{self.access.base_url}/v1/predictions"
            body: dict[str, Any] = {"version": version, "input": model_input}
        else:
            owner, _, short = name.partition("/")
            if not owner or not short:
                raise BlockError(f"{VENDOR} model {model!r} must be 'owner/name' or 'owner/name:version'")
            url = f"{self.access.base_url}/v1/models/{quote(owner, safe='')}/{quote(short, safe='')}/predictions"
            body = {"input": model_input}
        headers: dict[str, str] = {}
        if wait:
            ceiling = max(1, min(MAX_WAIT, int(context.settings.http_timeout) - 1))
            headers["Prefer"] = f"wait={max(1, min(wait, ceiling))}"
        what = f"creating a prediction of {model}"
        result = await request(
            self.access,
            http,
            "POST",
            url,
            what,
            json=body,
            headers=headers,
            idempotency_key=context.idempotency_key,
        )
        return Prediction.from_json(_json(result))

    def _url(self, prediction: Prediction, kind: str) -> str:
        """``urls.get`` / ``urls.cancel`` when on the API's own host, else the documented path."""
        given = prediction.urls.get(kind)
        if given and self.access.same_origin(given):
            return given
        path = f"/v1/predictions/{quote(prediction.id, safe='')}"
        return self.access.base_url + (path if kind == "get" else f"{path}/cancel")

    async def _poll(self, http: SafeClient, prediction: Prediction, deadline: float) -> Prediction:
        """The prediction's new state; a transient failure keeps the old one (after any Retry-After)."""
        what = f"polling prediction {prediction.id}"
        try:
            result = await http.request("GET", self._url(prediction, "get"))
        except BlockError as exc:
            error = unreachable(self.access, exc, what)
            if not isinstance(error, RetryableError):
                raise error from exc
            log.info("%s; polling again", error)
            return prediction
        if result.status_code < 300:
            return Prediction.from_json(_json(result))
        error = status_error(self.access, result, what)
        if not isinstance(error, RetryableError):
            raise error
        log.info("%s; polling again", error)
        pause = _retry_after(result)
        if pause:
            remaining = deadline - asyncio.get_running_loop().time()
            await asyncio.sleep(max(0.0, min(pause, remaining)))
        return prediction

    async def _cancel(self, http: SafeClient, prediction: Prediction) -> None:
        """Ask Replicate to stop the prediction (it costs while it runs); failures are only logged."""
        try:
            result = await http.request("POST", self._url(prediction, "cancel"))
            if result.status_code >= 300:
                log.warning("canceling %s prediction %s: %s", VENDOR, prediction.id, result.status_code)
        except BlockError as exc:
            log.warning("canceling %s prediction %s failed: %s", VENDOR, prediction.id, exc)


def _succeeded(prediction: Prediction, model: str) -> Prediction:
    if prediction.status == "succeeded":
        return prediction
    if prediction.status == "failed":
        raise BlockError(
            f"{VENDOR} prediction {prediction.id} of {model} failed: {prediction.error or 'no reason given'}"
        )
    raise BlockError(f"{VENDOR} prediction {prediction.id} of {model} was {prediction.status}")


def _json(result: HttpResult) -> Any:
    try:
        return result.json()
    except BlockError as exc:
        raise BlockError(f"{VENDOR} answered {result.status_code} with a body that is not JSON") from exc


def _retry_after(result: HttpResult) -> float | None:
    raw = result.headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None


async def replicate_api(
    context: RunContext, credentials: Any, poll: PollPolicy | None = None
) -> ReplicateApi:
    """A :class:`ReplicateApi` with the run's ``replicate`` credential and API root."""
    access = await vendor_access(
        context,
        credentials,
        vendor=VENDOR,
        provider=PROVIDER,
        setting=context.settings.replicate_base_url,
        default=REPLICATE_API,
    )
    return ReplicateApi(access, poll)


class ReplicateMediaBlock(Block):
    """What a block that runs one Replicate model and keeps the file it makes shares: a subclass says
    what to run (:meth:`prediction`) and how the kept file is named and typed.

    It yields ``result``, the output's URL (Replicate's, which expires; a data: URI is no URL worth
    passing on, so the stored copy stands in for it), and ``file``, the ``workspace://`` copy.
    """

    categories = (BlockCategory.AI, BlockCategory.MULTIMEDIA)
    max_retries = 2
    poll: ClassVar[PollPolicy] = PollPolicy()
    """How often the running prediction is polled."""
    file_stem: ClassVar[str] = "output"
    """The kept file's name before the extension, when the output's URL gives none."""
    default_type: ClassVar[str] = "application/octet-stream"
    """The kept file's media type when its format is none of :data:`~blocks._vendor_http.MEDIA_TYPES`."""

    def prediction(self, input_data: Any) -> tuple[str, dict[str, Any], str]:
        """The model to run (``owner/name`` or ``owner/name:version``), its input and the output's
        file format."""
        raise NotImplementedError(f"block {self.name} does not say what to run")

    async def connect(self, context: RunContext, credentials: Any) -> ReplicateApi:
        """The Replicate API for the run's credential."""
        return await replicate_api(context, credentials, self.poll)

    async def run_model(self, api: ReplicateApi, model: str, model_input: dict[str, Any]) -> str:
        """Run the prediction; the first output file's URL (or data: URI)."""
        prediction = await api.run(model, model_input)
        return first_output(prediction, model)

    async def keep_file(self, api: ReplicateApi, url: str, file_format: str) -> str:
        """Keep the output file in the file store; its workspace:// reference."""
        return await keep_media(
            api.access,
            url,
            fallback=f"{self.file_stem}.{file_format}",
            content_type=media_type(file_format, self.default_type),
            headers=api.headers,
        )

    async def run(self, input_data: Any, **kwargs: Any) -> BlockOutput:
        context = get_context(kwargs)
        model, model_input, file_format = self.prediction(input_data)
        api = await self.connect(context, input_data.credentials)
        url = await self.run_model(api, model, model_input)
        ref = await self.keep_file(api, url, file_format)
        yield "result", url if url.startswith(("http://", "https://")) else ref
        yield "file", ref
