"""Keep transformers quiet: errors only, no progress bars, no known deprecation noise.

Not in ``simulator/models/__init__.py``: there it would make every import of any
``iterdeploy.simulator.models`` module (the protocol's plain types, the registry, the task formats) import
transformers and, through it, torch: seconds in every process that only reads a scenario or a
run. The modules that import transformers themselves
(:mod:`~iterdeploy.simulator.models.training`, :mod:`~iterdeploy.simulator.models.decoding`,
:mod:`~iterdeploy.simulator.models._tokenizer`, :mod:`~iterdeploy.simulator.models.hf_planner`,
:mod:`~iterdeploy.simulator.models.llm_planner`) call it when they are imported, so it still runs before any
model is loaded or trained. Calling it again changes nothing.
"""

from __future__ import annotations

import warnings


def quiet_transformers() -> None:
    """Errors only from transformers' logger, no progress bars, and no FutureWarning about
    ``is_gradient_checkpointing`` (peft reads that deprecated property whenever it wraps a model
    in a LoRA adapter, once per generation)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
