"""Planner models: the embedded default base model and the Hugging Face + peft backend."""

import warnings

from transformers.utils import logging as _hf_logging

_hf_logging.set_verbosity_error()
_hf_logging.disable_progress_bar()
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
