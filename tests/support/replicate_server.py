"""A local lookalike of Replicate's predictions API, for the Replicate block tests.

Real HTTP on 127.0.0.1 (Litestar under uvicorn in a thread; see :mod:`tests.support.lookalike`):

* ``POST /v1/models/{owner}/{name}/predictions`` (official models) and ``POST /v1/predictions`` (with a
  ``version``): ``Authorization: Bearer <token>`` of a known token, else 401 as Replicate answers
  (``{"title", "detail", "status"}``); the ``input`` is checked against the model's schema (unknown
  model 404, unknown version or bad input 422 with ``invalid_fields``); 201 with the prediction
  (``status: starting``, ``urls.get``, ``urls.cancel``). With ``Prefer: wait=N`` it answers the
  finished prediction at once (sync mode).
* ``GET /v1/predictions/{id}``: each poll moves the prediction on: ``starting`` -> ``processing`` ->
  ``succeeded`` (after :attr:`polls_to_finish` polls) with ``output`` the URL(s) of a file this server
  serves (a tiny PNG, or WAV for MusicGen), at ``GET /files/{id}/output.<ext>``; or ``failed`` with
  an ``error`` when told so (:meth:`fail_predictions`); or never, when :attr:`stall` is set.
* ``POST /v1/predictions/{id}/cancel``.

Scripted error answers (:meth:`LookalikeServer.fail_next`, e.g. ``throttled()``) and a log of every
request (:attr:`requests`) are for the tests' assertions.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from litestar import Litestar, Request, Response, get, post

from tests.support.lookalike import Failure, LookalikeServer, json_response, read_json, tiny_png, tiny_wav

MUSICGEN_VERSION = "671ac645ce5e552cc63a54a2bbff63fcf798043055d2dac5fc9e36a837eedcfb"
PNG = tiny_png(2, 2, (0, 128, 255))
WAV = tiny_wav()

Check = Callable[[Any], bool]


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _one_of(*allowed: Any) -> Check:
    return lambda v: v in allowed


def _text(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


@dataclass(frozen=True)
class Model:
    """A model: its input schema (field -> check), required fields, output kind and shape."""

    name: str
    schema: dict[str, Check]
    required: frozenset[str] = frozenset({"prompt"})
    kind: str = "png"
    as_list: bool = False
    """Whether ``output`` is a list of URLs (flux-schnell) rather than one URL."""


_ASPECTS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21")
_FLUX = {
    "prompt": _text,
    "seed": _int,
    "aspect_ratio": _one_of(*_ASPECTS),
    "output_format": _one_of("webp", "jpg", "png"),
    "output_quality": lambda v: _int(v) and 0 <= v <= 100,
}
_FLUX_PRO = {
    **_FLUX,
    "steps": lambda v: _int(v) and 1 <= v <= 50,
    "guidance": lambda v: _number(v) and 2 <= v <= 5,
    "interval": lambda v: _number(v) and 1 <= v <= 4,
    "safety_tolerance": lambda v: _int(v) and 1 <= v <= 6,
}
MODELS = {
    m.name: m
    for m in (
        # flux-schnell takes fewer inputs; like Replicate, it ignores the others
        Model("black-forest-labs/flux-schnell", _FLUX, as_list=True),
        Model("black-forest-labs/flux-pro", _FLUX_PRO),
        Model("black-forest-labs/flux-1.1-pro", _FLUX_PRO),
        Model(
            "meta/musicgen",
            {
                "prompt": _text,
                "music_gen_model_version": _one_of(
                    "stereo-large", "melody-large", "large", "stereo-melody-large"
                ),
                "duration": lambda v: _int(v) and 1 <= v <= 300,
                "temperature": _number,
                "top_k": _int,
                "top_p": _number,
                "classifier_free_guidance": _int,
                "output_format": _one_of("wav", "mp3"),
                "normalization_strategy": _one_of("loudness", "clip", "peak", "rms"),
            },
            kind="wav",
        ),
    )
}
OFFICIAL = frozenset(
    {"black-forest-labs/flux-schnell", "black-forest-labs/flux-pro", "black-forest-labs/flux-1.1-pro"}
)
VERSIONS = {MUSICGEN_VERSION: "meta/musicgen"}


def problem(status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    """Replicate's error body."""
    return {"title": title, "detail": detail, "status": status, **extra}


