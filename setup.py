"""The packages: every one under ``mockgraph/`` (a new resource folder needs no line here),
plus the contracts of ``schemas/`` and the examples of ``fixtures/examples/`` shipped inside
``mockgraph`` so that an installed copy finds them. The rest of the metadata is in setup.cfg."""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["mockgraph", "mockgraph.*"]),
        "mockgraph.schemas",
        "mockgraph.examples",
    ],
    package_dir={"mockgraph.schemas": "schemas", "mockgraph.examples": "fixtures/examples"},
)
