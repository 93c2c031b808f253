"""A simulated inference engine: latency that depends on load, opt-in and server-wide.

``--engine PROFILE`` turns it on. Every model request then takes a slot among
``max_running`` (queueing beyond, refused beyond ``max_waiting``), and replies whose
scenario gives no timing of its own are paced as an inference server paces them: time to
first token grows with the prompt (prefill) and with the queue, the time between tokens
with the number of streams decoding at once.
"""

from understudy.engine.profile import PROFILES, EngineProfile, load_profile
from understudy.engine.scheduler import Engine, Slot

__all__ = ["PROFILES", "Engine", "EngineProfile", "Slot", "load_profile"]
