"""Ideogram image generation (AutoGPT's ``IdeogramModelBlock``: same id, pins and request shapes).

It speaks Ideogram's HTTP API with the ``Api-Key`` header: ``POST {base}/v1/ideogram-v3/generate``
(JSON) for ``V_3``, ``POST {base}/generate`` with ``{"image_request": {...}}`` for the older models,
and ``POST {base}/upscale`` (multipart: ``image_request`` JSON text and ``image_file``) to upscale.
The API root is the ``ideogram`` credential's ``base_url``, else ``WORKBENCH_IDEOGRAM_BASE_URL``, else
https://api.ideogram.ai (see :mod:`blocks._vendor_http`).

One difference from AutoGPT, on purpose: a color palette for ``V_2``/``V_2_TURBO`` goes inside
``image_request``, where Ideogram's API reads it (AutoGPT sends it beside ``image_request``, where it is
ignored).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from blocks._vendor_http import VendorAccess, keep_media, request, vendor_access
from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema
from workbench.block.base import get_context
from workbench.block.context import RunContext
from workbench.errors import BlockError

IDEOGRAM_API = "https://api.ideogram.ai"
PROVIDER = "ideogram"
VENDOR = "Ideogram"
STYLED_MODELS = frozenset({"V_2", "V_2_TURBO", "V_3"})
"""Models that take a ``style_type`` (the V_1 ones do not)."""
PALETTE_MODELS = frozenset({"V_2", "V_2_TURBO"})
"""Models that take a color palette."""


class IdeogramModelName(enum.StrEnum):
    """Ideogram's model versions."""

    V3 = "V_3"
    V2 = "V_2"
    V1 = "V_1"
    V1_TURBO = "V_1_TURBO"
    V2_TURBO = "V_2_TURBO"


class MagicPromptOption(enum.StrEnum):
    """Whether Ideogram rewrites the prompt."""

    AUTO = "AUTO"
    ON = "ON"
    OFF = "OFF"


class StyleType(enum.StrEnum):
    """Ideogram's style types (V_2 and later)."""

    AUTO = "AUTO"
    GENERAL = "GENERAL"
    REALISTIC = "REALISTIC"
    DESIGN = "DESIGN"
    RENDER_3D = "RENDER_3D"
    ANIME = "ANIME"


class ColorPalettePreset(enum.StrEnum):
    """Ideogram's named color palettes."""

    NONE = "NONE"
    EMBER = "EMBER"
    FRESH = "FRESH"
    JUNGLE = "JUNGLE"
    MAGIC = "MAGIC"
    MELON = "MELON"
    MOSAIC = "MOSAIC"
    PASTEL = "PASTEL"
    ULTRAMARINE = "ULTRAMARINE"


class AspectRatio(enum.StrEnum):
    """Aspect ratios in the older API's spelling (``ASPECT_16_9``; V_3 gets ``16x9``)."""

    ASPECT_10_16 = "ASPECT_10_16"
    ASPECT_16_10 = "ASPECT_16_10"
    ASPECT_9_16 = "ASPECT_9_16"
    ASPECT_16_9 = "ASPECT_16_9"
    ASPECT_3_2 = "ASPECT_3_2"
    ASPECT_2_3 = "ASPECT_2_3"
    ASPECT_4_3 = "ASPECT_4_3"
    ASPECT_3_4 = "ASPECT_3_4"
    ASPECT_1_1 = "ASPECT_1_1"
    ASPECT_1_3 = "ASPECT_1_3"
    ASPECT_3_1 = "ASPECT_3_1"


class UpscaleOption(enum.StrEnum):
    """Whether to upscale the generated image."""

    AI_UPSCALE = "AI Upscale"
    NO_UPSCALE = "No Upscale"


def v3_aspect_ratio(value: str) -> str:
    """``ASPECT_16_9`` -> ``16x9`` (the V_3 API's spelling)."""
    return value.removeprefix("ASPECT_").replace("_", "x")


