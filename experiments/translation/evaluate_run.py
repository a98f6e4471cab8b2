"""Evaluates a CycleGAN run's checkpoint after the fact (``python -m
experiments.evaluate --workdir=runs/cyclegan_...``): the trained
translators and the reference ones (identity, the pair's known
correspondence, the untrained networks) scored as the run scores them
(experiments/translation/evaluators.py), in the features asked for:
``inception`` (FID and KID in the FID Inception network's features) or
``classifier`` (digits_rot's digit classifier, with the label accuracies).
2-D pairs are scored without features; their metrics are in the run's
summary.json.
"""

import os
from typing import Any, Callable, Dict, Optional

from experiments.configs import translate as translate_defaults
from experiments.runner import config_layers, evaluate_run, loop, validation
from experiments.storage import writers
from experiments.translation import evaluators, train as one_run
from gan_jax.batched import flatten
from gan_jax.config import ConfigError
from gan_jax.translation import config as translation_config
from gan_jax.translation import state as cycle_state

# The pair whose examples the digit classifier reads (features_for).
CLASSIFIER_PAIR = 'digits_rot'


def read_config(workdir: str, saved: Dict[str, Any]):
  """The run's config, with fields translate.py has gained since at their
  defaults, validated as experiments.translate validates it."""
  config = config_layers.with_new_fields(
      saved, flatten(translate_defaults.get_config().to_dict())
  )
  validation.validate_translation(config, 1)
  return config


def evaluate_workdir(
    workdir: str,
    saved: Dict[str, Any],
    features: str,
    num_samples: int = 0,
    weights: Optional[str] = None,
    any_weights: bool = False,
    batch_size: int = 0,
    progress: Callable[
        [int, str], Callable[[int], None]
    ] = lambda total, what: (lambda n: None),
) -> Dict[str, Any]:
  """As experiments.runner.evaluate_run.evaluate_workdir, for the
  translation run whose config.json is ``saved`` (options checked there).
  ``num_samples``: test images per domain (0: the run's
  eval.num_samples, where 0 is the whole test split)."""
  config = read_config(workdir, saved)
  pair = translation_config.pair_of(config)
  if pair.kind == 'points':
    raise evaluate_run.EvaluationError(
        f'--workdir={workdir} holds a CycleGAN run of {config.pair}, a pair '
        'of 2-D point sets: it is scored without image features, and its '
        'metrics are in its summary.json'
    )
  if features == 'classifier' and config.pair != CLASSIFIER_PAIR:
    raise evaluate_run.EvaluationError(
        f'--features=classifier: --workdir={workdir} holds a CycleGAN run '
        f'of {config.pair}, and the digit classifier reads '
        f'{CLASSIFIER_PAIR} only; give --features=inception'
    )
  config = config.copy_and_resolve_references()
  config.eval.features = features
  config.eval.num_samples = num_samples or config.eval.num_samples
  if features == 'inception':
    # Found (or said missing) before anything is built or restored.
    config.eval.inception.weights = evaluate_run.find_weights(
        weights,
        evaluate_run.CLASSIFIER_INSTEAD
        if config.pair == CLASSIFIER_PAIR
        else '',
    )
    config.eval.inception.any_weights = any_weights
    config.eval.inception.batch_size = batch_size
  evaluate_run.check_has_checkpoint(workdir)
  spec, hparams, pair = translation_config.build(config)
  init_rng, _, eval_rng = loop.run_keys(config.seed)
  # The run's initial state: the untrained reference, and the structure
  # the checkpoint is restored into (on this process's first device).
  untrained = cycle_state.compiled_init(spec)(init_rng, hparams)
  state = evaluate_run.restore_latest(
      workdir, config.train.keep_checkpoints, untrained
  )
  domains = one_run.load_domains(config)
  try:
    evaluator = evaluators.make_evaluator(config, pair, eval_rng, domains)
  except ConfigError as error:  # The weights file found is not readable.
    raise evaluate_run.EvaluationError(
        str(error).removeprefix('eval.inception.weights: ')
    ) from None
  size = config.data.image_size
  translators = {
      'trained': evaluators.translators(spec, state, size),
      **evaluators.reference_translators(pair),
      'untrained': evaluators.translators(spec, untrained, size),
  }
  results = {}
  for name, (x2y, y2x) in translators.items():
    results[name], _ = evaluator.evaluate(x2y, y2x)
    progress(1, name)(1)
  report = {
      'workdir': os.path.abspath(workdir),
      'step': int(state.step),
      'pair': config.pair,
      'algorithm': config.train.algorithm,
      'features': features,
      'results': results,
      'protocol': evaluator.protocol(),
  }
  # An earlier evaluation is kept (gan_jax's own runs' rule).
  report['written'] = evaluate_run.free_name(workdir, f'evaluation_{features}')
  writers.write_json(report['written'], report)
  return report
