"""Tests of stochamort; the folders mirror the package (core = the Rust-backed bottom layer)."""
