"""Use cases. Each takes (session, actor, now) and flushes; only the edges commit."""
