"""Tests of the point-in-time feature pipelines."""
