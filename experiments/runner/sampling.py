"""Samples out of a run's checkpoint (``python -m experiments.sample``).

What is written, by the extension of ``--out``:

* ``.npz``: one file, ``arr_0`` the images as uint8 [N, H, W, C] (C as the
  data: 1 for the digit sets, 3 for colour), ``arr_1`` the class labels
  int32 [N] of a conditional G, and ``gan_jax`` a JSON string saying where
  they came from (workdir, step, generator, seed, truncation). ``arr_0`` /
  ``arr_1`` is the layout of OpenAI's guided-diffusion evaluator (and of
  ``np.savez(path, images, labels)``); pytorch-fid, clean-fid and
  torch-fidelity read folders of images (pytorch-fid's ``.npz`` holds
  statistics, mu and sigma, not images), so a directory serves them.
* a directory (anything else): ``000000.png``, ``000001.png``, ... (greyscale
  PNGs for one channel) and, for a conditional G, ``labels.csv``
  (``file,label``).
* a 2-D run: the points in data coordinates, ``.npy`` (float32 [N, 2]) or
  ``.csv`` (``x,y``).
* ``--interpolate=K``: one ``.png``, K rows of G along a path between two
  latents.

Seeds. ``--seed=S`` (an integer): image i has its own latent, z_i =
normal(fold_in(PRNGKey(S), i)), so the images do not depend on
``--batch_size`` and the first N of a larger N are the same. ``--seed=eval``:
the images the run's evaluation drew at that step (ImageEvaluator and the
Inception evaluation of experiments/runner/evaluators.py): key
``fold_in(split(PRNGKey(config.seed), 3)[2], step)``, split into batches of
500 as gan_jax.image_evaluation.generate_images draws them, labels (a
conditional G) drawn from the train labels as the evaluation draws them.
"""

import csv
import dataclasses
import functools
import io
import json
import math
import os
import tempfile
from typing import Any, Dict, List, Optional, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np

from experiments.runner import evaluate_run, loop
from experiments.storage import checkpoints
from gan_jax import config as gan_config, image_evaluation
from gan_jax import state as gan_state
from gan_jax.data import images as image_data, is_image_dataset
from gan_jax.data.on_device import DeviceImages
from gan_jax.models import STYLE_MODELS
from gan_jax.step_helpers import apply_model

EVAL_SEED = 'eval'
EVAL_BATCH = 500  # gan_jax.image_evaluation.generate_images' batch.
GENERATORS = ('ema', 'live')
INTERPOLATIONS = ('slerp', 'linear')
# Names that read as one image file, never taken for a directory of PNGs.
IMAGE_FILE_EXTENSIONS = (
    '.jpg',
    '.jpeg',
    '.gif',
    '.bmp',
    '.tif',
    '.tiff',
    '.webp',
    '.npy',
    '.csv',
)


class SampleError(ValueError):
  """A workdir, option or path that cannot give samples; one line."""


Seed = Union[int, str]


def parse_seed(text: str) -> Seed:
  """``'eval'`` or a non-negative integer."""
  if text == EVAL_SEED:
    return EVAL_SEED
  try:
    seed = int(text)
  except ValueError:
    seed = -1
  if not 0 <= seed < 2**32:
    raise SampleError(
        f"--seed={text}: give an integer in [0, 2**32) or 'eval' (the run's "
        'evaluation draw at that step)'
    )
  return seed


@dataclasses.dataclass
class Run:
  """A run's config, spec and restored state (the chosen generator's)."""

  workdir: str
  config: Any
  spec: gan_state.GANSpec
  state: gan_state.GANState
  step: int
  generator: str  # 'ema' or 'live'.

  @property
  def is_image(self) -> bool:
    return is_image_dataset(self.config.dataset)

  @property
  def num_classes(self) -> int:
    return self.spec.num_classes


def saved_steps(workdir: str) -> List[int]:
  """The steps of the workdir's checkpoints, oldest first."""
  directory = os.path.join(workdir, 'checkpoints')
  if not os.path.isdir(directory):
    return []
  return sorted(int(n) for n in os.listdir(directory) if n.isdigit())


