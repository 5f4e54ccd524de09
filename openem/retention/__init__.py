"""Retention: schedules, purge, legal holds, certificates, subject access, keys, notices."""
