"""A sweep's tables: results.csv (a row per run) and results.md (a row per
setting, mean +- standard error over seeds, best marked, published rows
beside them on the 2-D benchmarks)."""

import csv
import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from experiments.sweeps import published


def counted(n: int, noun: str) -> str:
  """'1 run', '2 runs'."""
  return f'{n} {noun}' + ('' if n == 1 else 's')


# Which way is better, for marking the best setting.
HIGHER_IS_BETTER = (
    'modes',
    'high_quality_pct',
    'precision',
    'recall',
    'density',
    'coverage',
    'classifier_score',
    'inception_score',
)
LOWER_IS_BETTER = (
    'reverse_kl',
    'sliced_w1',
    'fd',
    'fid',
    'fd_dinov2',
    'intra_fd',
    'intra_fid',
    'intra_fd_dinov2',
    'kid',
    'mode_kl',
)
# Shown first, in this order; other metrics follow alphabetically.
METRIC_ORDER = (
    'modes',
    'high_quality_pct',
    'reverse_kl',
    'sliced_w1',
    'fid',
    'intra_fid',
    'fd_dinov2',
    'intra_fd_dinov2',
    'inception_score',
    'fd',
    'intra_fd',
    'kid',
    'precision',
    'recall',
    'density',
    'coverage',
    'classifier_score',
    'mode_kl',
)


def metric_names(summaries: Sequence[Mapping[str, Any]]) -> List[str]:
  names = {k for s in summaries for k in s.get('final_eval', {})}
  ordered = [m for m in METRIC_ORDER if m in names]
  return ordered + sorted(names - set(ordered))


def mean_and_standard_error(values: Sequence[float]) -> Tuple[float, float]:
  """Mean and standard error of the mean (sample s.d. / sqrt(n)); the error
  is NaN for a single value."""
  n = len(values)
  if n == 0:
    return math.nan, math.nan
  mean = sum(values) / n
  if n == 1:
    return mean, math.nan
  variance = sum((v - mean) ** 2 for v in values) / (n - 1)
  return mean, math.sqrt(variance / n)


def _scalar_protocol(summary: Mapping[str, Any]) -> Dict[str, Any]:
  return {
      f'protocol.{k}': v
      for k, v in sorted(summary.get('eval_protocol', {}).items())
      if isinstance(v, (str, int, float, bool))
  }


def inception_note(summaries: Sequence[Mapping[str, Any]]) -> str:
  """A sentence naming the Inception preprocessing of the runs whose
  numbers are in Inception features ('' if none): FID moves by ~1% between
  the modes, so a table says which."""
  modes = sorted(
      {
          s['eval_protocol']['resize_mode']
          for s in summaries
          if 'resize_mode' in s.get('eval_protocol', {})
      }
  )
  if not modes:
    return ''
  return (
      'Inception features, resize '
      + ' and '.join(f"'{m}'" for m in modes)
      + ' (eval.inception.resize: docs/images.md, Preprocessing modes).'
  )


def algorithm_of(summary: Mapping[str, Any]) -> str:
  """The run's algorithm (train.algorithm; runs written before it existed
  alternated)."""
  return summary['config'].get('train', {}).get('algorithm', 'alternating')


def write_csv(
    path: str, summaries: Sequence[Mapping[str, Any]], swept: Sequence[str]
) -> None:
  """One row per run: its setting, seed, status (with a diverged run's
  reason), steps, times, final metrics (empty for a diverged run) and
  evaluation protocol."""
  metrics = metric_names(summaries)
  protocol = sorted({k for s in summaries for k in _scalar_protocol(s)})
  # The algorithm has its own column, swept or not.
  swept = [f for f in swept if f != 'train.algorithm']
  header = (
      [
          'run',
          'variant',
          'algorithm',
          *swept,
          'seed',
          'status',
          'reason',
          'step',
          'wall_seconds',
          'group_wall_seconds',
          'group_size',
      ]
      + metrics
      + protocol
  )
  with open(path, 'w', newline='') as f:
    out = csv.writer(f)
    out.writerow(header)
    for s in summaries:
      final = s.get('final_eval', {}) if s['status'] == 'completed' else {}
      row = [
          s['run'],
          s['variant'],
          algorithm_of(s),
          *(s['swept'].get(f, '') for f in swept),
          s['seed'],
          s['status'],
          s.get('reason', ''),
          s['step'],
          f"{s['wall_seconds']:.1f}",
          f"{s['group_wall_seconds']:.1f}",
          s['group_size'],
      ]
      row += [final.get(m, '') for m in metrics]
      scalars = _scalar_protocol(s)
      row += [scalars.get(k, '') for k in protocol]
      out.writerow(row)


