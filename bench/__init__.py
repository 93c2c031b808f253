"""Understudy benchmark suite: ceiling servers, a load generator and a runner.

``python -m bench run`` (see bench/README.md).
"""
