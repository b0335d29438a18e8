"""What the tools read beside the package, shipped inside it: template.yaml and the functions'
handlers (the local runner), and the registry API contract (the conformance check).

In a checkout these are links to the files at the top of the repository, the one copy of each;
a built wheel holds the files themselves, so an installed `lapsewatch` needs no checkout.
"""

from importlib import resources
from pathlib import Path


def bundled(name: str) -> Path:
    """The path of a bundled file or folder ("template.yaml", "functions", "registry-api.yaml")."""
    return Path(str(resources.files(__package__) / name))
