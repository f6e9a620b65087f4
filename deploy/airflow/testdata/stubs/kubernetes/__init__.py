"""Stub package (deploy/airflow test)."""
