"""The documentation stays true to the code.

* every registered provider has a page under ``docs/providers/``, and every page there is a provider;
* each page's capability table matches the provider's registered capabilities;
* each page's option table lists exactly the provider's options, with the right environment variable and default;
* every ``MDSDK_<PROVIDER>_<OPTION>`` variable named in the docs or the README is an option of that provider
  (on a provider's page, of that provider);
* every relative link in ``docs/`` and ``README.md`` resolves inside the repository (anchors included);
* ``docs/README.md`` links every page, and the README links ``docs/``.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Dict, List, Set

import pytest

from mdsdk.registry import get_spec, known_providers

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PROVIDERS = known_providers()
PAGES = sorted(DOCS.rglob("*.md"))
LINKED = PAGES + [ROOT / "README.md"]

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
_ENV = re.compile(r"\bMDSDK_[A-Z0-9_]*")
# The switches of the optional compiled decoder, and where each is read.
_BUILD_AND_RUN = {"MDSDK_NO_EXTENSIONS": ROOT / "setup.py", "MDSDK_PURE_PYTHON": ROOT / "mdsdk/providers/fields.py"}
_CODE = re.compile(r"`([^`]+)`")


def page(provider: str) -> Path:
    return DOCS / "providers" / f"{provider}.md"


def table(text: str, heading: str) -> List[List[str]]:
    """The body rows (cells stripped) of the first Markdown table under the heading ``heading``."""
    lines = _FENCE.sub("", text).splitlines()
    starts = [i for i, line in enumerate(lines) if re.fullmatch(rf"#+\s+{re.escape(heading)}\s*", line.strip())]
    assert starts, f"no '{heading}' heading"
    rows: List[List[str]] = []
    for line in lines[starts[0] + 1:]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    assert len(rows) > 2, f"no table under '{heading}'"
    return rows[2:]  # past the header and the |---| line


def codes(cell: str) -> List[str]:
    return _CODE.findall(cell)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = _CODE.sub(lambda m: m.group(1), heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> Set[str]:
    seen: Dict[str, int] = {}
    out = set()
    for heading in _HEADING.findall(_FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_provider_has_a_page(provider: str) -> None:
    assert page(provider).is_file(), f"docs/providers/{provider}.md is missing"


def test_every_provider_page_is_a_provider() -> None:
    stray = {p.stem for p in (DOCS / "providers").glob("*.md")} - set(PROVIDERS)
    assert not stray, f"pages for unregistered providers: {sorted(stray)}"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_capability_table_matches_the_registry(provider: str) -> None:
    caps = get_spec(provider).capabilities
    want = dataclasses.asdict(caps)
    want["notices"] = caps.notices
    got: Dict[str, object] = {}
    for name, value, *_ in table(page(provider).read_text(encoding="utf-8"), "Capabilities"):
        if isinstance(want.get(name), bool):
            assert value in ("yes", "no"), f"{provider}: capability {name} is {value!r}, not yes/no"
            got[name] = value == "yes"
        else:
            got[name] = set(codes(value))
    assert set(got) == set(want), f"{provider}: the table's rows differ from the registry's capabilities"
    for name, value in want.items():
        expected = value if isinstance(value, bool) else set(value)
        assert got[name] == expected, f"{provider}: capability {name} is {got[name]} in the docs, {expected} in code"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_option_table_matches_the_spec(provider: str) -> None:
    options = {o.name: o for o in get_spec(provider).options}
    rows = table(page(provider).read_text(encoding="utf-8"), "Credentials and options")
    listed = [codes(row[0])[0] for row in rows]
    assert sorted(listed) == sorted(options), f"{provider}: documented options differ from the spec's"
    for row in rows:
        opt = options[codes(row[0])[0]]
        assert codes(row[1]) == [f"MDSDK_{provider.upper()}_{opt.name.upper()}"], f"{provider}: {opt.name} env var"
        shown = codes(row[2])
        if opt.default is None:
            assert row[2] == "-", f"{provider}: {opt.name} has no default, the docs say {row[2]!r}"
        else:
            assert shown == [str(opt.default)], f"{provider}: {opt.name} defaults to {opt.default!r}, not {row[2]}"


@pytest.mark.parametrize("path", LINKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_environment_variables_are_options(path: Path) -> None:
    name = path.relative_to(ROOT)
    on_page = path.stem if path.parent == DOCS / "providers" else None
    for var in set(_ENV.findall(path.read_text(encoding="utf-8"))):
        if var.endswith("_"):  # a pattern such as MDSDK_<PROVIDER>_<OPTION> or MDSDK_SCHWAB_*
            continue
        if var in _BUILD_AND_RUN:  # not a provider's: the code that reads it must exist
            assert var in _BUILD_AND_RUN[var].read_text(encoding="utf-8"), f"{name}: nothing reads {var}"
            continue
        owners = [p for p in PROVIDERS if var.startswith(f"MDSDK_{p.upper().replace('-', '_')}_")]
        assert owners, f"{name}: {var} names no registered provider"
        provider = max(owners, key=len)
        assert on_page in (None, provider), f"{name}: {var} belongs to {provider}, not {on_page}"
        option = var[len(f"MDSDK_{provider}_"):].lower()
        assert option in {o.name for o in get_spec(provider).options}, f"{name}: {var} is no {provider} option"


@pytest.mark.parametrize("path", LINKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    name = path.relative_to(ROOT)
    text = _INLINE_CODE.sub("", _FENCE.sub("", path.read_text(encoding="utf-8")))
    for link in _LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", link):  # https:, mailto: ...
            continue
        target, _, anchor = link.partition("#")
        dest = (path.parent / target).resolve() if target else path
        assert dest.exists(), f"{name}: link {link!r} points at nothing"
        assert ROOT in dest.parents or dest == ROOT, f"{name}: link {link!r} leaves the repository"
        if anchor and dest.suffix == ".md":
            assert anchor in anchors(dest), f"{name}: link {link!r}: no heading '#{anchor}' there"


def test_the_index_links_every_page_and_the_readme_links_the_index() -> None:
    index = DOCS / "README.md"
    linked = {(index.parent / link.partition("#")[0]).resolve() for link in _LINK.findall(index.read_text("utf-8"))}
    missing = [str(p.relative_to(DOCS)) for p in PAGES if p != index and p.resolve() not in linked]
    assert not missing, f"docs/README.md does not link {missing}"
    assert "(docs/README.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
