"""Build history (SQLAlchemy)."""
