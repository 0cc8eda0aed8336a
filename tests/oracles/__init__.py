"""Tests of stochamort.oracles."""
