"""Rescoring: score accounts, run their playbooks, deliver, and say that scores changed."""
