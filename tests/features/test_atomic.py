"""Files written whole or not at all (``write_atomically``), and the lock that keeps a second
owner off a file (``lock_file``)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from mockgraph.features.atomic import lock_file, write_atomically


def test_a_write_replaces_the_file_whole_and_only_its_owner_may_read_it(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("old", encoding="utf-8")
    write_atomically(path, ["{", '"a": 1', "}\n"])
    assert path.read_text(encoding="utf-8") == '{"a": 1}\n'
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    if sys.platform != "win32":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_new_file_is_on_disk_before_it_replaces_the_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    path.write_text("old", encoding="utf-8")
    seen: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        # What the target holds when each fsync runs: the temp file's fsync comes before the
        # rename (the target still "old"), the folder's after it.
        seen.append(path.read_text(encoding="utf-8"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_atomically(path, "new")
    assert seen == (["old"] if os.name == "nt" else ["old", "new"])


def test_a_write_into_a_missing_folder_raises_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_atomically(tmp_path / "missing" / "state.json", "new")
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_write_leaves_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    path.write_text("old", encoding="utf-8")

    def crash(src: str, dst: str) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        write_atomically(path, "new")
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_a_held_lock_refuses_a_second_holder_until_it_is_released(tmp_path: Path) -> None:
    first = lock_file(tmp_path / "x.lock", wait=False)
    with pytest.raises(BlockingIOError):
        lock_file(tmp_path / "x.lock", wait=False)
    first.close()
    lock_file(tmp_path / "x.lock", wait=False).close()
