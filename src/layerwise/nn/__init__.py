"""Supervised models and layers of the course."""
