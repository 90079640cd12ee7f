"""The RL equivalence check: fine-tuning on curated outputs against REINFORCE, measured on a run's
models (Propositions 1 and 2 of the paper)."""