def load_run(
    workdir: str, step: Optional[int] = None, generator: Optional[str] = None
) -> Run:
  """The run's checkpoint at ``step`` (None: the latest) with ``generator``
  (None: the EMA where the run kept one, else the live G)."""
  if generator is not None and generator not in GENERATORS:
    raise SampleError(f'--generator={generator}: give ema or live')
  if step is not None and step < 0:
    raise SampleError(f'--step={step}: give a checkpoint step (0 or more)')
  saved = evaluate_run.saved_config(workdir)
  if evaluate_run.is_translation(saved):
    raise SampleError(
        f'--workdir={workdir} is a CycleGAN run: it translates images '
        'rather than sampling them (docs/translation.md)'
    )
  config = evaluate_run.read_config(workdir)
  steps = saved_steps(workdir)
  if not steps:
    raise SampleError(f'--workdir={workdir} has no checkpoint to sample from')
  if step is not None and step not in steps:
    raise SampleError(
        f'--step={step}: --workdir={workdir} keeps checkpoints of steps '
        f'{", ".join(map(str, steps))}'
    )
  spec, hparams, _ = gan_config.build(config)
  if generator == 'ema' and not spec.use_ema:
    raise SampleError(
        f'--generator=ema: --workdir={workdir} kept no EMA of G '
        '(ema.enabled false); give --generator=live'
    )
  like = gan_state.compiled_init(spec)(jax.random.PRNGKey(0), hparams)
  ckpt = checkpoints.Checkpointer(workdir, config.train.keep_checkpoints)
  try:
    state = ckpt.restore(like, step=step, set_aside=False)
  finally:
    ckpt.close()
  generator = generator or ('ema' if state.g_ema is not None else 'live')
  if generator == 'live':
    state = state.replace(g_ema=None)
  return Run(workdir, config, spec, state, int(state.step), generator)


def with_truncation(run: Run, psi: Optional[float]) -> gan_state.GANSpec:
  """The spec whose G truncates w with ``psi`` (None: the run's own,
  model.truncation_psi). StyleGAN2 keeps the mean w_avg in its state (the
  ``stylegan`` collection, a running mean over training), so nothing is
  estimated here."""
  if psi is None:
    return run.spec
  if run.config.model.name not in STYLE_MODELS:
    raise SampleError(
        f'--truncation={psi}: truncation needs a mapping network and its '
        f'mean w (StyleGAN2); this run is {run.config.model.name}'
    )
  if not 0.0 <= psi <= 1.0 or math.isnan(psi):
    raise SampleError(f'--truncation={psi}: give psi in [0, 1]')
  generator = run.spec.generator.clone(truncation_psi=float(psi))
  return dataclasses.replace(run.spec, generator=generator)


@functools.partial(jax.jit, static_argnums=0)
def _apply(spec, state, z, labels):
  """G in inference mode on ``z`` (EMA params where the state keeps them)."""
  return apply_model(
      spec.generator,
      state.g,
      gan_state.generator_params(state),
      z,
      train=False,
      labels=labels,
      compute_dtype=spec.compute_dtype,
  )[0]


@functools.partial(jax.jit, static_argnums=0)
def _latents(spec, key, indices):
  """z_i = normal(fold_in(key, i)) for each i of ``indices``."""
  return jax.vmap(
      lambda i: jax.random.normal(
          jax.random.fold_in(key, i), (spec.latent_dim,)
      )
  )(indices)


def class_labels(run: Run, num: int, label: Optional[int]) -> Optional[Any]:
  """Labels of ``num`` images: ``label`` for all, else the classes in turn
  (i mod K: balanced); None for an unconditional G."""
  if not run.num_classes:
    if label is not None:
      raise SampleError(
          f'--label={label}: this run is unconditional (model.conditional '
          'false)'
      )
    return None
  if label is not None:
    if not 0 <= label < run.num_classes:
      raise SampleError(
          f'--label={label}: give a class in 0..{run.num_classes - 1}'
      )
    return np.full(num, label, np.int32)
  return (np.arange(num) % run.num_classes).astype(np.int32)


def generate(
    run: Run,
    num: int,
    seed: int,
    batch_size: int = 500,
    label: Optional[int] = None,
    truncation: Optional[float] = None,
) -> Tuple[np.ndarray, Optional[np.ndarray]]:
  """(G's outputs float32 [num, ...] in network coordinates (images
  clipped to [-1, 1]), labels int32 [num] or None), image i from its own
  latent (module docstring)."""
  spec = with_truncation(run, truncation)
  labels = class_labels(run, num, label)
  key = jax.random.PRNGKey(seed)
  batch_size = min(batch_size, num)
  parts = []
  for start in range(0, num, batch_size):
    # The last batch padded to the same size: one compilation.
    indices = np.arange(start, start + batch_size)
    batch_labels = None
    if labels is not None:
      batch_labels = jnp.asarray(
          np.resize(labels, num + batch_size)[start : start + batch_size]
      )
    z = _latents(spec, key, jnp.asarray(indices, jnp.uint32))
    out = np.asarray(_apply(spec, run.state, z, batch_labels))
    parts.append(out[: num - start])
  outputs = np.concatenate(parts)
  if run.is_image:
    outputs = np.clip(outputs, -1.0, 1.0)
  return outputs, labels


