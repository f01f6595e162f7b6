"""Deduplication: exact hashes and MinHash-LSH near-duplicates, global over all shards.

``hf_addons.data.dedup`` was a module before the folders by kind; its names still resolve here (from
``minhash``) for one release. Import from ``hf_addons.data`` or ``hf_addons.data.dedup.minhash`` instead.
"""

from hf_addons.data.base import forward_names_to

__getattr__ = forward_names_to(__name__, "minhash")
