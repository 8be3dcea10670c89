"""A local lookalike of Ideogram's image API, for the Ideogram block tests.

Real HTTP on 127.0.0.1 (Litestar under uvicorn in a thread; see :mod:`tests.support.lookalike`):

* ``POST /generate`` (V_1, V_1_TURBO, V_2, V_2_TURBO): JSON ``{"image_request": {...}}``; ``prompt``
  required, ``model``, ``aspect_ratio`` (``ASPECT_16_9``), ``magic_prompt_option``, ``seed``,
  ``negative_prompt`` checked; ``style_type`` only for V_2 models, ``color_palette`` (a preset
  ``name`` or ``members`` of ``color_hex``) only for V_2 and V_2_TURBO; unknown fields are refused.
* ``POST /v1/ideogram-v3/generate``: JSON (or form) with ``prompt``, ``aspect_ratio`` (``16x9``),
  ``magic_prompt``, ``style_type``, ``seed``, ``negative_prompt``, ``rendering_speed``.
* ``POST /upscale``: multipart with ``image_request`` (JSON text) and ``image_file`` (a PNG).

Every call needs ``Api-Key`` with a known key (else 401); bad bodies get 400/422 with ``detail``. The
answer is ``{"created", "data": [{"url", "prompt", "resolution", "is_image_safe", "seed", "style_type"}]}``
where ``url`` is ``/api/images/ephemeral/<id>.png`` on this server (a tiny PNG, served without a key,
like Ideogram's signed URLs). :attr:`unsafe` makes the next image unsafe (no URL). Scripted error
answers (:meth:`LookalikeServer.fail_next`) and a request log (:attr:`requests`) serve the tests.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import UploadFile

from tests.support.lookalike import Failure, LookalikeServer, json_response, read_json, tiny_png

PNG = tiny_png(1, 1, (255, 128, 0))
UPSCALED_PNG = tiny_png(2, 2, (255, 128, 0))
LEGACY_MODELS = ("V_1", "V_1_TURBO", "V_2", "V_2_TURBO")
ASPECTS = ("10_16", "16_10", "9_16", "16_9", "3_2", "2_3", "4_3", "3_4", "1_1", "1_3", "3_1")
V3_ASPECTS = (*(a.replace("_", "x") for a in ASPECTS), "1x2", "2x1", "4x5", "5x4")
MAGIC = ("AUTO", "ON", "OFF")
LEGACY_STYLES = ("AUTO", "GENERAL", "REALISTIC", "DESIGN", "RENDER_3D", "ANIME")
V3_STYLES = ("AUTO", "GENERAL", "REALISTIC", "DESIGN", "FICTION")
PALETTES = ("EMBER", "FRESH", "JUNGLE", "MAGIC", "MELON", "MOSAIC", "PASTEL", "ULTRAMARINE")
LEGACY_FIELDS = frozenset(
    {
        "prompt",
        "model",
        "aspect_ratio",
        "magic_prompt_option",
        "seed",
        "style_type",
        "negative_prompt",
        "color_palette",
    }
)
V3_FIELDS = frozenset(
    {
        "prompt",
        "aspect_ratio",
        "magic_prompt",
        "style_type",
        "seed",
        "negative_prompt",
        "rendering_speed",
        "color_palette",
    }
)


def rejected(status: int, detail: str) -> Failure:
    """A scripted error answer in Ideogram's shape."""
    return Failure(status, {"detail": detail})


class Invalid(Exception):
    """A request body the API refuses."""


def _palette(value: Any) -> None:
    if not isinstance(value, dict):
        raise Invalid("color_palette must be an object")
    if "name" in value:
        if value["name"] not in PALETTES:
            raise Invalid(f"color_palette.name {value['name']!r} is not a preset")
        return
    members = value.get("members")
    if not isinstance(members, list) or not members:
        raise Invalid("color_palette needs a name or members")
    for m in members:
        hexa = m.get("color_hex") if isinstance(m, dict) else None
        if not (isinstance(hexa, str) and len(hexa) == 7 and hexa.startswith("#")):
            raise Invalid(f"color_palette member {m!r} needs color_hex like #RRGGBB")


def check_legacy(body: Any) -> dict[str, Any]:
    """The ``image_request`` of a valid ``/generate`` body; Invalid otherwise."""
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("image_request"), dict)
        or set(body) != {"image_request"}
    ):
        raise Invalid("the body must be {'image_request': {...}}")
    req = body["image_request"]
    if unknown := set(req) - LEGACY_FIELDS:
        raise Invalid(f"unknown fields in image_request: {sorted(unknown)}")
    if not isinstance(req.get("prompt"), str) or not req["prompt"].strip():
        raise Invalid("image_request.prompt is required")
    model = req.get("model", "V_1")
    if model not in LEGACY_MODELS:
        raise Invalid(f"model {model!r} is not available on /generate")
    if req.get("aspect_ratio", "ASPECT_1_1").removeprefix("ASPECT_") not in ASPECTS:
        raise Invalid(f"aspect_ratio {req.get('aspect_ratio')!r} is not valid")
    if req.get("magic_prompt_option", "AUTO") not in MAGIC:
        raise Invalid("magic_prompt_option must be AUTO, ON or OFF")
    if "style_type" in req:
        if not model.startswith("V_2"):
            raise Invalid(f"style_type is not supported by model {model}")
        if req["style_type"] not in LEGACY_STYLES:
            raise Invalid(f"style_type {req['style_type']!r} is not valid")
    if "color_palette" in req:
        if not model.startswith("V_2"):
            raise Invalid(f"color_palette is not supported by model {model}")
        _palette(req["color_palette"])
    if "seed" in req and not (isinstance(req["seed"], int) and 0 <= req["seed"] <= 2147483647):
        raise Invalid("seed must be a whole number from 0 to 2147483647")
    return req


