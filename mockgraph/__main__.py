"""``python -m mockgraph``: the same as the ``mockgraph`` command."""

from mockgraph.cli import main

main()
