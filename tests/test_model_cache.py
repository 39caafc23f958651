"""verl_ext.models.cache.build_once: an entry is built once, whole, however many processes ask at the same time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from verl_ext.models.cache import build_once, cache_root


def _complete(entry: Path) -> bool:
    return (entry / "done").exists()


def _writer(log: list[Path]):
    def build(folder: Path) -> None:
        log.append(folder)
        (folder / "done").write_text("built")

    return build


def test_an_absent_entry_is_built_and_a_complete_one_is_read(tmp_path: Path) -> None:
    target, built = tmp_path / "cache" / "entry", []
    assert build_once(target, _complete, _writer(built)) is True
    assert (target / "done").read_text() == "built" and len(built) == 1
    assert build_once(target, _complete, _writer(built)) is False
    assert len(built) == 1
    assert sorted(path.name for path in target.parent.iterdir()) == [".entry.lock", "entry"]  # no staging left


def test_a_failed_build_leaves_no_entry_and_the_next_call_builds(tmp_path: Path) -> None:
    target = tmp_path / "entry"

    def broken(folder: Path) -> None:
        (folder / "half").write_text("")
        raise RuntimeError("out of disk")

    with pytest.raises(RuntimeError, match="out of disk"):
        build_once(target, _complete, broken)
    assert not target.exists() and [path.name for path in tmp_path.iterdir()] == [".entry.lock"]
    assert build_once(target, _complete, _writer([])) is True


def test_an_incomplete_entry_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "entry"
    target.mkdir()
    (target / "stale").write_text("")
    assert build_once(target, _complete, _writer([])) is True
    assert sorted(path.name for path in target.iterdir()) == ["done"]


# Each process says it is asking, then asks for the same entry; the build waits until all three have said so (so
# the other two asked while it ran), then appends a line to a shared file.
_ASK = r"""
import sys, time
from pathlib import Path
from verl_ext.models.cache import build_once
target, builds, asking = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
(asking / sys.argv[4]).touch()

def build(folder):
    deadline = time.monotonic() + 60
    while len(list(asking.iterdir())) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(2.0)  # the others are in build_once by now: at the lock, or about to reach it
    with builds.open("a") as log:
        log.write("built\n")
    (folder / "done").write_text("built")

print(build_once(target, lambda entry: (entry / "done").exists(), build))
"""


def test_processes_asking_at_once_build_the_entry_once(tmp_path: Path) -> None:
    target, builds, asking = tmp_path / "entry", tmp_path / "builds.txt", tmp_path / "asking"
    asking.mkdir()
    asks = [
        subprocess.Popen(
            [sys.executable, "-c", _ASK, str(target), str(builds), str(asking), str(number)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for number in range(3)
    ]
    outputs = [ask.communicate(timeout=120) for ask in asks]
    assert sorted(out.strip() for out, _ in outputs) == ["False", "False", "True"]  # one built, two read its entry
    assert builds.read_text() == "built\n"
    assert (target / "done").read_text() == "built"
    waited = [err for err in outputs if "waiting for another process building" in err[1]]
    assert len(waited) == 2, outputs  # each waiting process said so, once


def test_a_build_that_leaves_an_incomplete_entry_is_an_error_and_no_entry(tmp_path: Path) -> None:
    target = tmp_path / "entry"
    with pytest.raises(RuntimeError, match="incomplete entry"):
        build_once(target, _complete, lambda folder: (folder / "half").write_text(""))
    assert not target.exists()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"VERL_EXT_CACHE": "/data/cache"}, "/data/cache"),
        ({"XDG_CACHE_HOME": "/xdg"}, "/xdg/verl-ext"),
        ({}, str(Path.home() / ".cache" / "verl-ext")),
    ],
)
def test_the_cache_root_follows_verl_ext_cache_then_xdg(monkeypatch: pytest.MonkeyPatch, env, expected) -> None:
    for name in ("VERL_EXT_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert str(cache_root()) == expected
