"""visivo-telemetry installs beside a host distribution that owns ``visivo/__init__.py``.

The host is ``tests/fakehost`` (a distribution named ``visivo``, like Visivo 2.2.1). Both
are built as wheels once, then installed into fresh virtual environments in both orders,
used, and uninstalled one at a time. No network: the new environments see this test
environment's dependencies through a ``.pth`` file naming a directory of links to them.
Links, not the site-packages directory itself: a ``.pth`` file there would not be
processed, but our editable install's dist-info would still be visible to pip and to
``importlib.metadata``, so every entry of ours is left out (and the probe checks it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.support import REPO, clean_env, run
from visivo.telemetry.host import HOST_DISTRIBUTION

FAKEHOST = Path(__file__).resolve().parent / "fakehost"
OURS = "visivo-telemetry"
HOST_VERSION = "2.2.1"


def build_wheel(source: Path, copy_to: Path, wheels: Path) -> Path:
    """Build ``source`` (copied first, so no build files land in the tree) into a wheel."""
    shutil.copytree(
        source,
        copy_to,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*cache", "tests"
        ),
    )
    before = set(wheels.glob("*.whl"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(copy_to),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = set(wheels.glob("*.whl")) - before
    return wheel


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Our wheel and the host's, built once."""
    root = tmp_path_factory.mktemp("wheels")
    return {
        OURS: build_wheel(REPO, root / "ours", root / "dist"),
        HOST_DISTRIBUTION: build_wheel(FAKEHOST, root / "host", root / "dist"),
    }


@pytest.fixture(scope="module")
def dependencies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Links to everything this environment installed except visivo-telemetry itself."""
    site = Path(sysconfig.get_paths()["purelib"])
    links = tmp_path_factory.mktemp("dependencies")
    for entry in site.iterdir():
        name = entry.name.lower()
        if name.startswith(("visivo", "__editable__")) or name.endswith(".pth"):
            continue
        (links / entry.name).symlink_to(entry)
    return links


class Venv:
    """A fresh virtual environment whose packages come only from wheels."""

    def __init__(self, path: Path, dependencies: Path, home: Path) -> None:
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=60
        )
        self.bin = path / "bin"
        self.python = self.bin / "python"
        self.site = Path(self._eval("import sysconfig; print(sysconfig.get_paths()['purelib'])"))
        (self.site / "_dependencies.pth").write_text(f"{dependencies}\n")
        self.home = home
        home.mkdir()
        self.env = clean_env(home)
        del self.env["PYTHONPATH"]  # only what is installed in this environment

    def _eval(self, code: str) -> str:
        return subprocess.run(
            [str(self.python), "-c", code], capture_output=True, text=True, check=True, timeout=60
        ).stdout.strip()

    def pip(self, *args: str) -> None:
        done = self.run(["-m", "pip", "-q", *args])
        assert done.returncode == 0, done.stderr

    def install(self, wheel: Path) -> None:
        self.pip("install", "--no-deps", "--no-index", str(wheel))

    def uninstall(self, name: str) -> None:
        self.pip("uninstall", "-y", name)

    def run(
        self, argv: Sequence[str], *, script: bool = False, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        """Run the venv's python with ``argv``, or with ``script`` one of its scripts."""
        program = [str(self.bin / argv[0]), *argv[1:]] if script else [str(self.python), *argv]
        return run(program, env={**self.env, **extra}, cwd=self.home)

    def python_code(self, code: str) -> subprocess.CompletedProcess[str]:
        return self.run(["-c", code])


def events(stdout: str) -> list[dict[str, Any]]:
    """The events a stdout sink printed, without their durations (they vary)."""
    found = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    for event in found:
        event["properties"].pop("duration_ms", None)
    return found


def host_works(venv: Venv) -> None:
    """The host's own package and its code that does not need telemetry still work."""
    done = venv.python_code(
        "import visivo, visivo.models as m; print(visivo.__file__); "
        "print(m.object_counts(['chart']))"
    )
    assert done.returncode == 0, done.stderr
    init, counts = done.stdout.splitlines()
    assert Path(init) == venv.site / "visivo" / "__init__.py"
    assert counts == "{'chart': 1}"


def ours_works(venv: Venv) -> None:
    """visivo-telemetry works on its own: its CLI, and start() sending to stdout."""
    done = venv.run(["visivo-telemetry", "status", "--json"], script=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["visivo_version_source"] == OURS
    code = (
        "import visivo.telemetry as t\nfrom visivo.events import track_command\n"
        "t.start()\nwith track_command('run'): pass\n"
    )
    done = venv.run(["-c", code], VISIVO_TELEMETRY_SINK="stdout")
    assert done.returncode == 0, done.stderr
    assert [e["properties"] for e in events(done.stdout)] == [{"command": "run", "success": True}]


def both_work(venv: Venv) -> None:
    """The host's CLI and server, with telemetry, as a user runs them."""
    assert (venv.site / "visivo" / "__init__.py").is_file()
    assert (venv.site / "visivo" / "telemetry" / "__init__.py").is_file()
    done = venv.run(["visivo", "run"], script=True, VISIVO_TELEMETRY_SINK="stdout")
    assert done.returncode == 0, done.stderr
    (event,) = events(done.stdout)
    assert event["visivo_version"] == HOST_VERSION
    assert event["properties"] == {"command": "run", "success": True, "jobs": 3}
    done = venv.run(["visivo", "serve"], script=True, VISIVO_TELEMETRY_SINK="stdout")
    assert done.returncode == 0, done.stderr
    kinds = {e["event"]: e["properties"] for e in events(done.stdout)}
    assert kinds["request_finished"]["endpoint"] == "/api/project/{project_id}"
    assert kinds["command_finished"]["command"] == "serve"
    done = venv.run(["visivo", "telemetry", "status"], script=True)
    assert done.returncode == 0, done.stderr
    assert f"visivo_version {HOST_VERSION} (the installed visivo distribution's)" in done.stdout
    done = venv.run(["visivo", "telemetry", "enable"], script=True, DO_NOT_TRACK="1")
    assert done.returncode == 0, done.stderr
    assert "see `visivo telemetry status`" in done.stdout


@pytest.fixture
def make_venv(tmp_path: Path, dependencies: Path) -> Venv:
    venv = Venv(tmp_path / "venv", dependencies, tmp_path / "home")
    probe = venv.python_code(
        "import importlib.util as u, importlib.metadata as m\n"
        "print(u.find_spec('visivo'), u.find_spec('click') is not None)\n"
        "print([d.metadata['Name'] for d in m.distributions() if 'visivo' in d.metadata['Name']])"
    )
    # The dependencies are there; neither distribution is, not even our editable one.
    assert probe.stdout.splitlines() == ["None True", "[]"], probe.stderr
    return venv


@pytest.mark.parametrize("first", [OURS, HOST_DISTRIBUTION])
def test_installs_beside_the_host_in_either_order(
    first: str, wheels: dict[str, Path], make_venv: Venv
) -> None:
    """Installed in either order both work; uninstalling either leaves the other working."""
    started = time.monotonic()
    venv = make_venv
    second = HOST_DISTRIBUTION if first == OURS else OURS
    venv.install(wheels[first])
    venv.install(wheels[second])
    both_work(venv)
    venv.uninstall(OURS)
    assert not (venv.site / "visivo" / "telemetry").exists()
    host_works(venv)
    venv.install(wheels[OURS])
    both_work(venv)
    venv.uninstall(HOST_DISTRIBUTION)
    assert not (venv.site / "visivo" / "__init__.py").exists()
    ours_works(venv)
    assert time.monotonic() - started < 60
