"""A request's part in the replies the server keeps: the one it continues
(``previous_response_id``, a thread's ``previous_message_id``) and what is kept of its own.

A Responses reply can be continued any number of times. A thread's reply (Anthropic)
can be continued once: it is claimed while its continuation is answered, so a second
continue meanwhile is ``in flight`` and one after is ``already continued``; a
continuation refused or abandoned before its reply gives the claim back. A thread holds
a streamed turn only if the client read all of it.
"""

from understudy.core.request import NeutralRequest
from understudy.providers import ApiModule, Stored
from understudy.record.journal import Call
from understudy.state import ServerState
from understudy.stream.writer import StreamOutcome


class Kept:
    """One model request's dealings with the kept replies of its namespace."""

    __slots__ = ("api", "call", "claimed", "namespace", "state")

    def __init__(self, api: ApiModule, state: ServerState, namespace: str, call: Call) -> None:
        self.api = api
        self.state = state
        self.namespace = namespace
        self.call = call
        self.claimed: str | None = None
        """The thread reply this request continues, held until it is answered."""

    async def resume(self, request: NeutralRequest) -> None:
        """Put the kept conversation ``request`` continues before its own turns; raise
        the API's error if the server does not hold it or a thread's turn is taken."""
        api, store, namespace = self.api, self.state.backend, self.namespace
        reference = request.continues or ""
        if not api.threads:
            kept = await store.get(namespace, api.name, reference)
            if kept is None:
                raise api.continuation_not_found(reference)
            api.resume(request, kept)
            return
        claim, kept = await store.claim(namespace, api.name, reference)
        if kept is None:
            if claim == "missing":
                raise api.continuation_not_found(reference)
            raise api.continuation_taken(reference, in_flight=claim == "in_flight")
        self.claimed = reference
        api.resume(request, kept)
        self.call.thread_id = request.thread_id

    async def keep(self, stored: Stored | None) -> None:
        """Keep this request's reply for a follow-up; a thread's turns expire once idle."""
        if stored is None:
            return
        api = self.api
        idle = self.state.settings.thread_idle_seconds if api.threads else None
        await self.state.backend.put(self.namespace, api.name, stored, idle)
        self.call.thread_id = stored.thread_id

    async def end(self, answered: bool) -> None:
        """This request's continuation of a thread's reply ended, with a reply or not."""
        if self.claimed is not None:
            claimed, self.claimed = self.claimed, None
            await self.state.backend.release(self.namespace, self.api.name, claimed, answered)

    def end_soon(self, answered: bool) -> None:
        """``end``, where nothing can wait (a stream's close)."""
        if self.claimed is not None:
            claimed, self.claimed = self.claimed, None
            self.state.backend.release_soon(self.namespace, self.api.name, claimed, answered)

    def stream_closed(self, stored: Stored | None, outcome: StreamOutcome) -> None:
        """A streamed reply ended: a thread keeps the turn only if it was read to the end."""
        if not self.api.threads:
            return
        self.end_soon(answered=outcome.completed)
        if stored is not None and not outcome.completed:
            self.state.backend.delete_soon(self.namespace, self.api.name, stored.id)
