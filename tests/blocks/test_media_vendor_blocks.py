"""The image and music vendor blocks' real client code against local lookalikes of Ideogram's and
Replicate's HTTP APIs: request bodies and headers, prediction polling, files kept in the file store,
and each kind of vendor error mapped to ours."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from blocks._replicate_api import PollPolicy, replicate_api
from blocks.ideogram import IdeogramModelBlock
from blocks.music import AIMusicGeneratorBlock
from blocks.replicate import ReplicateFluxAdvancedModelBlock
from tests.engine.graphs import graph, inp, link, node, out
from tests.support.ideogram_server import PNG as IDEOGRAM_PNG
from tests.support.ideogram_server import UPSCALED_PNG, IdeogramServer, rejected
from tests.support.lookalike import Failure
from tests.support.replicate_server import (
    MUSICGEN_VERSION,
    PNG,
    WAV,
    ReplicateServer,
    server_error,
    throttled,
)
from workbench.app import Workbench
from workbench.auth import LOCAL_USER_ID
from workbench.block.context import RunContext
from workbench.block.selftest import run_block_once
from workbench.config import Settings
from workbench.errors import BlockError, ConfigError, CredentialsError, RetryableError
from workbench.files import read_media
from workbench.net import BlockedAddress

FAST = PollPolicy(first=0.01, factor=2.0, cap=0.05)


@pytest.fixture(scope="module")
def replicate() -> Iterator[ReplicateServer]:
    server = ReplicateServer().start()
    yield server  # type: ignore[misc]
    server.stop()


@pytest.fixture(scope="module")
def ideogram() -> Iterator[IdeogramServer]:
    server = IdeogramServer().start()
    yield server  # type: ignore[misc]
    server.stop()


@pytest.fixture(autouse=True)
def _fresh(replicate: ReplicateServer, ideogram: IdeogramServer) -> None:
    for server in (replicate, ideogram):
        server.reset()
    replicate.stall, replicate.polls_to_finish, ideogram.unsafe = False, 2, False


class Env:
    """A user with a vendor credential pointing at a lookalike, and contexts to run blocks in."""

    def __init__(self, wb: Workbench, user_id: str, cred_id: str, provider: str) -> None:
        self.wb, self.user_id, self.cred_id, self.provider = wb, user_id, cred_id, provider

    def context(self, *, loopback: bool = True, **settings: Any) -> RunContext:
        allow = ("127.0.0.1",) if loopback else ()
        ctx = RunContext.for_test(
            self.wb.settings.with_(http_allow=allow, **settings), self.wb.block_services
        )
        ctx.user_id = self.user_id
        return ctx

    async def run(self, block: Any, data: dict[str, Any], **context: Any) -> dict[str, Any]:
        cred = {"id": self.cred_id, "provider": self.provider, "type": "api_key"}
        return dict(await run_block_once(block, {"credentials": cred, **data}, self.context(**context)))


async def _env(wb: Workbench, provider: str, secret: dict[str, str]) -> Env:
    assert wb.accounts is not None and wb.credentials is not None
    user = await wb.accounts.signup(f"{provider}-{uuid.uuid4().hex[:8]}@example.com", "correct horse battery")
    cred = await wb.credentials.create(user.id, provider, "api_key", secret, title=f"fake {provider}")
    return Env(wb, user.id, cred.id, provider)


@pytest.fixture
async def rep(wb: Workbench, replicate: ReplicateServer) -> Env:
    return await _env(wb, "replicate", {"api_key": replicate.add_token(), "base_url": replicate.url})


@pytest.fixture
async def ideo(wb: Workbench, ideogram: IdeogramServer) -> Env:
    return await _env(wb, "ideogram", {"api_key": ideogram.add_key(), "base_url": ideogram.url})


def flux() -> ReplicateFluxAdvancedModelBlock:
    block = ReplicateFluxAdvancedModelBlock()
    block.poll = FAST
    return block


def music() -> AIMusicGeneratorBlock:
    block = AIMusicGeneratorBlock()
    block.poll = FAST
    return block


FLUX_INPUT = {
    "prompt": "A serene lake at sunrise",
    "replicate_model_name": "Flux Pro",
    "seed": 42,
    "aspect_ratio": "16:9",
    "output_format": "png",
}


# ---- Replicate -------------------------------------------------------------------------------------


async def test_flux_creates_polls_and_keeps_the_image(rep: Env, replicate: ReplicateServer) -> None:
    replicate.polls_to_finish = 3
    out = await rep.run(flux(), FLUX_INPUT)
    create, *polls, download = replicate.requests
    assert (create.method, create.path) == ("POST", "/v1/models/black-forest-labs/flux-pro/predictions")
    token = next(iter(t for t in replicate.tokens if create.headers["authorization"] == f"Bearer {t}"))
    assert token.startswith("r8_")
    assert create.body == {
        "input": {
            "prompt": "A serene lake at sunrise",
            "seed": 42,
            "steps": 25,
            "guidance": 3.0,
            "interval": 2.0,
            "aspect_ratio": "16:9",
            "output_format": "png",
            "output_quality": 80,
            "safety_tolerance": 2,
        }
    }
    assert "prefer" not in create.headers  # async mode, as AutoGPT runs it
    prediction = next(iter(replicate.predictions.values()))
    assert [p.path for p in polls] == [f"/v1/predictions/{prediction.id}"] * 3
    assert all(p.headers["authorization"] == f"Bearer {token}" for p in polls)
    assert prediction.status == "succeeded" and prediction.polls == 3
    assert out["result"] == f"{replicate.url}/files/{prediction.id}/output.png" == prediction.output
    assert download.path == f"/files/{prediction.id}/output.png"
    media = await read_media(rep.context(), out["file"])
    assert out["file"].startswith("workspace://")
    assert (media.data, media.content_type, media.name) == (PNG, "image/png", "output.png")


async def test_flux_schnell_list_output_and_random_seed(rep: Env, replicate: ReplicateServer) -> None:
    out = await rep.run(flux(), {**FLUX_INPUT, "replicate_model_name": "Flux Schnell", "seed": None})
    create = replicate.requests[0]
    assert create.path == "/v1/models/black-forest-labs/flux-schnell/predictions"
    assert isinstance(create.body["input"]["seed"], int)
    prediction = next(iter(replicate.predictions.values()))
    assert prediction.output == [out["result"]]  # a list: the first URL is the result


async def test_the_token_stays_on_the_api_host(rep: Env, replicate: ReplicateServer) -> None:
    """Output files on another host are fetched without the token, and prediction links that point
    elsewhere are not followed: polls go to the API root's documented path."""
    delivery = ReplicateServer().start()
    try:
        delivery.predictions = replicate.predictions
        replicate.files_url = replicate.links_url = delivery.url
        out = await rep.run(flux(), FLUX_INPUT)
    finally:
        replicate.files_url = replicate.links_url = ""
        delivery.stop()
    (download,) = delivery.requests
    assert download.path.endswith("/output.png") and "authorization" not in download.headers
    assert out["result"].startswith(delivery.url)
    assert [r.method for r in replicate.requests] == ["POST", "GET", "GET"]
    assert (await read_media(rep.context(), out["file"])).data == PNG


