"""Repository roll-up: one valid SPDX expression (precedence, parentheses, unique ids), OR for license choices."""

from __future__ import annotations

import json

import pytest

from hf_addons.data.privacy.licenses import (
    DATA_FILE,
    classify,
    classify_repository,
    combine_expressions,
    spdx_licensing,
)


@pytest.fixture(scope="module")
def refs() -> dict[str, str]:
    return {r["spdx"]: r["text"] for r in json.loads(DATA_FILE.read_text())["licenses"]}


def round_trips(expression: str) -> bool:
    """Valid SPDX: parses, and printing the parse gives the same expression back."""
    lic = spdx_licensing()
    parsed = lic.parse(expression, validate=False)
    return str(lic.parse(str(parsed), validate=False)) == expression == str(parsed)


def ids(expression: str) -> list[str]:
    return [k.key for k in spdx_licensing().license_symbols(expression, unique=False)]


def test_combine_keeps_grouping_and_unique_ids():
    e = combine_expressions(["MIT OR Unlicense", "MIT", "Unlicense", "MIT"])
    assert e == "MIT AND Unlicense" and round_trips(e)  # MIT AND (MIT OR Unlicense) is MIT: absorbed
    assert combine_expressions(["Unlicense", "MIT OR Apache-2.0"]) == "Unlicense AND (MIT OR Apache-2.0)"
    assert combine_expressions(["MIT", "MIT AND Zlib", "Apache-2.0"], "OR") == "MIT OR Apache-2.0"
    assert combine_expressions(["MIT OR Apache-2.0", "MIT OR Apache-2.0"]) == "MIT OR Apache-2.0"
    assert combine_expressions(["Apache-2.0", "MIT"], "OR") == "Apache-2.0 OR MIT"
    assert combine_expressions([]) is None
    with pytest.raises(ValueError, match="relation"):
        combine_expressions(["MIT"], "XOR")


def test_per_license_files_are_a_choice(refs):
    files = {"LICENSE-MIT": refs["MIT"], "LICENSE-APACHE": refs["Apache-2.0"], "src/lib.rs": "fn main() {}\n"}
    r = classify_repository(files)
    assert (r["spdx"], r["relation"], r["category"], r["permissive"]) == (
        "Apache-2.0 OR MIT", "OR", "permissive", True
    )  # fmt: skip
    gpl = classify_repository({**files, "LICENSE-GPL": refs["GPL-3.0-only"]})
    assert gpl["relation"] == "OR" and sorted(ids(gpl["spdx"])) == ["Apache-2.0", "GPL-3.0-only", "MIT"]
    assert gpl["permissive"] is True and round_trips(gpl["spdx"])  # OR: the permissive choice is allowed


def test_readme_or_manifest_choice_and_plain_and(refs):
    both = {"LICENSE": refs["MIT"], "COPYING": refs["GPL-3.0-only"]}
    r = classify_repository(both)
    assert (r["spdx"], r["relation"], r["permissive"]) == ("GPL-3.0-only AND MIT", "AND", False)
    readme = classify_repository({**both, "README.md": "Dual-licensed: MIT or GPL-3.0, at your option.\n"})
    assert (readme["spdx"], readme["relation"], readme["permissive"]) == ("GPL-3.0-only OR MIT", "OR", True)
    cargo = classify_repository({**both, "Cargo.toml": '[package]\nlicense = "MIT OR GPL-3.0-only"\n'})
    assert cargo["relation"] == "OR"
    only_manifest = classify_repository({"package.json": '{"license": "(MIT OR Apache-2.0)"}'})
    assert only_manifest["spdx"] == "MIT OR Apache-2.0"


def test_every_rollup_is_unique_and_round_trips(refs):
    for files in (
        {"LICENSE": refs["MIT"] + "\n\n" + refs["Unlicense"], "COPYING": refs["Unlicense"]},
        {"LICENSE-MIT": refs["MIT"], "LICENSE-APACHE": refs["Apache-2.0"], "LICENSE": refs["MIT"]},
        {"LICENSE": refs["Apache-2.0"], "a.py": "# SPDX-License-Identifier: MIT OR Apache-2.0\n"},
    ):
        spdx = classify_repository(files)["spdx"]
        assert round_trips(spdx) and len(ids(spdx)) == len(set(ids(spdx))), spdx


@pytest.mark.parametrize(
    "header,spdx",
    [
        ("/* Released under the GNU GPLv2+ */\nint x;\n", "GPL-2.0-or-later"),
        ("# Released under the GNU GPLv2+.\n", "GPL-2.0-or-later"),
        ("Licensed under GPLv3+\n", "GPL-3.0-or-later"),
        ("This program is released under the GNU LGPLv2.1+\n", "LGPL-2.1-or-later"),
    ],
)
def test_gpl_shorthand_or_later(header, spdx):
    r = classify(header)
    assert r["spdx"] == spdx and r["category"] != "permissive"
