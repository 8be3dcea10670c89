"""Music generation with Meta's MusicGen on Replicate (AutoGPT's ``AIMusicGeneratorBlock``: same id, pins).

The prediction runs through Replicate's HTTP API (:mod:`blocks._replicate_api`): ``POST
{base}/v1/predictions`` with MusicGen's version id, polled until it ends. The API root is the
``replicate`` credential's ``base_url``, else ``WORKBENCH_REPLICATE_BASE_URL``, else
https://api.replicate.com.

AutoGPT's block retries three times inside one run and then yields ``error``; here a failure raises
(the node fails with the message on its ``error`` pin) and rate limits, vendor failures and time-outs
are retried by the engine (``max_retries``), so a failed prediction is not run again blindly.
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import Field

from blocks._replicate_api import ReplicateMediaBlock
from blocks.replicate import REPLICATE_CREDENTIALS_HELP
from workbench.block import BlockSchema

MUSICGEN = "meta/musicgen:671ac645ce5e552cc63a54a2bbff63fcf798043055d2dac5fc9e36a837eedcfb"
"""The MusicGen version AutoGPT runs."""


class MusicGenModelVersion(enum.StrEnum):
    """MusicGen's model variants."""

    STEREO_LARGE = "stereo-large"
    MELODY_LARGE = "melody-large"
    LARGE = "large"


class AudioFormat(enum.StrEnum):
    """Audio file formats MusicGen can write."""

    WAV = "wav"
    MP3 = "mp3"


class NormalizationStrategy(enum.StrEnum):
    """How MusicGen normalizes the audio."""

    LOUDNESS = "loudness"
    CLIP = "clip"
    PEAK = "peak"
    RMS = "rms"


class AIMusicGeneratorBlock(ReplicateMediaBlock):
    """Generates music with MusicGen on Replicate; the vendor's URL and our stored copy."""

    id = "44f6c8ad-d75c-4ae1-8209-aad1c0326928"
    description = (
        "Generate music from a description with Meta's MusicGen on Replicate. 'result' is the audio "
        "URL Replicate gives (as in AutoGPT; it expires after a while), 'file' the audio kept in your "
        "file store (workspace://...). API root: the credential's base_url, else "
        "WORKBENCH_REPLICATE_BASE_URL, else api.replicate.com."
    )
    retry_backoff = 5.0
    file_stem = "music"
    default_type = "audio/wav"

    class Input(BlockSchema):
        credentials: Any = Field(default=None, description=REPLICATE_CREDENTIALS_HELP)
        prompt: str = Field(description="A description of the music you want to generate.")
        music_gen_model_version: MusicGenModelVersion = Field(
            default=MusicGenModelVersion.STEREO_LARGE, description="Model to use for generation."
        )
        duration: int = Field(default=8, description="Duration of the generated audio in seconds.")
        temperature: float = Field(
            default=1.0,
            description="Controls the 'conservativeness' of the sampling process. Higher temperature "
            "means more diversity.",
        )
        top_k: int = Field(default=250, description="Reduces sampling to the k most likely tokens.")
        top_p: float = Field(
            default=0.0,
            description="Reduces sampling to tokens with cumulative probability of p. When set to 0 "
            "(default), top_k sampling is used.",
        )
        classifier_free_guidance: int = Field(
            default=3,
            description="Increases the influence of inputs on the output. Higher values produce "
            "lower-variance outputs that adhere more closely to inputs.",
        )
        output_format: AudioFormat = Field(
            default=AudioFormat.WAV, description="Output format for generated audio."
        )
        normalization_strategy: NormalizationStrategy = Field(
            default=NormalizationStrategy.LOUDNESS, description="Strategy for normalizing audio."
        )

    class Output(BlockSchema):
        result: str = Field(description="URL of the generated audio file.")
        file: str = Field(description="The audio kept in the file store: a workspace:// reference.")

    test_input = {
        "credentials": {
            "provider": "replicate",
            "id": "01234567-89ab-cdef-0123-456789abcdef",
            "type": "api_key",
        },
        "prompt": "An upbeat electronic dance track with heavy bass",
        "music_gen_model_version": "stereo-large",
        "duration": 8,
        "temperature": 1.0,
        "top_k": 250,
        "top_p": 0.0,
        "classifier_free_guidance": 3,
        "output_format": "wav",
        "normalization_strategy": "loudness",
    }
    test_output = [
        ("result", "https://replicate.com/output/generated-audio-url.wav"),
        ("file", "workspace://test-music"),
    ]
    test_mock = {
        "connect": lambda context, credentials: None,
        "run_model": lambda api, model, model_input: "https://replicate.com/output/generated-audio-url.wav",
        "keep_file": lambda api, url, file_format: "workspace://test-music",
    }

    def prediction(self, input_data: Input) -> tuple[str, dict[str, Any], str]:
        """MusicGen's version, the pins as its input, the audio format."""
        model_input = {
            "prompt": input_data.prompt,
            "music_gen_model_version": input_data.music_gen_model_version.value,
            "duration": input_data.duration,
            "temperature": input_data.temperature,
            "top_k": input_data.top_k,
            "top_p": input_data.top_p,
            "classifier_free_guidance": input_data.classifier_free_guidance,
            "output_format": input_data.output_format.value,
            "normalization_strategy": input_data.normalization_strategy.value,
        }
        return MUSICGEN, model_input, input_data.output_format.value
