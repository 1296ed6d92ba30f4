"""Storage: the metadata store (SQLAlchemy) and the content-addressed artifact store (fsspec)."""
