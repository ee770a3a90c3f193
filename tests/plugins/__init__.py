"""Kinds of data the tests plug in, to show the seam takes a new one without touching the engine."""
