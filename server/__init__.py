"""Understudy: a mock and reference streaming server for LLM provider APIs."""

__version__ = "0.1.0"
