"""Does a scenario's ``match`` block hold for a request?"""

import fnmatch
import re

from understudy.core.request import NeutralRequest
from understudy.scenarios.schema import Match


def matches(match: Match, request: NeutralRequest) -> bool:
    """True when every condition that ``match`` gives holds for ``request``."""
    if match.api is not None and request.api not in match.api:
        return False
    if match.model is not None and not fnmatch.fnmatchcase(request.model, match.model):
        return False
    if match.last_user_message is not None and not re.search(
        match.last_user_message, request.last_user_message
    ):
        return False
    if match.contains is not None and (
        match.contains.lower() not in request.conversation_text().lower()
    ):
        return False
    if match.system is not None and not re.search(match.system, request.system):
        return False
    if match.headers is not None:
        for name, pattern in match.headers.items():
            value = request.headers.get(name)
            if value is None or not re.search(pattern, value):
                return False
    if match.tools is not None and not set(match.tools).issubset(request.tools):
        return False
    if match.tool_result is not None and match.tool_result != request.ends_with_tool_result:
        return False
    if match.turn is not None:
        turn = request.turn
        if match.turn.min is not None and turn < match.turn.min:
            return False
        if match.turn.max is not None and turn > match.turn.max:
            return False
    return True
