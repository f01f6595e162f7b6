"""Licence classification of files, texts and repositories (``hf_addons.data.privacy.licenses.matcher``)."""

from __future__ import annotations

import json
import lzma
import textwrap

import pytest

from hf_addons.data.privacy.licenses import (
    DATA_FILE,
    SPDX_DATA_FILE,
    category_of,
    classify,
    classify_repository,
    evaluate_agreement,
)


# -------------------------------------------------------------------------------------------- licenses
def _reference_texts() -> dict[str, str]:
    return {r["spdx"]: r["text"] for r in json.loads(DATA_FILE.read_text())["licenses"]}


def test_every_reference_text_classifies_to_itself():
    refs = _reference_texts()
    assert len(refs) == 47
    wrong = {k: classify(v)["spdx"] for k, v in refs.items() if classify(v)["spdx"] != k}
    # ScanCode's readings, which the rules copy: its rule for the French CeCILL text matches the bilingual file;
    # the English half of the bilingual Mulan text is its own license in ScanCode (found approximately)
    assert wrong == {
        "CECILL-2.1": "LicenseRef-scancode-cecill-2.1-fr",
        "MulanPSL-2.0": "LicenseRef-scancode-mulanpsl-2.0-en AND MulanPSL-2.0",
    }


@pytest.mark.parametrize(
    "spdx", ["MIT", "Apache-2.0", "GPL-3.0-only", "BSD-3-Clause", "BSD-2-Clause", "MPL-2.0", "ISC"]
)
def test_perturbed_license_texts(spdx):
    text = _reference_texts()[spdx].replace("[year]", "2019").replace("[fullname]", "Jane Q. Hacker")
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
    reflowed = "\n\n".join(textwrap.fill(p, 61) for p in paragraphs)
    header = "Copyright (c) 2021-2024 Example Corp and contributors\n\n" + reflowed
    commented = "\n".join("# " + line for line in header.splitlines()) + "\n\nimport os\nprint(os.getcwd())\n"
    c_style = (
        "/*\n" + "\n".join(" * " + line for line in header.splitlines()) + "\n */\nint main() { return 0; }\n"
    )
    for variant in (reflowed, header, commented, c_style):
        r = classify(variant)
        assert (r["spdx"], r["method"]) == (spdx, "text"), r


def test_spdx_tags_notices_and_categories():
    assert classify("// SPDX-License-Identifier: GPL-2.0-or-later\nint x;")["category"] == "strong_copyleft"
    r = classify("# SPDX-License-Identifier: MIT OR Apache-2.0\n")
    assert (r["spdx"], r["method"], r["category"]) == ("MIT OR Apache-2.0", "spdx_tag", "permissive")
    apache = (
        '# Licensed under the Apache License, Version 2.0 (the "License");\n# you may not use this file\n'
    )
    assert classify(apache)["spdx"] == "Apache-2.0" and classify(apache)["method"] == "notice"
    lgpl = "/* under the terms of the GNU Lesser General Public License as published by ... version 2.1 */"
    # ScanCode 32.5 reads this fragment as LGPL-2.1-or-later (its rule), and so do we
    assert classify(lgpl)["spdx"] == "LGPL-2.1-or-later" and classify(lgpl)["category"] == "weak_copyleft"
    # a bare name is a ScanCode license-reference rule now; the _NAMES fallback names what no rule does
    assert classify("Apache 2.0\n")["spdx"] == "Apache-2.0" and classify("GPLv3")["spdx"] == "GPL-3.0-only"
    assert classify("def f():\n    return 1\n") == {
        "spdx": None,
        "category": "unknown",
        "method": "none",
        "score": 0.0,
    }
    assert classify(b"\x00\x01binary")["method"] == "binary"
    assert category_of("CC0-1.0") == "public_domain" and category_of(
        "GPL-2.0 WITH Classpath-exception-2.0"
    ) == ("weak_copyleft")
    assert category_of("MIT AND GPL-3.0") == "strong_copyleft" and category_of("Foo-1.0") == "unknown"
    assert evaluate_agreement([("GPL-2.0", "GPL-2.0-only"), ("MIT", "Apache-2.0")]) == 0.5


