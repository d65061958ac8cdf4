"""Generation 2 of the LayerScale API (../shared/api/PROTOCOL-2.md), as `--api 2` speaks it.

The same engine, worker, session registry, ingest processor, flash queries and event hubs
as generation 1; only the routes, their shapes and the rules around them differ. app.py
builds the Starlette app; the other modules hold one surface each.
"""
