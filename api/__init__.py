"""The control plane: an authenticated REST API (FastAPI) over ingest/ and a read model.

A shell like ingest/ and dialer/: it validates with the engine's models, publishes with
ingest's producers and reads what the engine decided from the topics; it never runs
the engine's rules itself (the forecast calls `campaigns.simulate`, as the CLI does).
"""
