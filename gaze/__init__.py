"""Reproduce, measure and diagnose why a gaze-regression network underfits."""