async def test_music_runs_the_musicgen_version_and_keeps_the_audio(
    rep: Env, replicate: ReplicateServer
) -> None:
    out = await rep.run(music(), {"prompt": "An upbeat track", "duration": 5})
    create = replicate.requests[0]
    assert (create.method, create.path) == ("POST", "/v1/predictions")
    assert create.body == {
        "version": MUSICGEN_VERSION,
        "input": {
            "prompt": "An upbeat track",
            "music_gen_model_version": "stereo-large",
            "duration": 5,
            "temperature": 1.0,
            "top_k": 250,
            "top_p": 0.0,
            "classifier_free_guidance": 3,
            "output_format": "wav",
            "normalization_strategy": "loudness",
        },
    }
    assert out["result"].endswith("/output.wav")
    media = await read_media(rep.context(), out["file"])
    assert media.data == WAV and media.content_type == "audio/wav"
    assert media.data[:4] == b"RIFF" and media.data[8:12] == b"WAVE"


async def test_prefer_wait_gets_the_output_without_polling(rep: Env, replicate: ReplicateServer) -> None:
    api = await replicate_api(rep.context(), rep.cred_id, FAST)
    prediction = await api.run("black-forest-labs/flux-schnell", {"prompt": "x"}, wait=10)
    assert prediction.status == "succeeded"
    assert [(r.method, r.headers.get("prefer")) for r in replicate.requests] == [("POST", "wait=10")]


