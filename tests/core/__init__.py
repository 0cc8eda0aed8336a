"""Tests of stochamort.core."""
