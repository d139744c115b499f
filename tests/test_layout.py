"""The README's "Repository layout" matches the tree: every module of the package, every
top-level folder, script, document and recipe is named there, and every module it names exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "asr"
SKIP = ("__init__.py", "__main__.py")  # the package folder itself stands for these


def layout_entries() -> dict[str, str]:
    """The layout block's entries, ``{head: text}``: a line indented by 0 (a top-level path) or
    2 (a module or folder of ``asr/``) starts an entry, deeper-indented lines continue it; the
    head is its first word (``audio.py``, ``data/``, ``recipes/mini/``), 2-indented heads
    prefixed with ``asr/``."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Repository layout\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```\n(.*?)```", section, re.S).group(1)
    entries: dict[str, str] = {}
    head = None
    for line in block.splitlines():
        indent = len(line) - len(line.lstrip())
        if line.strip() and indent in (0, 2):
            head = ("asr/" if indent == 2 else "") + line.split()[0]
            entries[head] = ""
        if head is not None:
            entries[head] += line + "\n"
    return entries


def modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if p.name not in SKIP
                  and "__pycache__" not in p.parts)


def test_every_module_is_in_the_readme_layout():
    entries = layout_entries()
    missing = []
    for path in modules(PACKAGE):
        parts = path.relative_to(PACKAGE).parts
        if len(parts) == 1:  # asr/audio.py: an entry of its own
            if f"asr/{path.name}" not in entries:
                missing.append(f"asr/{path.name}")
            continue
        text = entries.get(f"asr/{parts[0]}/", "")  # asr/data/engines/flite.py: in data/'s entry
        for depth in range(1, len(parts)):  # engines/, then flite.py
            name = parts[depth] + ("/" if depth < len(parts) - 1 else "")
            if not re.search(rf"(?<![\w/.-]){re.escape(name)}", text):
                missing.append("asr/" + "/".join(parts[: depth + 1]))
    missing = list(dict.fromkeys(missing))
    assert not missing, f"not in README.md's layout section: {missing}"


def test_every_module_the_readme_layout_names_exists():
    gone = []
    for head, text in layout_entries().items():
        if head.startswith("asr/") and head.endswith("/"):
            present = {p.name for p in modules(PACKAGE / head[4:])} | set(SKIP)
            gone += [f"{head}{n}" for n in re.findall(r"[\w-]+\.py\b", text) if n not in present]
        elif head.startswith("asr/") and not (PACKAGE / head[4:]).is_file():
            gone.append(head)
    assert not gone, f"README.md's layout names modules that do not exist: {gone}"


def test_top_level_folders_scripts_docs_and_recipes_are_in_the_readme_layout():
    try:
        tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                                 check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    entries = layout_entries()
    heads = list(entries)
    missing = [f"{d}/" for d in sorted({p.split("/")[0] for p in tracked if "/" in p})
               if not any(h.startswith(f"{d}/") for h in heads)]
    missing += [f"recipes/{r}/" for r in sorted({p.split("/")[1] for p in tracked
                                                 if p.startswith("recipes/") and p.count("/") > 1})
                if f"recipes/{r}/" not in heads]
    for folder in ("scripts", "docs"):
        text = "".join(t for h, t in entries.items() if h.startswith(f"{folder}/"))
        missing += [p for p in tracked if p.startswith(f"{folder}/")
                    and Path(p).name not in text]
    assert not missing, f"not in README.md's layout section: {missing}"