async def test_replicate_errors_are_mapped(wb: Workbench, rep: Env, replicate: ReplicateServer) -> None:
    bad = await _env(wb, "replicate", {"api_key": "r8_wrong", "base_url": replicate.url})
    with pytest.raises(
        CredentialsError, match=r"Replicate rejected the key .*401 You did not pass.*'replicate'"
    ) as denied:
        await bad.run(flux(), FLUX_INPUT)
    assert "r8_wrong" not in str(denied.value)  # secrets never go into messages

    replicate.fail_next(throttled(retry_after=7))
    with pytest.raises(
        RetryableError, match=r"rate limit reached .*429 Request was throttled.*retry after 7 s"
    ):
        await rep.run(flux(), FLUX_INPUT)

    replicate.fail_next(server_error(502))
    with pytest.raises(RetryableError, match=r"Replicate failed while creating a prediction .*\(502"):
        await rep.run(music(), {"prompt": "x"})

    with pytest.raises(
        BlockError, match=r"refused creating .*\(422 - input.aspect_ratio: '7:3' is not valid"
    ) as info:
        await rep.run(flux(), {**FLUX_INPUT, "aspect_ratio": "7:3"})
    assert not isinstance(info.value, RetryableError)


async def test_a_failed_prediction_says_why_and_is_not_retried(rep: Env, replicate: ReplicateServer) -> None:
    replicate.fail_predictions("CUDA out of memory")
    with pytest.raises(
        BlockError, match=r"prediction \w+ of meta/musicgen:671ac6\w+ failed: CUDA out of memory"
    ) as info:
        await rep.run(music(), {"prompt": "x"})
    assert not isinstance(info.value, RetryableError)


async def test_transient_poll_failures_are_waited_out(rep: Env, replicate: ReplicateServer) -> None:
    replicate.fail_next(server_error(503, match="GET /v1/predictions/"))
    replicate.fail_next(throttled(retry_after=0.05, match="GET /v1/predictions/"))
    out = await rep.run(flux(), FLUX_INPUT)
    polls = [r for r in replicate.requests if r.method == "GET" and r.path.startswith("/v1/predictions/")]
    assert len(polls) == 4  # two failed polls, then processing, then succeeded
    assert out["file"].startswith("workspace://")


async def test_a_prediction_past_the_time_limit_is_canceled(rep: Env, replicate: ReplicateServer) -> None:
    replicate.stall = True
    block = flux()
    with pytest.raises(
        RetryableError, match=r"did not finish within 0.2 s .*WORKBENCH_REPLICATE_TIMEOUT.*canceled"
    ):
        await run_block_once(
            block, {"credentials": rep.cred_id, **FLUX_INPUT}, rep.context(replicate_timeout=0.2)
        )
    prediction = next(iter(replicate.predictions.values()))
    assert prediction.status == "canceled"
    assert replicate.requests[-1].path == f"/v1/predictions/{prediction.id}/cancel"


async def test_the_base_url_setting_is_used_and_trusted(wb: Workbench, replicate: ReplicateServer) -> None:
    """Without a base_url in the credential, WORKBENCH_REPLICATE_BASE_URL is used; being the operator's
    it passes the SSRF guard, while the same loopback URL in a user's credential does not."""
    env = await _env(wb, "replicate", {"api_key": replicate.add_token()})
    out = await env.run(music(), {"prompt": "x"}, loopback=False, replicate_base_url=replicate.url)
    assert out["result"].startswith(replicate.url)
    user_chosen = await _env(wb, "replicate", {"api_key": replicate.add_token(), "base_url": replicate.url})
    with pytest.raises(BlockedAddress):
        await user_chosen.run(music(), {"prompt": "x"}, loopback=False)