def check_v3(body: Any) -> dict[str, Any]:
    """A valid V3 generate body; Invalid otherwise."""
    if not isinstance(body, dict):
        raise Invalid("the body must be an object")
    if unknown := set(body) - V3_FIELDS:
        raise Invalid(f"unknown fields: {sorted(unknown)}")
    if not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
        raise Invalid("prompt is required")
    if body.get("aspect_ratio", "1x1") not in V3_ASPECTS:
        raise Invalid(f"aspect_ratio {body.get('aspect_ratio')!r} is not valid (e.g. 16x9)")
    if body.get("magic_prompt", "AUTO") not in MAGIC:
        raise Invalid("magic_prompt must be AUTO, ON or OFF")
    if body.get("style_type", "GENERAL") not in V3_STYLES:
        raise Invalid(f"style_type {body.get('style_type')!r} is not valid for V3")
    if "seed" in body and not isinstance(body["seed"], int):
        raise Invalid("seed must be a whole number")
    return body


@dataclass
class IdeogramServer(LookalikeServer):
    """The fake Ideogram; :meth:`start` it and point credentials' ``base_url`` at :attr:`url`."""

    keys: set[str] = field(default_factory=set)
    images: dict[str, bytes] = field(default_factory=dict)
    unsafe: bool = False
    """When set, the next generated image is judged unsafe (no URL)."""

    def add_key(self) -> str:
        """A new valid API key."""
        key = secrets.token_urlsafe(24)
        self.keys.add(key)
        return key

    def reset(self) -> None:
        """Forget images, scripted failures and recorded requests."""
        super().reset()
        self.images.clear()
        self.unsafe = False

    def _image(self, prompt: str, seed: Any, style: Any, data: bytes = PNG) -> dict[str, Any]:
        image_id = secrets.token_hex(8)
        item: dict[str, Any] = {
            "prompt": prompt,
            "resolution": "1024x1024",
            "is_image_safe": True,
            "seed": seed if isinstance(seed, int) else 12345,
            "style_type": style,
        }
        if self.unsafe:
            self.unsafe = False
            item["is_image_safe"] = False
        else:
            self.images[image_id] = data
            item["url"] = f"{self.url}/api/images/ephemeral/{image_id}.png"
        return {"created": datetime.now(UTC).isoformat(), "data": [item]}

    def app(self) -> Litestar:
        """The Litestar application."""
        server = self

        def guard(request: Request, body: Any) -> Response | None:
            server.record(request, body)
            if request.headers.get("api-key") not in server.keys:
                return json_response({"detail": "Invalid API key"}, 401)
            return server.scripted_failure(request)

        @post("/generate")
        async def generate(request: Request) -> Response:
            body = await read_json(request)
            if (failed := guard(request, body)) is not None:
                return failed
            try:
                req = check_legacy(body)
            except Invalid as exc:
                return json_response({"detail": str(exc)}, 400)
            return json_response(server._image(req["prompt"], req.get("seed"), req.get("style_type")))

        @post("/v1/ideogram-v3/generate")
        async def generate_v3(request: Request) -> Response:
            if request.headers.get("content-type", "").startswith("multipart/"):
                body: Any = dict((await request.form()).items())
            else:
                body = await read_json(request)
            if (failed := guard(request, body)) is not None:
                return failed
            try:
                req = check_v3(body)
            except Invalid as exc:
                return json_response({"detail": str(exc)}, 422)
            return json_response(
                server._image(req["prompt"], req.get("seed"), req.get("style_type", "GENERAL"))
            )

        @post("/upscale")
        async def upscale(request: Request) -> Response:
            form = (
                await request.form()
                if request.headers.get("content-type", "").startswith("multipart/")
                else {}
            )
            fields: dict[str, Any] = {}
            image = b""
            for key, value in form.items():
                if isinstance(value, UploadFile):
                    image = await value.read()
                    fields[key] = (value.filename, len(image))
                else:
                    fields[key] = value
            if (failed := guard(request, fields)) is not None:
                return failed
            if not image.startswith(b"\x89PNG") or "image_file" not in fields:
                return json_response({"detail": "image_file must be a PNG, JPEG or WebP image"}, 400)
            try:
                params = json.loads(fields.get("image_request") or "")
            except ValueError:
                return json_response({"detail": "image_request must be JSON"}, 422)
            if not isinstance(params, dict):
                return json_response({"detail": "image_request must be a JSON object"}, 422)
            return json_response(
                server._image(params.get("prompt", ""), params.get("seed"), None, UPSCALED_PNG)
            )

        @get("/api/images/ephemeral/{name:str}")
        async def images(request: Request) -> Response:
            server.record(request, None)
            data = server.images.get(str(request.path_params["name"]).removesuffix(".png"))
            if data is None:
                return json_response({"detail": "Not Found"}, 404)
            return Response(data, media_type="image/png")

        return Litestar([generate, generate_v3, upscale, images])


@contextmanager
def serve() -> Iterator[IdeogramServer]:
    """Run an :class:`IdeogramServer` for the duration of the block."""
    server = IdeogramServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
