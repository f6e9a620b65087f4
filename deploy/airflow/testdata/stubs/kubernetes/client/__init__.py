"""Stub of kubernetes.client: only its models."""
