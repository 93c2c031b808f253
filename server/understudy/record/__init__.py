"""What happened: the request journal and the metrics counted from it."""
