"""The Postgres adapter of the metadata store and the curated tables (SQLAlchemy Core on pg8000)."""
