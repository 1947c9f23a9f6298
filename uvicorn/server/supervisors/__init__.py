"""Supervisors own processes and signals; they never see a request."""
