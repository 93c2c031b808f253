"""Faults: what goes wrong with a reply, written once and shown by every API.

``specs`` is the scenario format of faults, ``plan`` resolves it per request, ``errors``
turns an error spec into a provider's error, ``script`` plays a plan over a stream,
``framing`` and ``violations`` rewrite the bytes, ``chaos`` draws faults at random.
"""
