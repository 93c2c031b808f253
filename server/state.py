"""The server's mutable state: the scenario catalog, the reply counters, stored responses."""

from dataclasses import dataclass, field

from server.apis.response_store import ResponseStore
from server.scenarios import Catalog, load_paths
from server.scenarios.catalog import Counters
from server.settings import Settings


@dataclass
class ServerState:
    settings: Settings
    catalog: Catalog
    counters: Counters = field(default_factory=Counters)
    responses: ResponseStore = field(default_factory=ResponseStore)

    @classmethod
    def load(cls, settings: Settings) -> "ServerState":
        """Load the catalog named by ``settings``; raises ``ScenarioError`` if any file is bad."""
        return cls(
            settings=settings,
            catalog=Catalog(load_paths(settings.scenarios)),
            responses=ResponseStore(settings.response_store_size),
        )
