"""Detour's page: a pure core (this package) and a thin browser shell (`web.browser`)."""
