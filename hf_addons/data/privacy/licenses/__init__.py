"""Licence classification as ScanCode does it: :mod:`.matcher` (the engine: SPDX tags, exact rule matches in
:mod:`.rules`, the approximate stage in :mod:`.approx`), :mod:`.step` (the batched ``LicenseClassifier``).

The shipped data (``data/``) is compiled by ``tools/build_license_data.py`` (not part of the package).
"""

from hf_addons.data.privacy.licenses import approx, rules
from hf_addons.data.privacy.licenses.matcher import (
    CATEGORIES,
    DATA_FILE,
    SPDX_DATA_FILE,
    category_of,
    classify,
    classify_license,
    classify_repository,
    combine_expressions,
    evaluate_agreement,
    normalize,
    spdx_licensing,
)
from hf_addons.data.privacy.licenses.step import LicenseClassifier

__all__ = [
    "CATEGORIES",
    "DATA_FILE",
    "SPDX_DATA_FILE",
    "LicenseClassifier",
    "approx",
    "category_of",
    "classify",
    "classify_license",
    "classify_repository",
    "combine_expressions",
    "evaluate_agreement",
    "normalize",
    "spdx_licensing",
    "rules",
]
