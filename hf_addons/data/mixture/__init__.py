"""Mixtures: token-true weighted interleaving of sources (:mod:`.mixture`) and the proxy-model search for
the weights (:mod:`.search`, RegMix-style, built from :mod:`.space`, :mod:`.bundle`, :mod:`.proxy` and
:mod:`.regression`; :mod:`.doremi`, DoReMi's Group-DRO reweighting), and the check of a recommendation on
larger proxies (:mod:`.scale_check`).

``hf_addons.data.mixture`` was a module before the folders by kind; its names still resolve here (from
``mixture``) for one release. Import from ``hf_addons.data`` or ``hf_addons.data.mixture.mixture`` instead.
"""

from hf_addons.data.base import forward_names_to

__getattr__ = forward_names_to(__name__, "mixture")
