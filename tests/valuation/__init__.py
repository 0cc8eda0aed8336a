"""Tests of stochamort.valuation."""
