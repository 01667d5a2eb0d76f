"""The embedded stack `grantflow up` runs: the Temporal dev server, PostgreSQL, the worker and the API."""
