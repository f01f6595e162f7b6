"""Mixtures: weighted, temperature-sampled interleaving of sources by token counts.

``hf_addons.data.mixture`` was a module before the folders by kind; its names still resolve here (from
``mixture``) for one release. Import from ``hf_addons.data`` or ``hf_addons.data.mixture.mixture`` instead.
"""

from hf_addons.data.base import forward_names_to

__getattr__ = forward_names_to(__name__, "mixture")
