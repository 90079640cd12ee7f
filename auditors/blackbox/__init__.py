"""Black-box reward inference: the reward implied by how a model's outputs moved between generations,
read from the outputs alone."""
