"""pyproject lists packages explicitly (the package-dir mapping hides them from discovery):
every directory with an __init__.py must be listed, or a wheel would silently lack it."""

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_package_directory_is_listed():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = config["package-dir"]
    found = set()
    for package, directory in mapping.items():
        for init in (REPO / directory).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / directory)
            found.add(".".join([package, *rel.parts]) if rel.parts else package)
    assert found == listed
