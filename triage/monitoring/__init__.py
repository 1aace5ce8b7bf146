"""Monitoring: feature and score drift, live model quality, exception analytics.

Pure functions over frames (reference vs current, decisions, outcomes); the CLI and
the API fetch the frames from the stores and hand them in. Evidently is imported only
here, never by the API process (it costs seconds to import).
"""
