"""The README is a front door and docs/ holds the reference: links resolve, commands exist, the README stays short.

Plain text checks only (no TensorFlow): every relative link in README.md and docs/*.md names a file that
exists (and, where it names a heading, a heading that exists), the README's first commands are Makefile
targets, the README has at most 300 lines, and every page of docs/ is linked from the README.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
MAKEFILE = REPO / "Makefile"
MAX_README_LINES = 300

# [text](target) and ![alt](target), with an optional "title" after the target.
LINK = re.compile(r"!?\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$", re.M)
EXTERNAL = ("http://", "https://", "mailto:")


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def _prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where brackets are not links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def links(page: Path) -> list[str]:
    """Every link target of a page, in order, external ones included."""
    return [m.group("target") for m in LINK.finditer(_prose(page.read_text(encoding="utf-8")))]


def relative_links(page: Path) -> list[tuple[str, Path, str]]:
    """(link as written, the file it names, its #fragment or "") for each relative link to a file."""
    found = []
    for target in links(page):
        if target.lower().startswith(EXTERNAL) or target.startswith("#"):
            continue
        path, _, fragment = target.partition("#")
        found.append((target, (page.parent / path).resolve(), fragment))
    return found


def slug(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    title = re.sub(r"[*_`]", "", re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title))
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings, with GitHub's -1, -2 suffixes for repeated ones."""
    seen: dict[str, int] = {}
    result = set()
    for m in HEADING.finditer(FENCE.sub("", page.read_text(encoding="utf-8"))):
        base = slug(m.group("title"))
        n = seen.get(base, 0)
        seen[base] = n + 1
        result.add(base if n == 0 else f"{base}-{n}")
    return result


def make_targets() -> set[str]:
    """Targets of the Makefile: lines `name:` (not variable assignments `name := ...`)."""
    text = MAKEFILE.read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.M)}


def first_sh_block(text: str) -> list[str]:
    """The non-empty lines of the first ```sh block, comments removed."""
    m = re.search(r"^```sh\s*\n(.*?)^```", text, re.M | re.S)
    assert m, "README.md has no ```sh block"
    lines = [line.split("#", 1)[0].strip() for line in m.group(1).splitlines()]
    return [line for line in lines if line]


def test_docs_exist() -> None:
    assert README.is_file()
    assert len(list(DOCS.glob("*.md"))) >= 8, "docs/ should hold at least eight Markdown pages"


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_name_files_that_exist(page: Path) -> None:
    broken = [target for target, path, _ in relative_links(page) if not path.exists()]
    assert not broken, f"{page.relative_to(REPO)} links to files that do not exist: {broken}"


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_anchors_name_headings_that_exist(page: Path) -> None:
    broken = []
    for target in links(page):
        if target.startswith("#") and target[1:] not in anchors(page):
            broken.append(target)
    for target, path, fragment in relative_links(page):
        if fragment and path.suffix == ".md" and path.is_file() and fragment not in anchors(path):
            broken.append(target)
    assert not broken, f"{page.relative_to(REPO)} links to headings that do not exist: {broken}"


def test_readme_commands_are_makefile_targets() -> None:
    commands = first_sh_block(README.read_text(encoding="utf-8"))
    assert commands, "the README's first ```sh block holds no command"
    targets = make_targets()
    for command in commands:
        words = command.split()
        assert words[0] == "make" and len(words) >= 2, f"not a make command: {command!r}"
        missing = [w for w in words[1:] if "=" not in w and not w.startswith("-") and w not in targets]
        assert not missing, f"{command!r} names targets the Makefile lacks: {missing} (has {sorted(targets)})"


def test_readme_first_commands_are_run_and_test() -> None:
    assert first_sh_block(README.read_text(encoding="utf-8")) == ["make run", "make test"]


def test_readme_is_short() -> None:
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_README_LINES, f"README.md has {n} lines; at most {MAX_README_LINES} (move reference to docs/)"


def test_every_docs_page_is_linked_from_readme() -> None:
    linked = {path for _, path, _ in relative_links(README)}
    unlinked = [p.name for p in sorted(DOCS.glob("*.md")) if p.resolve() not in linked]
    assert not unlinked, f"docs pages not linked from README.md: {unlinked}"


def test_link_parser_sees_links_and_skips_code(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "See [a](a.md#x), ![b](img/b.png), [web](https://example.org), [mail](mailto:x@y), [here](#top).\n"
        "`[not](inline.md)`\n```python\nf([1])(2)\n[no](fenced.md)\n```\n# Top\n",
        encoding="utf-8",
    )
    assert links(page) == ["a.md#x", "img/b.png", "https://example.org", "mailto:x@y", "#top"]
    assert [(t, p.name, f) for t, p, f in relative_links(page)] == [("a.md#x", "a.md", "x"), ("img/b.png", "b.png", "")]
    assert anchors(page) == {"top"}
    assert slug("Can I trust it?") == "can-i-trust-it"
    assert slug("Battle for Wesnoth's units") == "battle-for-wesnoths-units"
