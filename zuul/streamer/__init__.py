"""``zuul-log-streamer``: live console logs over websocket (see ``doc/executor.rst``)."""
