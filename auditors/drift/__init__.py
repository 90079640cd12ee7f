"""Behaviour drift, capability and diversity across generations (``drift-v2``)."""
