"""Right-sizing: what a fleet's memory requests waste, and what to set instead.

``queries`` builds the PromQL that dashboards and ``obsgen recommend`` read, ``method`` turns a
container's usage history into a recommended request and limit (pure functions), ``collect``
fetches that history from Prometheus, and ``report`` renders the result.
"""
