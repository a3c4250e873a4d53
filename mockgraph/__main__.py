"""``python -m mockgraph``: the same as the ``mockgraph`` command."""

from .cli import main

main()
