"""The neutral vocabulary every layer shares: the request, the reply, tokens, ids and
errors, in no provider's words."""
