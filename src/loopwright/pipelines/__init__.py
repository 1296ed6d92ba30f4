"""Pipelines: plain typed functions as steps, cached by content, recorded as runs, fired by triggers."""