def evaluation_count(run: Run) -> int:
  """How many images the run's classifier evaluation draws at a step
  (gan_jax.image_evaluation.ImageEvaluator: max(n, eval.mode_samples),
  n = min(eval.num_samples, held-out size, train size))."""
  config = run.config
  source = image_data.image_source(config.dataset, config)
  data_dir = config.data.dir or image_data.default_data_dir()
  sizes = [
      len(image_data.RecordReader(config.dataset, split, data_dir, source))
      for split in (source.held_out_split, source.train_split)
  ]
  n = min(config.eval.num_samples, *sizes)
  return max(n, config.eval.mode_samples)


def generate_as_evaluated(
    run: Run, num: int
) -> Tuple[np.ndarray, Optional[np.ndarray]]:
  """The first ``num`` images the run's evaluation drew at its step (as
  the evaluation would, with this generator), in [-1, 1] at G's size, and
  their labels (a conditional G; else None)."""
  config = run.config
  labels = None
  if run.num_classes:  # As ImageEvaluator: from the train labels.
    source = image_data.image_source(config.dataset, config)
    labels = jnp.asarray(
        image_data.load_split(
            config.dataset,
            source.train_split,
            config.data.dir or image_data.default_data_dir(),
            limit=max(config.eval.num_samples, config.eval.mode_samples),
        )[1]
    )
  count = evaluation_count(run)
  rng = jax.random.fold_in(loop.run_keys(config.seed)[2], run.step)
  # The evaluation's own call. More than it drew: generate_images splits
  # its key per batch of 500, and JAX's default (partitionable) threefry
  # gives the same first keys and draws whatever the total, so the first
  # ``count`` stay the evaluation's where both are at least 500.
  total = max(num, count)
  images = image_evaluation.generate_images(
      run.spec, run.state, rng, total, labels
  )
  drawn = None
  if labels is not None:  # The labels each batch drew, as it drew them.
    batch = min(EVAL_BATCH, total)
    drawn = np.concatenate(
        [
            np.asarray(
                labels[
                    jax.random.randint(
                        jax.random.split(key)[1], (batch,), 0, len(labels)
                    )
                ]
            )
            for key in jax.random.split(rng, -(-total // batch))
        ]
    )[:num].astype(np.int32)
  return np.asarray(images)[:num], drawn


def slerp(z0: jax.Array, z1: jax.Array, t: jax.Array) -> jax.Array:
  """Spherical interpolation between rows of z0 and z1 [R, D] at t [S]:
  [R, S, D]. Gaussian latents live near a sphere, where the straight line
  between two passes through improbably short vectors (White 2016,
  "Sampling Generative Networks"); nearly parallel pairs fall back to the
  line."""
  unit0 = z0 / jnp.linalg.norm(z0, axis=-1, keepdims=True)
  unit1 = z1 / jnp.linalg.norm(z1, axis=-1, keepdims=True)
  omega = jnp.arccos(jnp.clip(jnp.sum(unit0 * unit1, -1), -1.0, 1.0))
  omega = omega[:, None, None]
  t = t[None, :, None]
  sin = jnp.sin(omega)
  safe = jnp.where(sin > 1e-6, sin, 1.0)
  spherical = (
      jnp.sin((1 - t) * omega) / safe * z0[:, None]
      + jnp.sin(t * omega) / safe * z1[:, None]
  )
  linear = (1 - t) * z0[:, None] + t * z1[:, None]
  return jnp.where(sin > 1e-6, spherical, linear)


def interpolate(
    run: Run,
    rows: int,
    steps: int,
    seed: int,
    method: str = 'slerp',
    label: Optional[int] = None,
    truncation: Optional[float] = None,
) -> Tuple[np.ndarray, Optional[np.ndarray]]:
  """(images [rows * steps, ...] in [-1, 1], row-major, labels per image
  or None): row r goes from z_a to z_b, both normal(fold_in(PRNGKey(seed),
  r)), in ``steps`` equal steps of t, with the row's class (``label``, else
  r mod K) held."""
  if method not in INTERPOLATIONS:
    raise SampleError(
        f'--interpolation={method}: give {" or ".join(INTERPOLATIONS)}'
    )
  spec = with_truncation(run, truncation)
  key = jax.random.PRNGKey(seed)
  ends = jax.vmap(
      lambda r: jax.random.normal(
          jax.random.fold_in(key, r), (2, spec.latent_dim)
      )
  )(jnp.arange(rows, dtype=jnp.uint32))
  t = jnp.linspace(0.0, 1.0, steps)
  if method == 'slerp':
    z = slerp(ends[:, 0], ends[:, 1], t)
  else:
    z = (1 - t)[None, :, None] * ends[:, None, 0] + t[None, :, None] * ends[
        :, None, 1
    ]
  row_labels = class_labels(run, rows, label)
  labels = None if row_labels is None else np.repeat(row_labels, steps)
  images = _apply(
      spec,
      run.state,
      z.reshape(rows * steps, -1),
      None if labels is None else jnp.asarray(labels),
  )
  return np.clip(np.asarray(images), -1.0, 1.0), labels


def to_uint8(images: np.ndarray) -> np.ndarray:
  """[-1, 1] -> uint8 [0, 255], rounded (as the run's sample grids and the
  Inception evaluation quantise)."""
  pixels = np.asarray(DeviceImages.from_network(jnp.asarray(images)))
  return pixels.round().astype(np.uint8)


# Where samples go, and checks on it before anything is computed.


def out_kind(out: str, is_image: bool, interpolating: bool) -> str:
  """'npz', 'png_dir', 'grid' (one .png), 'npy' or 'csv' for ``out``; a
  SampleError where the run cannot write that."""
  lower = out.lower()
  ext = os.path.splitext(lower)[1]
  if interpolating:
    if not is_image:
      raise SampleError(
          '--interpolate: a 2-D run has no images; sample its points with '
          '--out=FILE.npy or .csv'
      )
    if ext != '.png':
      raise SampleError(f'--out={out}: --interpolate writes one .png grid')
    return 'grid'
  if not is_image:
    if ext in ('.npy', '.csv'):
      return ext[1:]
    raise SampleError(
        f'--out={out}: a 2-D run gives points; write them with '
        '--out=FILE.npy or --out=FILE.csv'
    )
  if ext in ('.npy', '.csv'):
    raise SampleError(
        f'--out={out}: images go to --out=FILE.npz or a directory of PNGs '
        '(.npy and .csv are for 2-D runs)'
    )
  if ext == '.npz':
    return 'npz'
  if ext == '.png':
    raise SampleError(
        f'--out={out}: one .png is for --interpolate; give a directory for '
        'PNG files or FILE.npz'
    )
  if ext in IMAGE_FILE_EXTENSIONS:
    raise SampleError(
        f'--out={out}: images are written as PNG files into a directory or '
        'as one FILE.npz; give a directory without a file extension'
    )
  return 'png_dir'


def _writable_dir(path: str) -> bool:
  """Whether a directory can be made or written at ``path``: it exists and
  is writable, or the nearest existing folder above it is."""
  path = os.path.abspath(path)
  while not os.path.exists(path):
    parent = os.path.dirname(path)
    if parent == path:
      return False
    path = parent
  if not os.path.isdir(path):
    return False
  try:  # Where access() says yes and the file system says no (root).
    with tempfile.TemporaryFile(dir=path):
      pass
  except OSError:
    return False
  return True


def png_names(num: int) -> List[str]:
  width = max(6, len(str(num - 1)))
  return [f'{i:0{width}d}.png' for i in range(num)]


def check_out(
    out: str, kind: str, num: int, labelled: bool, overwrite: bool
) -> None:
  """Refuses an out path that cannot be written, or whose files exist
  (without ``overwrite``); nothing is created here."""
  if not out:
    raise SampleError('--out: give FILE.npz or a directory for PNG files')
  if kind == 'png_dir':
    if os.path.exists(out) and not os.path.isdir(out):
      raise SampleError(f'--out={out} is a file, not a directory')
    if not _writable_dir(out):
      raise SampleError(f'--out={out}: cannot write there')
    names = png_names(num) + (['labels.csv'] if labelled else [])
    taken = [n for n in names if os.path.lexists(os.path.join(out, n))]
    if taken and not overwrite:
      raise SampleError(
          f'--out={out} already holds {len(taken)} of the files to write '
          f'({taken[0]}, ...); give --overwrite to replace them, or another '
          '--out'
      )
    # Files of an earlier, larger sample would stay beside the new ones
    # (and a scorer reading the folder would count them): never mixed.
    wanted = set(names)
    stale = sorted(
        n
        for n in (os.listdir(out) if os.path.isdir(out) else [])
        if n not in wanted and (n.endswith('.png') or n == 'labels.csv')
    )
    if stale:
      raise SampleError(
          f'--out={out} holds {len(stale)} other sample files ({stale[0]}, '
          '...) that this sample would not replace; give an empty or new '
          'directory'
      )
    return
  if os.path.isdir(out):
    raise SampleError(f'--out={out} is a directory, not a file')
  if not _writable_dir(os.path.dirname(os.path.abspath(out))):
    raise SampleError(f'--out={out}: cannot write there')
  if os.path.lexists(out) and not overwrite:
    raise SampleError(
        f'--out={out} exists; give --overwrite to replace it, or another '
        '--out'
    )


def _atomic(path: str, write) -> None:
  """``write(file)`` to path.tmp, then renamed over ``path``."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = path + '.tmp'
  with open(tmp, 'wb') as f:
    write(f)
  os.replace(tmp, path)


def save_png(path: str, pixels: np.ndarray) -> None:
  """uint8 [H, W, 1 or 3] as a greyscale or RGB PNG."""
  from PIL import Image

  image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
  _atomic(path, lambda f: image.save(f, format='PNG'))


def write_npz(
    path: str,
    pixels: np.ndarray,
    labels: Optional[np.ndarray],
    info: Dict[str, Any],
) -> None:
  arrays = {'arr_0': pixels}
  if labels is not None:
    arrays['arr_1'] = np.asarray(labels, np.int32)
  arrays['gan_jax'] = np.array(json.dumps(info, sort_keys=True))
  _atomic(path, lambda f: np.savez(f, **arrays))  # type: ignore[arg-type]


def write_pngs(
    directory: str, pixels: np.ndarray, labels: Optional[np.ndarray]
) -> None:
  os.makedirs(directory, exist_ok=True)
  names = png_names(len(pixels))
  for name, image in zip(names, pixels):
    save_png(os.path.join(directory, name), image)
  if labels is not None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator='\n')
    writer.writerow(['file', 'label'])
    writer.writerows(zip(names, labels.tolist()))
    _atomic(
        os.path.join(directory, 'labels.csv'),
        lambda f: f.write(text.getvalue().encode()),
    )


def write_points(path: str, kind: str, points: np.ndarray) -> None:
  points = np.asarray(points, np.float32)
  if kind == 'npy':
    _atomic(path, lambda f: np.save(f, points))
    return
  text = io.StringIO()
  writer = csv.writer(text, lineterminator='\n')
  writer.writerow(['x', 'y'])
  writer.writerows([f'{v:.7g}' for v in row] for row in points.tolist())
  _atomic(path, lambda f: f.write(text.getvalue().encode()))


def read_npz_info(npz) -> Dict[str, Any]:
  """Where an .npz of samples came from (its ``gan_jax`` entry; {} for a
  file written elsewhere)."""
  if 'gan_jax' not in npz.files:
    return {}
  try:
    info = json.loads(str(npz['gan_jax']))
  except ValueError:
    return {}
  return info if isinstance(info, dict) else {}


@dataclasses.dataclass
class Request:
  """One experiments.sample command."""

  workdir: str
  out: str
  num: int = 0
  seed: Seed = 0
  step: Optional[int] = None
  generator: Optional[str] = None
  batch_size: int = 500
  label: Optional[int] = None
  truncation: Optional[float] = None
  interpolate: int = 0
  interpolate_steps: int = 8
  interpolation: str = 'slerp'
  overwrite: bool = False


def check_request(request: Request) -> None:
  """What can be refused before the run is read."""
  if request.interpolate < 0:
    raise SampleError(
        f'--interpolate={request.interpolate}: give a number of rows'
    )
  if request.interpolate:
    if request.interpolate_steps < 2:
      raise SampleError(
          f'--interpolate_steps={request.interpolate_steps}: give 2 or more'
      )
    if request.seed == EVAL_SEED:
      raise SampleError(
          "--seed=eval draws the evaluation's images; --interpolate needs "
          'an integer --seed'
      )
  elif request.num < 1:
    raise SampleError(f'--num={request.num}: give how many samples (1 or more)')
  if request.batch_size < 1:
    raise SampleError(f'--batch_size={request.batch_size}: give 1 or more')
  if request.truncation is not None and math.isnan(request.truncation):
    raise SampleError('--truncation=nan: give psi in [0, 1]')
  if request.seed == EVAL_SEED and (
      request.label is not None or request.truncation is not None
  ):
    raise SampleError(
        "--seed=eval draws the run's evaluation images, with its labels and "
        'truncation; leave out --label and --truncation'
    )


def check_options(config, request: Request) -> None:
  """What the run's config refuses, before its checkpoint is read."""
  psi = request.truncation
  if psi is not None and config.model.name not in STYLE_MODELS:
    raise SampleError(
        f'--truncation={psi}: truncation needs a mapping network and its '
        f'mean w (StyleGAN2); this run is {config.model.name}'
    )
  if psi is not None and not 0.0 <= psi <= 1.0:
    raise SampleError(f'--truncation={psi}: give psi in [0, 1]')
  if not is_image_dataset(config.dataset):
    given = [f'--label={request.label}'] if request.label is not None else []
    given += ['--seed=eval'] if request.seed == EVAL_SEED else []
    if given:
      raise SampleError(
          f'{" and ".join(given)}: for image runs only (a 2-D run gives '
          'points)'
      )
    return
  if request.label is not None:
    if not config.model.conditional:
      raise SampleError(
          f'--label={request.label}: this run is unconditional '
          '(model.conditional false)'
      )
    classes = image_data.image_source(config.dataset, config).num_classes
    if not 0 <= request.label < classes:
      raise SampleError(
          f'--label={request.label}: give a class in 0..{classes - 1}'
      )


def sample(request: Request, announce=print) -> Dict[str, Any]:
  """Carries out ``request``: checks it, restores the run, writes the
  samples; returns what was written (the ``gan_jax`` record of an .npz,
  with ``out`` and ``count``)."""
  check_request(request)
  saved = evaluate_run.saved_config(request.workdir)
  if evaluate_run.is_translation(saved):
    raise SampleError(
        f'--workdir={request.workdir} is a CycleGAN run: it translates '
        'images rather than sampling them (docs/translation.md)'
    )
  config = evaluate_run.read_config(request.workdir)
  is_image = is_image_dataset(config.dataset)
  kind = out_kind(request.out, is_image, request.interpolate > 0)
  count = (
      request.interpolate * request.interpolate_steps
      if request.interpolate
      else request.num
  )
  if not saved_steps(request.workdir):
    raise SampleError(
        f'--workdir={request.workdir} has no checkpoint to sample from'
    )
  check_options(config, request)
  check_out(
      request.out, kind, count, config.model.conditional, request.overwrite
  )
  run = load_run(request.workdir, request.step, request.generator)
  if run.generator == 'live' and request.generator is None:
    announce('note: the run kept no EMA of G; sampling its live G')
  info = {
      'workdir': os.path.abspath(request.workdir),
      'dataset': run.config.dataset,
      'variant': run.config.variant,
      'step': run.step,
      'generator': run.generator,
      'seed': request.seed,
      'truncation': (
          request.truncation
          if request.truncation is not None
          else (
              run.config.model.truncation_psi
              if run.config.model.name in STYLE_MODELS
              else None
          )
      ),
  }
  if kind == 'grid':
    assert isinstance(request.seed, int)
    images, labels = interpolate(
        run,
        request.interpolate,
        request.interpolate_steps,
        request.seed,
        request.interpolation,
        request.label,
        request.truncation,
    )
    from experiments.runner import plots

    pixels = to_uint8(images)
    grid = plots.image_grid(
        pixels,
        request.interpolate_steps,
        scale=max(1, 64 // pixels.shape[1]),
    )
    save_png(request.out, grid)
    info['interpolation'] = request.interpolation
    return {**info, 'out': request.out, 'count': count}
  if request.seed == EVAL_SEED:
    outputs, labels = generate_as_evaluated(run, request.num)
  else:
    assert isinstance(request.seed, int)
    outputs, labels = generate(
        run,
        request.num,
        request.seed,
        request.batch_size,
        request.label,
        request.truncation,
    )
  if kind in ('npy', 'csv'):
    dataset = gan_config.toy_dataset(run.config)
    write_points(
        request.out,
        kind,
        np.asarray(dataset.from_network(jnp.asarray(outputs))),
    )
  else:
    pixels = to_uint8(outputs)
    if kind == 'npz':
      write_npz(request.out, pixels, labels, info)
    else:
      write_pngs(request.out, pixels, labels)
  return {**info, 'out': request.out, 'count': request.num}