def aggregate(
    summaries: Sequence[Mapping[str, Any]], swept: Sequence[str]
) -> List[Dict[str, Any]]:
  """A row per setting (variant and swept values, in first-seen order):
  ``runs``, ``diverged``, and ``(mean, standard error)`` per metric over
  its completed runs."""
  settings: Dict[Tuple, List[Mapping[str, Any]]] = {}
  for s in summaries:
    key = (s['variant'], algorithm_of(s)) + tuple(
        repr(s['swept'].get(f)) for f in swept
    )
    settings.setdefault(key, []).append(s)
  rows = []
  metrics = metric_names(summaries)
  for members in settings.values():
    done = [s for s in members if s['status'] == 'completed']
    row = {
        'variant': members[0]['variant'],
        'algorithm': algorithm_of(members[0]),
        'swept': {f: members[0]['swept'].get(f) for f in swept},
        'runs': len(members),
        'diverged': len(members) - len(done),
        'steps': members[0]['config']['train']['steps'],
        'method': published.method_of(members[0]['config']),
    }
    for m in metrics:
      values = [
          s['final_eval'][m]
          for s in done
          if m in s['final_eval'] and s['final_eval'][m] is not None
      ]
      row[m] = mean_and_standard_error(values)
    rows.append(row)
  return rows


def _best(rows: Sequence[Mapping[str, Any]], metric: str):
  means = [r[metric][0] for r in rows if not math.isnan(r[metric][0])]
  if len(rows) < 2 or not means:
    return None
  if metric in HIGHER_IS_BETTER:
    return max(means)
  if metric in LOWER_IS_BETTER:
    return min(means)
  return None


def _cell(mean: float, error: float, digits: int) -> str:
  if math.isnan(mean):
    return '-'
  if mean is None or error is None or math.isnan(error):
    return f'{mean:.{digits}f}'
  return f'{mean:.{digits}f} ± {error:.{digits}f}'


def _measured_cell(measured: Tuple[float, float], digits: int) -> str:
  """A measured (mean, standard error) pair's cell."""
  mean, error = measured
  return _cell(mean, error, digits)


def _digits(metric: str) -> int:
  return {'modes': 1, 'high_quality_pct': 1}.get(
      metric, 2 if metric in ('reverse_kl', 'sliced_w1', 'mode_kl') else 3
  )


def shared_settings(fixed: Mapping[str, Any], swept: Sequence[str]) -> str:
  """The sentence of results.md's header naming what every run holds in
  common, which no column shows: the sweep's fixed fields, less those a
  swept field or a listed config overrides (its column shows those)."""
  shared = [f'`{f}={v}`' for f, v in fixed.items() if f not in swept]
  return f' Every run sets {", ".join(shared)}.' if shared else ''


def within_two_standard_errors(
    measured: Tuple[float, float], published_mean: Optional[float]
) -> str:
  """'yes' if the published mean lies within measured mean +- 2 s.e.,
  else 'no' with the gap; '-' when either is missing."""
  mean, error = measured
  if published_mean is None or math.isnan(mean) or math.isnan(error):
    return '-'
  gap = published_mean - mean
  return 'yes' if abs(gap) <= 2 * error else f'no ({gap:+.2g})'


_BESIDE = (('modes', 1, 2), ('high_quality_pct', 3, 4), ('reverse_kl', 5, 6))


