"""Tests of stochamort.games."""