@dataclass(frozen=True, slots=True)
class IdeogramApi:
    """Ideogram's generate and upscale calls for one run's credential."""

    access: VendorAccess

    @property
    def headers(self) -> dict[str, str]:
        """The key, in the header Ideogram reads."""
        return {"Api-Key": self.access.api_key, "User-Agent": "agent-workbench"}

    def request_for(self, data: IdeogramModelBlock.Input) -> tuple[str, dict[str, Any]]:
        """The path and JSON body of a generate request for ``data`` (per model version)."""
        model = data.ideogram_model_name.value
        if model == "V_3":
            body: dict[str, Any] = {
                "prompt": data.prompt,
                "aspect_ratio": v3_aspect_ratio(data.aspect_ratio.value),
                "magic_prompt": data.magic_prompt_option.value,
                "style_type": data.style_type.value,
            }
            if data.seed is not None:
                body["seed"] = data.seed
            if data.negative_prompt:
                body["negative_prompt"] = data.negative_prompt
            return "/v1/ideogram-v3/generate", body
        request: dict[str, Any] = {
            "prompt": data.prompt,
            "model": model,
            "aspect_ratio": data.aspect_ratio.value,
            "magic_prompt_option": data.magic_prompt_option.value,
        }
        if model in STYLED_MODELS:
            request["style_type"] = data.style_type.value
        if data.seed is not None:
            request["seed"] = data.seed
        if data.negative_prompt:
            request["negative_prompt"] = data.negative_prompt
        if model in PALETTE_MODELS:
            if data.color_palette_name != ColorPalettePreset.NONE:
                request["color_palette"] = {"name": data.color_palette_name.value}
            elif data.custom_color_palette:
                request["color_palette"] = {"members": [{"color_hex": c} for c in data.custom_color_palette]}
        return "/generate", {"image_request": request}

    async def generate(self, data: IdeogramModelBlock.Input) -> str:
        """Generate one image; its URL."""
        path, body = self.request_for(data)
        what = f"generating an image with {data.ideogram_model_name.value}"
        async with self.access.client(self.headers) as http:
            result = await request(self.access, http, "POST", self.access.base_url + path, what, json=body)
        return _image_url(result, what)

    async def upscale(self, image_url: str) -> str:
        """Upscale the image at ``image_url``; the new image's URL."""
        # the key goes only to the API's own host: an image elsewhere is fetched without it
        own = self.access.same_origin(image_url)
        async with self.access.client(self.headers if own else {"User-Agent": "agent-workbench"}) as http:
            image = await request(self.access, http, "GET", image_url, "downloading the image to upscale")
        what = "upscaling the image"
        async with self.access.client(self.headers) as http:
            result = await request(
                self.access,
                http,
                "POST",
                f"{self.access.base_url}/upscale",
                what,
                data={"image_request": json.dumps({})},
                files={"image_file": ("image.png", image.content, "image/png")},
            )
        return _image_url(result, what)


def _image_url(result: Any, what: str) -> str:
    """The URL of the first image of Ideogram's (2xx) answer to ``what``."""
    try:
        items = result.json().get("data") or []
    except (BlockError, AttributeError) as exc:
        raise BlockError(f"{VENDOR} answered {what} with something unexpected: {result.text[:200]}") from exc
    first = items[0] if items and isinstance(items[0], dict) else {}
    url = first.get("url")
    if not url:
        if first.get("is_image_safe") is False:
            raise BlockError(f"{VENDOR} judged the image unsafe and returned none while {what}")
        raise BlockError(f"{VENDOR} returned no image URL while {what}")
    return str(url)


