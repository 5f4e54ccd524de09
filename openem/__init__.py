"""OpenEM: an electronic-monitoring platform that is accountable by construction."""

__version__ = "0.1.0"
