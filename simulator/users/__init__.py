"""Simulated users and their curation policies."""

from simulator.users.curation import (
    POLICIES,
    CandidateTrace,
    CurationPolicy,
    Decision,
    ValidityCuration,
    make_policy,
)
from simulator.users.population import Population, PopulationDecision

__all__ = [
    "POLICIES",
    "CandidateTrace",
    "CurationPolicy",
    "Decision",
    "Population",
    "PopulationDecision",
    "ValidityCuration",
    "make_policy",
]
