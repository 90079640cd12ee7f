"""The deployment loop: evaluate → deploy → validate → curate → pool → train, per generation.

Generation g deploys model_g: it is evaluated on the fixed evaluation pool, users bring new tasks
and receive K sampled completions per task, the validator judges every completion, each user's
curation policy decides what is published, the published traces join the data pool, and
model_{g+1} is trained on the pool.

- :mod:`.runner`: the run (store, resume, extension, model loading, errors) and one generation;
- :mod:`.stages`: evaluate, deploy, curate, pool, train, as functions over the store's records;
- :mod:`.records`: rows built from tasks and sampled completions (validated once, here);
- :mod:`.ids`: where every new id comes from;
- :mod:`.task_supply`: new tasks (never repeated) and reference plans;
- :mod:`.identity`: whether a stored run is the scenario asked for;
- :mod:`.seeds`: the named random streams that make a resumed run equal an uninterrupted one.
"""

from .runner import DeploymentLoop, run_scenario
from .seeds import derive_rng, derive_seed
from .stages import Phase, StageContext

__all__ = ["DeploymentLoop", "Phase", "StageContext", "derive_rng", "derive_seed", "run_scenario"]
