"""Flux image models on Replicate (AutoGPT's ``ReplicateFluxAdvancedModelBlock``: same id and pins).

The prediction runs through Replicate's HTTP API (:mod:`blocks._replicate_api`): an official model,
``POST {base}/v1/models/black-forest-labs/<model>/predictions``, polled until it ends. The API root
is the ``replicate`` credential's ``base_url``, else ``WORKBENCH_REPLICATE_BASE_URL``, else
https://api.replicate.com, so any Replicate-compatible server (a self-hosted Flux) can answer.
"""

from __future__ import annotations

import enum
import secrets
from typing import Any

from pydantic import Field

from blocks._replicate_api import ReplicateMediaBlock
from workbench.block import BlockSchema

REPLICATE_CREDENTIALS_HELP = (
    "The 'replicate' credential ({id, provider, type} or an id; its secret holds api_key, the API "
    "token, and optionally base_url); empty: your only Replicate credential."
)


class ReplicateFluxModelName(enum.StrEnum):
    """The Flux models offered, by display name."""

    FLUX_SCHNELL = "Flux Schnell"
    FLUX_PRO = "Flux Pro"
    FLUX_PRO1_1 = "Flux Pro 1.1"

    @property
    def api_name(self) -> str:
        """The model's name on Replicate."""
        return {
            "Flux Schnell": "black-forest-labs/flux-schnell",
            "Flux Pro": "black-forest-labs/flux-pro",
            "Flux Pro 1.1": "black-forest-labs/flux-1.1-pro",
        }[self.value]


class ImageType(enum.StrEnum):
    """Image file formats Flux can write."""

    WEBP = "webp"
    JPG = "jpg"
    PNG = "png"


class ReplicateFluxAdvancedModelBlock(ReplicateMediaBlock):
    """Runs a Flux model on Replicate; the vendor's URL and our stored copy."""

    id = "90f8c45e-e983-4644-aa0b-b4ebe2f531bc"
    description = (
        "Generate an image with a Flux model on Replicate (Schnell, Pro, Pro 1.1) with advanced "
        "settings. 'result' is the image URL Replicate gives (as in AutoGPT; it expires after a while), "
        "'file' the image kept in your file store (workspace://...). API root: the credential's "
        "base_url, else WORKBENCH_REPLICATE_BASE_URL, else api.replicate.com."
    )
    retry_backoff = 2.0
    file_stem = "flux"
    default_type = "image/webp"

    class Input(BlockSchema):
        credentials: Any = Field(default=None, description=REPLICATE_CREDENTIALS_HELP)
        prompt: str = Field(description="Text prompt for image generation.")
        replicate_model_name: ReplicateFluxModelName = Field(
            default=ReplicateFluxModelName.FLUX_SCHNELL,
            description="The name of the Image Generation Model, i.e Flux Schnell.",
        )
        seed: int | None = Field(
            default=None, description="Random seed. Set for reproducible generation (empty: a random one)."
        )
        steps: int = Field(default=25, description="Number of diffusion steps.")
        guidance: float = Field(
            default=3,
            description="Balance between following the prompt and image quality/diversity: higher follows "
            "the prompt more closely.",
        )
        interval: float = Field(
            default=2,
            description="Variance of the possible outputs: low gives strong prompt following and more "
            "consistent outputs.",
        )
        aspect_ratio: str = Field(
            default="1:1", description="Aspect ratio: 1:1, 16:9, 2:3, 3:2, 4:5, 5:4 or 9:16."
        )
        output_format: ImageType = Field(
            default=ImageType.WEBP, description="File format of the output image."
        )
        output_quality: int = Field(
            default=80, description="Quality of the saved image, 0 to 100 (not used for png)."
        )
        safety_tolerance: int = Field(
            default=2, description="Safety tolerance, 1 is most strict and 5 is most permissive."
        )

    class Output(BlockSchema):
        result: str = Field(description="Generated output: the image URL Replicate gives.")
        file: str = Field(description="The image kept in the file store: a workspace:// reference.")

    test_input = {
        "credentials": {
            "provider": "replicate",
            "id": "01234567-89ab-cdef-0123-456789abcdef",
            "type": "api_key",
        },
        "replicate_model_name": "Flux Schnell",
        "prompt": "A beautiful landscape painting of a serene lake at sunrise",
        "seed": None,
        "steps": 25,
        "guidance": 3.0,
        "interval": 2.0,
        "aspect_ratio": "1:1",
        "output_format": "png",
        "output_quality": 80,
        "safety_tolerance": 2,
    }
    test_output = [
        ("result", "https://replicate.com/output/generated-image-url.jpg"),
        ("file", "workspace://test-flux-image"),
    ]
    test_mock = {
        "connect": lambda context, credentials: None,
        "run_model": lambda api, model, model_input: "https://replicate.com/output/generated-image-url.jpg",
        "keep_file": lambda api, url, file_format: "workspace://test-flux-image",
    }

    def prediction(self, input_data: Input) -> tuple[str, dict[str, Any], str]:
        """The chosen Flux model, the pins as its input (a random seed when none), the image format."""
        seed = input_data.seed if input_data.seed is not None else secrets.randbits(32)
        model = input_data.replicate_model_name.api_name
        model_input = {
            "prompt": input_data.prompt,
            "seed": seed,
            "steps": input_data.steps,
            "guidance": input_data.guidance,
            "interval": input_data.interval,
            "aspect_ratio": input_data.aspect_ratio,
            "output_format": input_data.output_format.value,
            "output_quality": input_data.output_quality,
            "safety_tolerance": input_data.safety_tolerance,
        }
        return model, model_input, input_data.output_format.value
