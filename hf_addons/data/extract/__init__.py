"""HTML to Markdown extraction (trafilatura with boilerplate pruning).

``hf_addons.data.extract`` was a module before the folders by kind; its names still resolve here (from
``html``) for one release. Import from ``hf_addons.data`` or ``hf_addons.data.extract.html`` instead.
"""

from hf_addons.data.base import forward_names_to

__getattr__ = forward_names_to(__name__, "html")
