"""Metric writers: one JSON line per record, and TensorBoard event files.

TensorBoard files are written with tensorboardX, which needs no TensorFlow.
"""

import json
import logging
import math
import os
import sys
from typing import Any, Callable, Dict, List, Mapping, Optional

METRICS = 'metrics.jsonl'
TORN = 'metrics.torn.txt'  # Lines of metrics.jsonl cut short by a crash.
REWOUND = 'metrics.rewound.jsonl'  # Records logged past a resumed step.


def _import_summary_writer():
  """tensorboardX's SummaryWriter, imported without PyTorch.

  tensorboardX imports torch whenever it is installed, only to accept torch
  tensors; we log floats and NumPy arrays. Hiding torch for that one import
  saves every run ~2 s of start-up on machines that have PyTorch (measured
  here: 1.9 s). A torch imported before is left alone.
  """
  hide = 'torch' not in sys.modules
  # A None entry makes ``import torch`` raise ImportError (the import
  # system's documented rule), which sys.modules' type does not allow for.
  modules: Dict[str, Any] = sys.modules
  if hide:
    modules['torch'] = None
  try:
    from tensorboardX import SummaryWriter as writer  # pylint: disable=g-import-not-at-top
  finally:
    if hide:
      del modules['torch']
  return writer


SummaryWriter = _import_summary_writer()
# A NaN or infinity is a value a run logs on purpose (reverse_kl when no
# sample is of high quality; a diverging loss, which the run then reports
# itself): tensorboardX's warning for each would be noise on stderr.
logging.getLogger('tensorboardX.x2num').setLevel(logging.ERROR)


def close_all(*closers: Callable[[], None]) -> None:
  """Calls every closer, even after one fails, and re-raises the first
  failure -- unless an exception is already on its way out (this is called
  from a ``finally``): a disk that filled up and failed a checkpoint also
  fails the log files' last flush, and that must not hide the first error."""
  failing = sys.exc_info()[1] is not None
  first = None
  for close in closers:
    try:
      close()
    except Exception as error:  # pylint: disable=broad-except
      first = first or error
  if first is not None and not failing:
    raise first


def json_safe(value: Any) -> Any:
  """Floats as JSON numbers; NaN and infinities become null (strict JSON)."""
  if isinstance(value, float) and not math.isfinite(value):
    return None
  if isinstance(value, Mapping):
    return {k: json_safe(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [json_safe(v) for v in value]
  return value


def write_json(path: str, data: Mapping[str, Any]) -> None:
  """Writes ``data`` atomically: a crash leaves the old file or the new one."""
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(json_safe(data), f, indent=2, sort_keys=True)
    f.write('\n')
  os.replace(tmp, path)


class MetricWriter:
  """Appends ``{"step", "split", **metrics}`` to metrics.jsonl and to
  TensorBoard under ``split/name``."""

  def __init__(self, workdir: str):
    self._jsonl = open(os.path.join(workdir, METRICS), 'a')
    self._tb = SummaryWriter(os.path.join(workdir, 'tensorboard'))

  def write(self, step: int, split: str, metrics: Dict[str, float]) -> None:
    record = {'step': step, 'split': split, **metrics}
    self._jsonl.write(json.dumps(json_safe(record), sort_keys=True) + '\n')
    self._jsonl.flush()
    for name, value in metrics.items():
      self._tb.add_scalar(f'{split}/{name}', value, step)

  def write_image(self, step: int, name: str, picture) -> None:
    """A uint8 [H, W, 3] picture, to TensorBoard's images tab."""
    self._tb.add_image(name, picture, step, dataformats='HWC')

  def close(self) -> None:
    self._jsonl.close()
    self._tb.close()


class NoWriter:
  """MetricWriter's interface, writing nothing: every host but the first."""

  def write(self, step, split, metrics) -> None:
    del step, split, metrics

  def write_image(self, step, name, picture) -> None:
    del step, name, picture

  def close(self) -> None:
    pass


def _record(line: bytes) -> Optional[Dict[str, Any]]:
  """The record a line of metrics.jsonl holds, or None: a line cut short,
  or bytes that are not a JSON object (garbage from a damaged disk)."""
  try:
    record = json.loads(line.decode('utf-8'))
  except ValueError:  # UnicodeDecodeError included.
    return None
  return record if isinstance(record, dict) else None


def _append(path: str, lines: List[bytes]) -> None:
  """Appends ``lines`` (each ending in a newline) and syncs them to disk:
  they are on disk before the file they came from is replaced."""
  with open(path, 'ab') as f:
    f.writelines(lines)
    f.flush()
    os.fsync(f.fileno())


def _replace_lines(path: str, lines: List[bytes]) -> None:
  tmp = path + '.tmp'
  with open(tmp, 'wb') as f:
    f.writelines(lines)
  os.replace(tmp, path)


def rewind_metrics(
    workdir: str, last_step: int, say: Callable[[str], None] = print
) -> None:
  """Makes metrics.jsonl fit a run resumed at ``last_step``, moving (never
  dropping) what does not fit, with a line said for each kind:

  * a torn line -- a write cut short by a full disk or ``kill -9``, or
    anything else that is not one JSON record, binary garbage included --
    to metrics.torn.txt, byte for byte;
  * records logged after ``last_step`` (after the checkpoint the run
    resumes from; they would repeat) to metrics.rewound.jsonl.

  TensorBoard shows the newest value for a repeated step, so its files
  are left alone."""
  path = os.path.join(workdir, METRICS)
  if not os.path.exists(path):
    return
  with open(path, 'rb') as f:
    # Split on b'\n' alone: a torn line's stray bytes stay as they were.
    lines = [line + b'\n' for line in f.read().split(b'\n')]
    lines[-1] = lines[-1][:-1]  # What follows the last newline, if any.
  kept, torn, rewound = [], [], []
  for line in lines:
    if not line.strip():
      continue
    record = _record(line) if line.endswith(b'\n') else None
    if record is None:
      torn.append(line if line.endswith(b'\n') else line + b'\n')
    elif not isinstance(record.get('step'), int):
      torn.append(line)  # JSON, but not a record of a step.
    elif record['step'] > last_step:
      rewound.append(line)
    else:
      kept.append(line)
  if not torn and not rewound:
    return
  if torn:
    _append(os.path.join(workdir, TORN), torn)
  if rewound:
    _append(os.path.join(workdir, REWOUND), rewound)
  _replace_lines(path, kept)
  if torn:
    say(
        f'note: {path} held {len(torn)} torn line(s) (a write cut short); '
        f'moved to {TORN} beside it'
    )
  if rewound:
    say(
        f'note: {len(rewound)} record(s) of {path} logged after step '
        f'{last_step}, the checkpoint resumed from, moved to {REWOUND} '
        'beside it'
    )


def read_metrics(workdir: str):
  """The records of metrics.jsonl, in order; a torn line (a write cut
  short, see :func:`rewind_metrics`) is not a record and is skipped."""
  with open(os.path.join(workdir, METRICS), 'rb') as f:
    records = (_record(line) for line in f if line.strip())
    return [r for r in records if r is not None and 'step' in r]