# ---- Ideogram --------------------------------------------------------------------------------------


async def test_ideogram_v2_request_and_stored_image(ideo: Env, ideogram: IdeogramServer) -> None:
    palette = ["#000030", "#1C0C47", "#9900FF"]
    out = await ideo.run(
        IdeogramModelBlock(),
        {
            "prompt": "A futuristic cityscape",
            "ideogram_model_name": "V_2",
            "aspect_ratio": "ASPECT_16_9",
            "seed": 7,
            "style_type": "ANIME",
            "negative_prompt": "people",
            "custom_color_palette": palette,
        },
    )
    generate, download = ideogram.requests
    assert (generate.method, generate.path) == ("POST", "/generate")
    assert generate.headers["api-key"] in ideogram.keys and "authorization" not in generate.headers
    assert generate.body == {
        "image_request": {
            "prompt": "A futuristic cityscape",
            "model": "V_2",
            "aspect_ratio": "ASPECT_16_9",
            "magic_prompt_option": "AUTO",
            "style_type": "ANIME",
            "seed": 7,
            "negative_prompt": "people",
            "color_palette": {"members": [{"color_hex": c} for c in palette]},
        }
    }
    assert out["result"].startswith(f"{ideogram.url}/api/images/ephemeral/") and download.method == "GET"
    media = await read_media(ideo.context(), out["file"])
    assert (media.data, media.content_type) == (IDEOGRAM_PNG, "image/png")


async def test_ideogram_v1_sends_no_style_or_palette(ideo: Env, ideogram: IdeogramServer) -> None:
    await ideo.run(
        IdeogramModelBlock(),
        {
            "prompt": "p",
            "ideogram_model_name": "V_1_TURBO",
            "color_palette_name": "EMBER",
            "style_type": "DESIGN",
        },
    )
    assert ideogram.requests[0].body == {
        "image_request": {
            "prompt": "p",
            "model": "V_1_TURBO",
            "aspect_ratio": "ASPECT_1_1",
            "magic_prompt_option": "AUTO",
        }
    }


async def test_ideogram_v3_and_upscale(ideo: Env, ideogram: IdeogramServer) -> None:
    out = await ideo.run(
        IdeogramModelBlock(),
        {
            "prompt": "A poster",
            "aspect_ratio": "ASPECT_9_16",
            "upscale": "AI Upscale",
            "magic_prompt_option": "OFF",
        },
    )
    generate, fetch, upscale, download = ideogram.requests
    assert generate.path == "/v1/ideogram-v3/generate"
    assert generate.body == {
        "prompt": "A poster",
        "aspect_ratio": "9x16",
        "magic_prompt": "OFF",
        "style_type": "AUTO",
    }
    assert fetch.method == "GET" and fetch.path.startswith("/api/images/ephemeral/")
    assert upscale.path == "/upscale" and upscale.headers["content-type"].startswith("multipart/form-data")
    assert upscale.headers["api-key"] in ideogram.keys
    assert upscale.body == {"image_request": "{}", "image_file": ("image.png", len(IDEOGRAM_PNG))}
    assert download.path == out["result"].removeprefix(ideogram.url)
    media = await read_media(ideo.context(), out["file"])
    assert media.data == UPSCALED_PNG