def throttled(retry_after: float = 1, match: str = "") -> Failure:
    """Replicate's 429 answer."""
    detail = f"Request was throttled. Expected available in {retry_after:g} second."
    return Failure(429, problem(429, "Request was throttled", detail), retry_after, match)


def server_error(status: int = 500, match: str = "") -> Failure:
    """A 5xx answer."""
    return Failure(status, problem(status, "Internal Server Error", "Internal server error"), None, match)


@dataclass
class Prediction:
    """A prediction in memory."""

    id: str
    token: str
    model: Model
    version: str
    input: dict[str, Any]
    status: str = "starting"
    polls: int = 0
    output: Any = None
    error: str | None = None
    fail_with: str | None = None
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


@dataclass
class ReplicateServer(LookalikeServer):
    """The fake Replicate; :meth:`start` it and point credentials' ``base_url`` at :attr:`url`."""

    tokens: set[str] = field(default_factory=set)
    predictions: dict[str, Prediction] = field(default_factory=dict)
    polls_to_finish: int = 2
    """GETs until a prediction ends (the first moves it to ``processing``)."""
    stall: bool = False
    """When set, predictions stay ``processing`` forever."""
    files_url: str = ""
    """Where output URLs point (another server, like Replicate's delivery host); "" for this one."""
    links_url: str = ""
    """Where ``urls.get`` / ``urls.cancel`` point; "" for this server."""
    _fail_predictions: list[str] = field(default_factory=list)

    def add_token(self) -> str:
        """A new valid API token."""
        token = "r8_" + secrets.token_hex(16)
        self.tokens.add(token)
        return token

    def reset(self) -> None:
        """Forget predictions, scripted failures and recorded requests."""
        super().reset()
        self.predictions.clear()
        self._fail_predictions.clear()

    def fail_predictions(self, error: str, times: int = 1) -> None:
        """The next ``times`` predictions created end ``failed`` with ``error``."""
        self._fail_predictions.extend([error] * times)

    def file(self, path: str) -> bytes | None:
        """The bytes served at ``path`` (``/files/<id>/output.<ext>``), or None."""
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "files" or parts[1] not in self.predictions:
            return None
        return WAV if parts[2].endswith((".wav", ".mp3")) else PNG

    # ---- protocol -----------------------------------------------------------------------------

    def _json(self, p: Prediction) -> dict[str, Any]:
        base = f"{self.links_url or self.url}/v1/predictions/{p.id}"
        return {
            "id": p.id,
            "model": p.model.name,
            "version": p.version,
            "input": p.input,
            "logs": "",
            "output": p.output,
            "data_removed": False,
            "error": p.error,
            "status": p.status,
            "created_at": p.created_at,
            "urls": {"get": base, "cancel": f"{base}/cancel", "web": f"https://replicate.com/p/{p.id}"},
        }

    def _advance(self, p: Prediction, to_end: bool = False) -> None:
        if p.status not in ("starting", "processing"):
            return
        p.polls += 1
        if self.stall:
            p.status = "processing"
            return
        if not to_end and p.polls < self.polls_to_finish:
            p.status = "processing"
            return
        if p.fail_with is not None:
            p.status, p.error = "failed", p.fail_with
            return
        ext = p.input.get("output_format") or p.model.kind
        url = f"{self.files_url or self.url}/files/{p.id}/output.{ext}"
        p.status, p.output = "succeeded", [url] if p.model.as_list else url

    def _token(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        return token if scheme in ("Bearer", "Token") and token in self.tokens else None

    def _check_input(self, model: Model, body: Any) -> Response | None:
        if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
            return json_response(problem(422, "Invalid request", "- input: input is required"), 422)
        given = body["input"]
        invalid = [
            {"type": "required", "field": "input", "description": f"{name} is required"}
            for name in sorted(model.required - given.keys())
        ]
        invalid += [
            {"type": "invalid", "field": f"input.{name}", "description": f"{value!r} is not valid"}
            for name, value in given.items()
            if name in model.schema and not model.schema[name](value)
        ]
        if invalid:
            detail = "\n".join(f"- {i['field']}: {i['description']}" for i in invalid)
            return json_response(problem(422, "Input validation failed", detail, invalid_fields=invalid), 422)
        return None

    def _create(
        self, request: Request, token: str, model: Model, version: str, body: dict[str, Any]
    ) -> Response:
        p = Prediction(secrets.token_hex(13), token, model, version, body["input"])
        if self._fail_predictions:
            p.fail_with = self._fail_predictions.pop(0)
        self.predictions[p.id] = p
        wait = request.headers.get("prefer", "")
        if wait.startswith("wait"):
            self._advance(p, to_end=True)  # sync mode: the model "ran" while the request was held
        return json_response(self._json(p), 201)

    def app(self) -> Litestar:
        """The Litestar application."""
        server = self

        async def guard(request: Request, body: Any) -> tuple[str | None, Response | None]:
            server.record(request, body)
            token = server._token(request)
            if token is None:
                return None, json_response(
                    problem(401, "Unauthenticated", "You did not pass a valid authentication token"), 401
                )
            return token, server.scripted_failure(request)

        def not_found() -> Response:
            return json_response(problem(404, "Not found", "The requested resource could not be found."), 404)

        @post("/v1/models/{owner:str}/{name:str}/predictions")
        async def create_official(request: Request) -> Response:
            body = await read_json(request)
            token, failed = await guard(request, body)
            if failed is not None or token is None:
                return failed  # type: ignore[return-value]
            model = MODELS.get(f"{request.path_params['owner']}/{request.path_params['name']}")
            if model is None or model.name not in OFFICIAL:
                return not_found()
            if (bad := server._check_input(model, body)) is not None:
                return bad
            return server._create(request, token, model, "", body)

        @post("/v1/predictions")
        async def create_version(request: Request) -> Response:
            body = await read_json(request)
            token, failed = await guard(request, body)
            if failed is not None or token is None:
                return failed  # type: ignore[return-value]
            version = body.get("version") if isinstance(body, dict) else None
            model = MODELS.get(VERSIONS.get(str(version), ""))
            if model is None:
                detail = (
                    "The specified version does not exist (or perhaps you don't have permission to use it?)"
                )
                return json_response(problem(422, "Invalid version or not permitted", detail), 422)
            if (bad := server._check_input(model, body)) is not None:
                return bad
            return server._create(request, token, model, str(version), body)

        async def owned(request: Request) -> Prediction | Response:
            """The prediction of the path, if the caller's token created it; else the error answer."""
            token, failed = await guard(request, None)
            if failed is not None or token is None:
                return failed  # type: ignore[return-value]
            p = server.predictions.get(request.path_params["pid"])
            if p is None or p.token != token:
                return not_found()
            return p

        @get("/v1/predictions/{pid:str}")
        async def get_prediction(request: Request) -> Response:
            p = await owned(request)
            if isinstance(p, Response):
                return p
            server._advance(p)
            return json_response(server._json(p))

        @post("/v1/predictions/{pid:str}/cancel")
        async def cancel(request: Request) -> Response:
            p = await owned(request)
            if isinstance(p, Response):
                return p
            if p.status in ("starting", "processing"):
                p.status = "canceled"
            return json_response(server._json(p))

        @get("/files/{pid:str}/{name:str}")
        async def files(request: Request) -> Response:
            server.record(request, None)
            data = server.file(request.url.path)
            if data is None:
                return not_found()
            kind = "audio/wav" if data is WAV else "image/png"
            return Response(data, media_type=kind)

        return Litestar([create_official, create_version, get_prediction, cancel, files])


@contextmanager
def serve() -> Iterator[ReplicateServer]:
    """Run a :class:`ReplicateServer` for the duration of the block."""
    server = ReplicateServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
