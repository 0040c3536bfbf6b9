"""Accounts (customers), their users and seats, and their lifecycle: erasure and export."""
