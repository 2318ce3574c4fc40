"""Persistence: SQLModel tables, the engine, the unit of work, migrations. The only place that knows SQL."""
