"""HW5 self-checks: `make check`, `make check TASK=<task id>`, `make submit`."""
