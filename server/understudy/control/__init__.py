"""The control plane under ``/_understudy/``: the admin API, its OpenAPI document, and
hot reload of scenario files."""