async def test_ideogram_errors_are_mapped(wb: Workbench, ideo: Env, ideogram: IdeogramServer) -> None:
    block = IdeogramModelBlock()
    bad = await _env(wb, "ideogram", {"api_key": "not-a-key", "base_url": ideogram.url})
    with pytest.raises(
        CredentialsError, match=r"Ideogram rejected the key .*401 Invalid API key.*'ideogram'"
    ):
        await bad.run(block, {"prompt": "p"})
    ideogram.fail_next(Failure(429, {"detail": "Too many requests"}, retry_after=3))
    with pytest.raises(
        RetryableError, match=r"Ideogram rate limit reached .*429 Too many requests.*retry after 3 s"
    ):
        await ideo.run(block, {"prompt": "p"})
    ideogram.fail_next(rejected(500, "Internal error"))
    with pytest.raises(
        RetryableError, match=r"Ideogram failed while generating an image with V_3 \(500 Internal"
    ):
        await ideo.run(block, {"prompt": "p"})
    with pytest.raises(
        BlockError, match=r"refused generating .*\(422 style_type 'ANIME' is not valid for V3\)"
    ) as info:
        await ideo.run(block, {"prompt": "p", "style_type": "ANIME"})
    assert not isinstance(info.value, RetryableError | CredentialsError)
    ideogram.unsafe = True
    with pytest.raises(BlockError, match="judged the image unsafe"):
        await ideo.run(block, {"prompt": "p"})


async def test_ideogram_base_url_setting(wb: Workbench, ideogram: IdeogramServer) -> None:
    env = await _env(wb, "ideogram", {"api_key": ideogram.add_key()})
    out = await env.run(IdeogramModelBlock(), {"prompt": "p"}, loopback=False, ideogram_base_url=ideogram.url)
    assert out["result"].startswith(ideogram.url)
    assert ideogram.requests[0].path == "/v1/ideogram-v3/generate"


# ---- in a graph ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("loopback_allowed")
async def test_music_in_a_graph_is_retried_after_a_rate_limit(
    wb: Workbench, replicate: ReplicateServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A graph run: the engine retries the node after Replicate's 429, then the prediction runs, and
    the graph's outputs carry both the vendor URL and the stored file."""
    monkeypatch.setattr(AIMusicGeneratorBlock, "poll", FAST)
    monkeypatch.setattr(AIMusicGeneratorBlock, "retry_backoff", 0.01)
    assert wb.credentials is not None
    cred = await wb.credentials.create(
        LOCAL_USER_ID, "replicate", "api_key", {"api_key": replicate.add_token(), "base_url": replicate.url}
    )
    replicate.fail_next(throttled(retry_after=1, match="POST /v1/predictions"))
    g = graph(
        [
            inp("p", "prompt"),
            node("m", AIMusicGeneratorBlock, duration=3),
            out("url", "url"),
            out("f", "file"),
        ],
        [link("p.result", "m.prompt"), link("m.result", "url.value"), link("m.file", "f.value")],
    )
    result = await wb.executions.run(g, {"prompt": "calm piano"}, credentials={"credentials": cred.id})
    assert result.status == "COMPLETED", result.error
    creates = [r for r in replicate.requests if r.method == "POST"]
    assert len(creates) == 2  # throttled once, then accepted
    (prediction,) = replicate.predictions.values()
    assert result.outputs["url"] == [prediction.output]
    ctx = RunContext.for_test(wb.settings, wb.block_services)
    ctx.user_id = LOCAL_USER_ID
    assert (await read_media(ctx, result.outputs["file"][0])).data == WAV


def test_vendor_settings_are_read_from_the_environment(tmp_path: Any) -> None:
    env = {
        "WORKBENCH_HOME": str(tmp_path),
        "WORKBENCH_IDEOGRAM_BASE_URL": "http://ideogram.internal:8000",
        "WORKBENCH_REPLICATE_BASE_URL": "https://replicate.proxy.example",
        "WORKBENCH_REPLICATE_TIMEOUT": "42",
    }
    settings = Settings.from_env(env)
    assert settings.ideogram_base_url == "http://ideogram.internal:8000"
    assert settings.replicate_base_url == "https://replicate.proxy.example"
    assert settings.replicate_timeout == 42.0
    defaults = Settings.from_env({"WORKBENCH_HOME": str(tmp_path)})
    assert (defaults.ideogram_base_url, defaults.replicate_base_url, defaults.replicate_timeout) == (
        None,
        None,
        300.0,
    )
    with pytest.raises(ConfigError, match="WORKBENCH_REPLICATE_BASE_URL must start with http"):
        Settings.from_env({**env, "WORKBENCH_REPLICATE_BASE_URL": "ftp://x"})
