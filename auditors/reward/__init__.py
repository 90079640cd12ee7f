"""White-box reward inference from the curation log: the implicit reward, the declared objective it is
compared with, its drift between generations and its attribution to user groups."""