def beside_published(
    rows: Sequence[Mapping[str, Any]], dataset: str, source: str, seeds: int
) -> List[str]:
  """Each setting's row, then the published row of its method (matched by
  published.method_of), and whether each published mean lies within the
  measured mean +- 2 standard errors."""
  paper = published.SOURCES[source]
  lines = [
      f'Beside {paper.citation} ({dataset}): each measured row '
      f'({counted(seeds, "seed")}), then the published one '
      f'({counted(paper.trials, "trial")}). "Within" says whether the '
      'published mean lies within the measured mean ± 2 standard '
      'errors (no: by how much it lies off the measured mean).',
      '',
      '| method | row | steps | modes | high_quality_pct | reverse_kl '
      '| within ±2 s.e.: modes, HQ, KL |',
      '|---|---|---|---|---|---|---|',
  ]
  # Name the update order on every row once any row departs from the
  # library's (a sweep over train.algorithm: the same method twice).
  orders = any(r['algorithm'] != 'alternating' for r in rows)
  for r in rows:
    entry = published.row(source, dataset, r['method'])
    cells = [
        _measured_cell(r[m], _digits(m)) if m in r else '-'
        for m, _, _ in _BESIDE
    ]
    within = (
        '-'
        if entry is None
        else ', '.join(
            within_two_standard_errors(r[m], entry[i]) if m in r else '-'
            for m, i, _ in _BESIDE
        )
    )
    lines.append(
        f'| {r["method"]} | measured (`{r["variant"]}`'
        + (f', {r["algorithm"]}' if orders else '')
        + ') | '
        f'{r["steps"]} | ' + ' | '.join(cells) + f' | {within} |'
    )
    if entry is not None:
      cells = [
          '-'
          if entry[i] is None
          else _cell(
              entry[i], math.nan if entry[j] is None else entry[j], _digits(m)
          )
          for m, i, j in _BESIDE
      ]
      steps = '-' if paper.steps is None else str(paper.steps)
      lines.append(
          f'| {r["method"]} | published | {steps} | '
          + ' | '.join(cells)
          + ' | |'
      )
  return lines


def markdown(
    rows: Sequence[Mapping[str, Any]],
    dataset: str,
    swept: Sequence[str],
    seeds: int,
    header: str = '',
    source: str = '',
    label: str = 'variant',
) -> str:
  """results.md: the aggregated table, then the published rows: beside
  each setting's when ``source`` names a published table, else all of
  them below. ``label`` heads the first column: 'variant', or 'config'
  when the runs are a config file's as it is (their label is the file's
  ``variant`` field)."""
  metrics = [m for m in METRIC_ORDER if rows and m in rows[0]] + sorted(
      m
      for m in (rows[0] if rows else {})
      if m not in METRIC_ORDER and isinstance(rows[0][m], tuple)
  )
  lines = [f'# Sweep on {dataset}', '']
  if header:
    lines += [header, '']
  lines += [
      f'Mean ± standard error over the completed runs of each setting '
      f'({counted(seeds, "seed")} each; a diverged run is counted, '
      'not averaged). Best mean in bold (higher is better for modes, high quality, '
      'precision, recall, density, coverage, classifier score; lower '
      'for KL, W1, FD, intra-class FD, KID). A dash: no value, as for '
      'the reverse KL of a setting where a seed had no sample of high '
      'quality.',
      '',
  ]
  steps = [] if 'train.steps' in swept else ['steps']  # Not twice.
  # A fork's algorithm labels its rows (unless it is a swept column).
  algorithm = (
      ['algorithm']
      if 'train.algorithm' not in swept
      and any(row['algorithm'] != 'alternating' for row in rows)
      else []
  )
  columns = [
      label,
      *algorithm,
      *swept,
      *steps,
      'runs',
      'diverged',
      *metrics,
  ]
  lines.append('| ' + ' | '.join(columns) + ' |')
  lines.append('|' + '---|' * len(columns))
  best = {m: _best(rows, m) for m in metrics}
  for row in rows:
    cells = [
        f"`{row['variant']}`",
        *(f"`{row['algorithm']}`" for _ in algorithm),
        *(f'{row["swept"][f]}' for f in swept),
        *(str(row['steps']) for _ in steps),
        str(row['runs']),
        str(row['diverged']),
    ]
    for m in metrics:
      mean, error = row[m]
      text = _cell(mean, error, _digits(m))
      if (
          best[m] is not None
          and not math.isnan(mean)
          and round(mean, _digits(m)) == round(best[m], _digits(m))
      ):
        text = f'**{text}**'
      cells.append(text)
    lines.append('| ' + ' | '.join(cells) + ' |')
  if source:
    return (
        '\n'.join(lines + [''] + beside_published(rows, dataset, source, seeds))
        + '\n'
    )
  for citation, published_rows in published.rows_for(dataset):
    lines += [
        '',
        f'Published, {citation} ({dataset}; live generator, '
        'their networks and training budgets):',
        '',
        '| method | modes | high_quality_pct | reverse_kl |',
        '|---|---|---|---|',
    ]
    for name, modes, modes_se, hq, hq_se, kl, kl_se in published_rows:
      cells = [
          _cell(modes, modes_se if modes_se is not None else math.nan, 1),
          _cell(hq, hq_se if hq_se is not None else math.nan, 1),
          '-'
          if kl is None
          else _cell(kl, kl_se if kl_se is not None else math.nan, 2),
      ]
      lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'
