"""Helpers shared by the tests: generated games and small torch models."""
