"""Tests of stochamort.amortize."""
