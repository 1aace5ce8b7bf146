"""triage: AI-assisted exception triage for omnichannel retailers (domain core)."""

__version__ = "0.1.0"