def test_scancode_reference_texts_classify_to_themselves():
    """The vendored SPDX-list texts (a spread of 100 of ~700) come back as their own id."""
    refs = json.loads(lzma.decompress(SPDX_DATA_FILE.read_bytes()))["licenses"]
    assert len(refs) > 600 and {"MPL-1.1", "Python-2.0", "LLVM-exception", "CNRI-Python"} <= {
        r["spdx"] for r in refs
    }
    sample = refs[:: len(refs) // 100]
    wrong = [(r["spdx"], classify(r["text"])["spdx"]) for r in sample]
    wrong = [w for w in wrong if w[0] != w[1]]
    assert len(wrong) <= 1, wrong


def test_license_expressions_notices_and_variants():
    refs = _reference_texts()
    extra = {
        r["spdx"]: r["text"] for r in json.loads(lzma.decompress(SPDX_DATA_FILE.read_bytes()))["licenses"]
    }
    # two license texts in one file: AND, in file order; one license + an exception written for it: WITH
    assert classify(refs["MIT"] + "\n\n" + refs["BSD-3-Clause"])["spdx"] == "MIT AND BSD-3-Clause"
    # an exception text apart from its license is ANDed, as ScanCode 32.5 reports this file; WITH comes from
    # a rule or a tag that says it
    r = classify(extra["Apache-2.0"] + "\n---- LLVM Exceptions ----\n" + extra["LLVM-exception"])
    assert (r["spdx"], r["category"]) == ("Apache-2.0 AND LLVM-exception", "permissive")
    r = classify("// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception\nint x;\n")
    assert (r["spdx"], r["category"]) == ("Apache-2.0 WITH LLVM-exception", "permissive")
    # the Apache text without its appendix is still Apache, not Pixar's reworded variant
    no_appendix = extra["Apache-2.0"].split("APPENDIX")[0]
    assert classify(no_appendix)["spdx"] == "Apache-2.0"
    assert classify(extra["MPL-1.1"])["spdx"] == "MPL-1.1" and category_of("MPL-1.1") == "weak_copyleft"
    gpl2plus = (
        "# This program is free software; you can redistribute it and/or modify it under the terms of\n"
        "# the GNU General Public License as published by the Free Software Foundation; either\n"
        "# version 2 of the License, or (at your option) any later version.\n"
    )
    assert classify(gpl2plus)["spdx"] == "GPL-2.0-or-later"
    lgpl3 = "/* under the terms of the GNU Lesser General Public License version 3 as published by the FSF */"
    assert classify(lgpl3)["spdx"] == "LGPL-3.0-or-later"  # ScanCode 32.5's reading of this fragment
    dual = "Licensed under either of Apache License, Version 2.0 or MIT license at your option."
    assert classify(dual)["spdx"] == "Apache-2.0 AND MIT"  # ScanCode 32.5: no rule reads this one as OR
    assert category_of("Apache-2.0 OR MIT") == "permissive"
    pointer = "This software is made available under the terms of *either* of the licenses found in\n"
    pointer += (
        "LICENSE.APACHE or LICENSE.BSD. Contributions are made under the terms of *both* these licenses.\n"
    )
    # ScanCode 32.5 aligns the whole file with a near-duplicate rule (one legalese word is left outside the
    # exact matches); exhaustive=False skips runs with fewer than 3 and keeps the exact rule's operand order
    assert classify(pointer)["spdx"] == "BSD-3-Clause OR Apache-2.0"
    assert classify(pointer, exhaustive=False)["spdx"] == "Apache-2.0 OR BSD-3-Clause"
    assert category_of("MIT AND fmt-exception") == "permissive" and category_of("Python-2.0") == "permissive"
    assert category_of("GPL-2.0-only OR LGPL-2.1-only OR MPL-1.1") == "weak_copyleft"
    # new ids keep the category of their family where choosealicense has one, else ScanCode's
    assert [category_of(i) for i in ("CC-BY-SA-3.0", "OFL-1.1-RFN", "EUPL-1.2", "GFDL-1.2-only")] == [
        "strong_copyleft", "weak_copyleft", "strong_copyleft", "strong_copyleft"]  # fmt: skip
    assert [category_of(i) for i in ("CDDL-1.0", "CC-BY-NC-4.0", "SSPL-1.0", "CC-PDDC")] == [
        "weak_copyleft", "unknown", "unknown", "public_domain"]  # fmt: skip


DEP5 = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: example
Source: https://example.org/example

Files: *
Copyright: 2001-2020 Jane Doe <jane@example.org>
License: GPL-2+

Files: lib/*
Copyright: 2010 John Roe
License: LGPL-2.1+ or MPL-1.1

Files: perl/*
Copyright: 2012 Perl Hacker
License: Artistic or GPL-1+

Files: debian/*
Copyright: 2015 Debian Maintainer
License: Expat

Files: vendor/fast.c
Copyright: 2018 Vendor Inc.
License: BSD-3-vendor

License: GPL-2+
 This program is free software; you can redistribute it and/or modify
 it under the terms of the GNU General Public License as published by
 the Free Software Foundation; either version 2 of the License, or
 (at your option) any later version.
 .
 On Debian systems, the complete text of the GNU General Public License
 version 2 can be found in "/usr/share/common-licenses/GPL-2".

License: BSD-3-vendor
{bsd}
"""


def _dep5_file() -> str:
    bsd = _reference_texts()["BSD-3-Clause"].replace("[year]", "2018").replace("[fullname]", "Vendor Inc.")
    body = "\n".join(" " + line if line.strip() else " ." for line in bsd.splitlines())
    return DEP5.format(bsd=body)


def test_dep5_copyright_file():
    """Debian machine-readable copyright files are read by ScanCode's rules for Debian short names
    ("License: GPL-2+", "License: Expat") and the texts in them: the same ids as ScanCode 32.5's answer."""
    r = classify(_dep5_file())
    assert r["category"] == "strong_copyleft"
    scancode = (
        "GPL-2.0-or-later AND LGPL-2.1-or-later AND MPL-1.1 AND Artistic-1.0-Perl AND GPL-1.0-or-later "
        "AND MIT AND BSD-3-Clause"
    )
    assert set(r["spdx"].split(" AND ")) == set(scancode.split(" AND "))


def test_debian_pointers_copyright_lines_and_near_ties():
    pointer = "On Debian systems the complete text of the GNU General Public License can be found in\n"
    assert classify(pointer + "`/usr/share/common-licenses/GPL'.\n")["spdx"] == "GPL-1.0-or-later"
    # ScanCode 32.5: the bare "GNU General Public License" is GPL-1.0-or-later, the pointer LGPL-2.1-only
    assert (
        classify(pointer + "/usr/share/common-licenses/LGPL-2.1.\n")["spdx"]
        == "GPL-1.0-or-later AND LGPL-2.1-only"
    )
    notice = (
        "This program is free software; you can redistribute it and/or modify it under the terms of the GNU\n"
        "General Public License as published by the Free Software Foundation; either version 2, or (at your\n"
        "option) any later version. You should have received a copy of the GNU General Public License with\n"
        "your Debian system, in /usr/share/common-licenses/GPL.\n"
    )
    # ScanCode 32.5's answer: its rule for the unversioned pointer adds GPL-1.0-or-later
    assert classify(notice)["spdx"] == "GPL-2.0-or-later AND GPL-1.0-or-later"
    # a license statement on a copyright line is read (ScanCode 32.5's rules call this one an unknown license
    # reference); the holder's name is not
    assert classify("Copyright (c) 2001 Secret Labs AB, licensed under CNRI's Python 1.6\n")["spdx"] == (
        "LicenseRef-scancode-unknown-license-reference"
    )
    assert classify("Copyright (c) 2001 The MIT Media Lab\n")["spdx"] is None
    # MPL-1.1 with its exhibit filled in: CUA-OPL-1.0 (MPL-1.1 renamed) shares more 3-grams, MPL-1.1 a
    # larger share of its own; the near-tie goes to the more common license, and each text alone is itself
    extra = {
        r["spdx"]: r["text"] for r in json.loads(lzma.decompress(SPDX_DATA_FILE.read_bytes()))["licenses"]
    }
    filled = extra["MPL-1.1"].replace("______________________________________", "Example Corp")
    filled += (
        "\nThe Initial Developer of the Original Code is Example Corp. Portions created by the Initial\n"
    )
    filled += "Developer are Copyright (C) 2013. All Rights Reserved. Contributor(s): Jane Doe.\n"
    assert classify(filled)["spdx"] == "MPL-1.1"
    assert [classify(extra[k])["spdx"] for k in ("CUA-OPL-1.0", "YPL-1.1", "CC-BY-1.0")] == [
        "CUA-OPL-1.0", "YPL-1.1", "CC-BY-1.0"]  # fmt: skip


def test_scancode_only_licenses_by_rule():
    """Non-SPDX ScanCode licenses kept by a rule (full texts named by >= 5 ScanCode rules), never generic."""
    payload = json.loads(lzma.decompress(SPDX_DATA_FILE.read_bytes()))
    refs = {r["spdx"]: r for r in payload["licenses"]}
    extra = [k for k in refs if k.startswith("LicenseRef-scancode-")]
    assert 50 <= len(extra) <= 120 and all(payload["popularity"][k] >= 5 for k in extra)
    assert not {"LicenseRef-scancode-proprietary-license", "LicenseRef-scancode-other-permissive",
                "LicenseRef-scancode-unknown-license-reference", "LicenseRef-scancode-warranty-disclaimer"} & set(refs)  # fmt: skip
    wordnet = refs["LicenseRef-scancode-wordnet"]["text"]
    r = classify("WordNet 3.0 license:\n\n" + textwrap.fill(" ".join(wordnet.split()), 70))
    assert (r["spdx"], r["category"]) == ("LicenseRef-scancode-wordnet", "permissive")
    assert category_of("LicenseRef-scancode-unicode") == "permissive"


def test_classify_repository(tmp_path):
    refs = _reference_texts()
    (tmp_path / "LICENSE").write_text(refs["MIT"])
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("# SPDX-License-Identifier: MIT\nx = 1\n")
    (tmp_path / "src" / "b.py").write_text("y = 2\n")
    r = classify_repository(tmp_path)
    assert (r["spdx"], r["category"], r["permissive"], r["license_files"]) == (
        "MIT",
        "permissive",
        True,
        ["LICENSE"],
    )
    (tmp_path / "src" / "gpl.c").write_text("/* SPDX-License-Identifier: GPL-3.0-only */\n")
    assert classify_repository(tmp_path)["permissive"] is False
    with pytest.raises(FileNotFoundError):
        classify_repository(tmp_path / "missing")


def test_shared_license_texts_match(shared):
    folder = shared("data", "licenses")
    pairs = []
    for path in sorted(folder.glob("*.txt")):
        raw = path.read_text()
        spdx = next(line.split(":", 1)[1].strip() for line in raw.splitlines() if line.startswith("spdx-id:"))
        pairs.append((classify(raw.split("---", 2)[2])["spdx"], spdx))
    # 45 of 47: ScanCode's rule for the French CeCILL text matches the bilingual CeCILL file, and the Mulan
    # file is ScanCode's mulanpsl-2.0-en AND MulanPSL-2.0 (its answers too)
    assert len(pairs) == 47 and evaluate_agreement(pairs) == 45 / 47
