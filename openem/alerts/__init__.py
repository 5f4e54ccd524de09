"""Alerts: what the rules raise for a person to review and decide."""
