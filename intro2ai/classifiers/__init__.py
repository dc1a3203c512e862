"""Models built from the intro2ai layers."""
