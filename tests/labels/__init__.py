"""Tests of stochamort.labels."""
