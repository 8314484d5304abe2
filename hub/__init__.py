"""A real class on one machine: make class (classroom.py), the PostgreSQL gradebook (postgres.py), JupyterHub config."""
