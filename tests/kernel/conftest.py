"""One real kernel for the kernel tests, on a data folder of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kernel.harness import Kernel


@pytest.fixture(scope="session")
def kernel_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data folder the test kernels use (never the user's)."""
    return tmp_path_factory.mktemp("kernel-home")


@pytest.fixture(scope="module")
def kernel(kernel_home: Path) -> Iterator[Kernel]:
    """A kernel with the extension loaded and connected locally."""
    k = Kernel(kernel_home)
    try:
        k.execute("%load_ext kernel_ext\nwb = %wb connect", timeout=120)
        yield k
    finally:
        k.close()
