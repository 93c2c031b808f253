"""The paced writer and what it sends: encoded frames, pacing, writer actions.

Imports only ``understudy.core``: the transport knows nothing of scenarios, faults or
providers.
"""
