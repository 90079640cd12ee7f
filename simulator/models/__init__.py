"""Planner models: the embedded default base model and the Hugging Face + peft backend.

Importing this package imports neither torch nor transformers: the plain types the loop, the
scenario and the auditors name live in :mod:`iterdeploy.simulator.models.protocol`, and the modules that do
need transformers silence it themselves (:mod:`iterdeploy.simulator.models._hf_logging`).
"""
