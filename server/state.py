"""The server's mutable state: the scenario catalog and the reply counters."""

from dataclasses import dataclass, field

from server.scenarios import Catalog, load_paths
from server.scenarios.catalog import Counters
from server.settings import Settings


@dataclass
class ServerState:
    settings: Settings
    catalog: Catalog
    counters: Counters = field(default_factory=Counters)

    @classmethod
    def load(cls, settings: Settings) -> "ServerState":
        """Load the catalog named by ``settings``; raises ``ScenarioError`` if any file is bad."""
        return cls(settings=settings, catalog=Catalog(load_paths(settings.scenarios)))
