"""mockgraph: a local mock of the Microsoft Graph beta ``trustFramework`` APIs."""

from mockgraph.app import create_app
from mockgraph.config import Config
from mockgraph.http.errors import GraphError
from mockgraph.resources.keysets.models import Key, KeySet
from mockgraph.resources.store import Store
from mockgraph.serve.live import MockGraphServer

__all__ = ["Config", "GraphError", "Key", "KeySet", "MockGraphServer", "Store", "create_app"]
