"""HTTP: the shared model pipeline, the other ``/v1/`` routes, body reading, key checks
and provider-shaped JSON responses."""