class IdeogramModelBlock(Block):
    """Generates an image with Ideogram; the vendor's URL and our stored copy."""

    id = "6ab085e2-20b3-4055-bc3e-08036e01eca6"
    description = (
        "Generate an image with an Ideogram model (V_1 to V_3), optionally AI-upscaled. 'result' is "
        "Ideogram's image URL (as in AutoGPT; Ideogram's URLs expire), 'file' the image kept in your "
        "file store (workspace://...). API root: the credential's base_url, else "
        "WORKBENCH_IDEOGRAM_BASE_URL, else api.ideogram.ai."
    )
    categories = (BlockCategory.AI, BlockCategory.MULTIMEDIA)
    max_retries = 2
    retry_backoff = 2.0

    class Input(BlockSchema):
        credentials: Any = Field(
            default=None,
            description="The 'ideogram' credential ({id, provider, type} or an id; its secret holds "
            "api_key and optionally base_url); empty: your only Ideogram credential.",
        )
        prompt: str = Field(description="Text prompt for image generation.")
        ideogram_model_name: IdeogramModelName = Field(
            default=IdeogramModelName.V3, description="The name of the Image Generation Model, e.g., V_3."
        )
        aspect_ratio: AspectRatio = Field(
            default=AspectRatio.ASPECT_1_1, description="Aspect ratio for the generated image."
        )
        upscale: UpscaleOption = Field(
            default=UpscaleOption.NO_UPSCALE, description="Upscale the generated image."
        )
        magic_prompt_option: MagicPromptOption = Field(
            default=MagicPromptOption.AUTO,
            description="Whether to use MagicPrompt for enhancing the request.",
        )
        seed: int | None = Field(default=None, description="Random seed. Set for reproducible generation.")
        style_type: StyleType = Field(
            default=StyleType.AUTO, description="Style type to apply, applicable for V_2 and above."
        )
        negative_prompt: str | None = Field(
            default=None, description="Description of what to exclude from the image."
        )
        color_palette_name: ColorPalettePreset = Field(
            default=ColorPalettePreset.NONE, description="Color palette preset name, choose 'NONE' to skip."
        )
        custom_color_palette: list[str] | None = Field(
            default=None,
            description="Only for V_2 and V_2_TURBO: color hex codes (['#000030', '#9900FF']) of a custom "
            "palette. Only used if 'color_palette_name' is 'NONE'.",
        )

    class Output(BlockSchema):
        result: str = Field(description="Generated image URL (Ideogram's; it expires).")
        file: str = Field(description="The image kept in the file store: a workspace:// reference.")

    test_input = {
        "ideogram_model_name": "V_2",
        "prompt": "A futuristic cityscape at sunset",
        "aspect_ratio": "ASPECT_1_1",
        "upscale": "No Upscale",
        "magic_prompt_option": "AUTO",
        "seed": None,
        "style_type": "AUTO",
        "negative_prompt": None,
        "color_palette_name": "NONE",
        "custom_color_palette": ["#000030", "#1C0C47", "#9900FF", "#4285F4", "#FFFFFF"],
        "credentials": {
            "provider": "ideogram",
            "id": "01234567-89ab-cdef-0123-456789abcdef",
            "type": "api_key",
        },
    }
    test_output = [
        ("result", "https://ideogram.ai/api/images/test-generated-image-url.png"),
        ("file", "workspace://test-ideogram-image"),
    ]
    test_mock = {
        "connect": lambda context, credentials: None,
        "run_model": lambda api, data: "https://ideogram.ai/api/images/test-generated-image-url.png",
        "upscale_image": lambda api, image_url: "https://ideogram.ai/api/images/test-upscaled-image-url.png",
        "keep_image": lambda api, url: "workspace://test-ideogram-image",
    }

    async def connect(self, context: RunContext, credentials: Any) -> IdeogramApi:
        """The Ideogram API for the run's credential."""
        access = await vendor_access(
            context,
            credentials,
            vendor=VENDOR,
            provider=PROVIDER,
            setting=context.settings.ideogram_base_url,
            default=IDEOGRAM_API,
        )
        return IdeogramApi(access)

    async def run_model(self, api: IdeogramApi, data: Input) -> str:
        """Generate the image; its URL."""
        return await api.generate(data)

    async def upscale_image(self, api: IdeogramApi, image_url: str) -> str:
        """Upscale the image; the upscaled image's URL."""
        return await api.upscale(image_url)

    async def keep_image(self, api: IdeogramApi, url: str) -> str:
        """Keep the image in the file store; its workspace:// reference."""
        return await keep_media(
            api.access, url, fallback="ideogram.png", content_type="image/png", headers=api.headers
        )

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        context = get_context(kwargs)
        api = await self.connect(context, input_data.credentials)
        url = await self.run_model(api, input_data)
        if input_data.upscale == UpscaleOption.AI_UPSCALE:
            url = await self.upscale_image(api, url)
        ref = await self.keep_image(api, url)
        yield "result", url
        yield "file", ref
