"""The rnnkit command: clear one-line errors, chapter resolution, device choice."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import rnnkit
from rnnkit.cli import main
from rnnkit.paths import CourseError, find_root, resolve_chapters


def test_find_root_from_a_subfolder(repo: Path) -> None:
    assert find_root(repo / "solutions") == repo


def test_find_root_outside_a_course(tmp_path: Path) -> None:
    with pytest.raises(CourseError, match="no course found"):
        find_root(tmp_path)


def test_resolve_chapters_by_number_and_name(repo: Path) -> None:
    assert resolve_chapters(repo, ["01"]) == ["01_sequences"]
    assert resolve_chapters(repo, ["01_sequences"]) == ["01_sequences"]
    with pytest.raises(CourseError, match="unknown chapter '99'"):
        resolve_chapters(repo, ["99"])


def test_unknown_chapter_is_one_line(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(repo), "release", "--check", "99"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnkit: error: unknown chapter '99'") and err.count("\n") == 1


def test_missing_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "solutions").mkdir()
    assert main(["--root", str(tmp_path), "validate"]) == 2
    assert "no course found" in capsys.readouterr().err


def test_extra_arguments_are_refused_outside_lab(repo: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--root", str(repo), "release", "--bogus"])


def test_device_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNKIT_DEVICE", "cpu")
    assert rnnkit.device() == torch.device("cpu")
    monkeypatch.setenv("RNNKIT_DEVICE", "warp-drive")
    with pytest.raises(ValueError, match="RNNKIT_DEVICE='warp-drive'"):
        rnnkit.device()
    monkeypatch.delenv("RNNKIT_DEVICE")
    assert rnnkit.device().type in {"cpu", "cuda", "mps"}
