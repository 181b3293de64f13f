"""Storage: tables, migrations, the group-commit writer, and the engine."""
