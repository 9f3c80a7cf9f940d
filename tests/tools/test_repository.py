"""The repository stands on its own: nothing in it sends the reader to files outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Documents that live beside the repository, never in it.
OUTSIDE = re.compile(r"\b(DESIGN\.md|BROWSER_RUNTIME\.md|STYLE\.md)\b|\.\./shared/")
DOC_LINK = re.compile(r"`(docs/[\w./-]+\.md)`")


def tracked_text_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    paths = [ROOT / name for name in names if not name.endswith((".lock", ".png", ".ico"))]
    return [path for path in paths if path.is_file()]


def test_no_file_points_at_documents_outside_the_repository() -> None:
    files = tracked_text_files()
    assert len(files) > 20
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in files
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line) and path.name != Path(__file__).name
    ]
    assert offenders == []


def test_every_docs_page_named_in_the_repository_exists() -> None:
    named = {
        match
        for path in tracked_text_files()
        for match in DOC_LINK.findall(path.read_text(errors="replace"))
    }
    assert named, "no file names a docs/ page"
    assert sorted(name for name in named if not (ROOT / name).is_file()) == []
