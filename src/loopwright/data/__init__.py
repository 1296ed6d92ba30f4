"""Data versions and checks: content-addressed datasets, profiles, schemas and validation."""
