"""Evaluation metrics: mode coverage for mixtures, sample distances."""

from gan_jax.metrics.distances import sliced_wasserstein
from gan_jax.metrics.mode_coverage import mode_metrics

__all__ = ['mode_metrics', 'sliced_wasserstein']
