"""The migrations are found where each kind of install keeps them: ``migrations/`` of the checkout (an
editable install, this test run) and ``workbench/_migrations`` inside the package (a wheel, plain or
zipped), through importlib.resources rather than the package root's ``__file__``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from workbench.store.migrate import CHECKOUT, discover, migrations_dir

REPO = Path(__file__).resolve().parents[2]
PROBE = """
import json, workbench.store.migrate as m
print(json.dumps({"module": m.__file__, "dir": str(m.migrations_dir()), "versions": [x.version for x in m.discover()]}))
"""


def checkout_versions() -> list[int]:
    return sorted(int(p.name[:4]) for p in (REPO / "migrations").glob("*.sql"))


def probe(site: Path) -> dict[str, object]:
    """Import ``workbench.store.migrate`` from ``site`` alone (not this checkout) and report."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=site.parent, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def wheel_layout(into: Path) -> Path:
    """The package as the wheel lays it out: ``workbench/`` with the SQL files in ``_migrations``."""
    site = into / "site"
    shutil.copytree(REPO / "workbench", site / "workbench", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "migrations", site / "workbench" / "_migrations")
    return site


def test_a_checkout_reads_the_repository_folder() -> None:
    assert Path(str(migrations_dir())) == CHECKOUT == REPO / "migrations"
    assert [m.version for m in discover()] == checkout_versions()


def test_a_wheel_reads_the_packaged_folder(tmp_path: Path) -> None:
    site = wheel_layout(tmp_path)
    report = probe(site)
    assert report["module"] == str(site / "workbench" / "store" / "migrate.py")
    assert report["dir"] == str(site / "workbench" / "_migrations")
    assert report["versions"] == checkout_versions()


def test_a_zipped_wheel_reads_the_packaged_folder(tmp_path: Path) -> None:
    site = wheel_layout(tmp_path)
    archive = tmp_path / "site.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(site.rglob("*")):
            zf.write(path, path.relative_to(site).as_posix())
    report = probe(archive)
    assert str(report["module"]).startswith(str(archive))
    assert report["versions"] == checkout_versions()


def test_no_migrations_anywhere_says_where_it_looked(tmp_path: Path) -> None:
    site = wheel_layout(tmp_path)
    shutil.rmtree(site / "workbench" / "_migrations")
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "no migrations: neither workbench/_migrations" in done.stderr
    assert str(site / "migrations") in done.stderr


@pytest.mark.parametrize("name", ["1_x.sql", "0001-x.sql"])
def test_a_malformed_name_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("SELECT 1")
    with pytest.raises(ValueError, match=r"must look like 0001_name\.sql"):
        discover(tmp_path)
