"""The reference registry: the registry API v1 (docs/registry-api.yaml) served from SQLite, with
the demo data set. It stands in for PyPI or npm in local runs, the demo and the tests."""
