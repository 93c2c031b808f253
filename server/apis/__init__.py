"""One module per provider API, plus the shared request → reply pipeline."""
