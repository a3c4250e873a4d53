"""mockgraph: a local mock of the Microsoft Graph beta ``trustFramework/keySets`` API."""

from .app import create_app
from .config import Config
from .errors import GraphError
from .models import Key, KeySet
from .server import MockGraphServer
from .store import Store

__all__ = ["Config", "GraphError", "Key", "KeySet", "MockGraphServer", "Store", "create_app"]
