"""Graph doc pages (Markdown) -> JSON Schema contracts and example fixtures, and the checks and
replays of example files against them: the build tools (``mockgraph contracts``)."""
