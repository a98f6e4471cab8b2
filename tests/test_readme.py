"""The README and docs/ tell the truth: their Python runs as written, their
commands name modules and flags that exist, their links and files are
there."""

import glob
import json
import os
import re
import subprocess
import sys

import pytest

from gan_jax import losses
from tests.helpers import SMALL_RUN_FLAGS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ['README.md'] + sorted(
    os.path.relpath(p, ROOT)
    for p in glob.glob(os.path.join(ROOT, 'docs', '*.md'))
)
# A block that is a file of the user's own starts by naming it.
_FILE_BLOCK = re.compile(r'# [\w.]+\.py:')


def _read(page):
  with open(os.path.join(ROOT, page)) as f:
    return f.read()


def _blocks(language):
  return [
      (page, block)
      for page in PAGES
      for block in re.findall(
          rf'```{language}\n(.*?)```', _read(page), flags=re.S
      )
  ]


def test_every_python_example_runs(capsys):
  examples = [
      (page, block)
      for page, block in _blocks('python')
      if not _FILE_BLOCK.match(block)
  ]
  assert examples, 'the README has a python example'
  for page, block in examples:
    try:
      exec(compile(block, page, 'exec'), {})  # pylint: disable=exec-used
    finally:
      losses.OBJECTIVES.pop('my_relativistic', None)
  assert "'g_loss'" in capsys.readouterr().out


@pytest.mark.slow  # a run through the command line (~10 s).
def test_the_config_file_example_trains_its_own_objective(tmp_path):
  # The config file of docs/forking.md, run as it says (no --variant): its
  # objective and its name stand; the variant layer would have replaced them.
  (config_file,) = [
      block for _, block in _blocks('python') if block.startswith('# my_gan.py')
  ]
  (tmp_path / 'my_gan.py').write_text(config_file)
  workdir = tmp_path / 'run'
  result = subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.run',
          f'--config={tmp_path / "my_gan.py"}',
          f'--workdir={workdir}',
          *SMALL_RUN_FLAGS,
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=300,
  )
  assert result.returncode == 0, result.stderr[-2000:]
  summary = json.loads((workdir / 'summary.json').read_text())
  assert summary['status'] == 'completed'
  assert summary['variant'] == 'my_objective'
  assert summary['config']['objective']['name'] == 'my_objective'
  assert 'my_objective on grid25, seed 0: completed' in result.stdout


def _commands():
  """{module: {flag names}} of every ``python -m`` command in a shell
  block (continuation lines joined)."""
  commands = {}
  for _, block in _blocks('bash'):
    for module, args in re.findall(
        r'python -m ([\w.]+)([^\n#;&|"]*)', block.replace('\\\n', ' ')
    ):
      names = commands.setdefault(module, set())
      names.update(re.findall(r'(?:^|\s)--([\w]+)(?=[=\s]|$)', args))
  return commands


def test_every_command_shown_names_a_module_and_flags_that_exist():
  commands = _commands()
  assert {
      'experiments.run',
      'experiments.sweep',
      'experiments.theory',
      'benchmarks',
      'pytest',
  } <= set(commands), commands
  for module, names in commands.items():
    if module == 'pytest':
      continue
    # Each in a process of its own: the commands define flags of one name.
    listed = subprocess.run(
        [
            sys.executable,
            '-c',
            f'import {module}\nfrom absl import flags\n'
            'print(" ".join(flags.FLAGS))',
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    defined = set(listed.stdout.split())
    unknown = {
        n
        for n in names
        if n not in defined and not (n.startswith('no') and n[2:] in defined)
    }
    assert not unknown, f'python -m {module}: no flag {sorted(unknown)}'


def test_every_link_and_repository_file_the_docs_name_exists():
  # A command copied from the docs or a --help text must not name a file
  # that is not there (a sweep file once was: configs/sweeps/lr_grid.py).
  pattern = re.compile(
      r'\b((?:experiments|gan_jax|benchmarks|tests|docs|examples|notebooks)/'
      r'[\w./-]*\w\.(?:py|md|json|csv|png|ipynb))\b'
  )
  sources = PAGES + [
      os.path.relpath(os.path.join(folder, name), ROOT)
      for package in ('experiments', 'gan_jax', 'benchmarks', 'examples')
      for folder, _, names in os.walk(os.path.join(ROOT, package))
      for name in names
      if name.endswith('.py')
  ]
  named = {}
  for source in sources:
    for path in pattern.findall(_read(source)):
      named.setdefault(path, source)
  # Markdown links and images, relative to their page.
  for page in PAGES:
    for target in re.findall(r'\]\(([^)#\s]+)(?:#[^)]*)?\)', _read(page)):
      if '://' not in target:
        named.setdefault(
            os.path.normpath(os.path.join(os.path.dirname(page), target)), page
        )
  assert len(named) > 10, named  # The patterns still find what docs name.
  missing = {
      path: source
      for path, source in named.items()
      if not os.path.exists(os.path.join(ROOT, path))
  }
  assert not missing, f'named but missing (path: where): {missing}'


@pytest.mark.parametrize('page', PAGES)
def test_every_anchor_link_names_a_heading(page):
  for target, anchor in re.findall(r'\]\(([^)#\s]*)#([^)\s]+)\)', _read(page)):
    linked = os.path.normpath(os.path.join(os.path.dirname(page), target))
    headings = re.findall(r'(?m)^#+ (.+)$', _read(linked if target else page))
    slugs = {
        re.sub(r'[^\w\- ]', '', h.lower()).replace(' ', '-') for h in headings
    }
    assert anchor in slugs, f'{page}: #{anchor} is not a heading of {linked}'


def _variant_defaults():
  """The README variants table's defaults cell of each variant, with
  'same' (the row above) and 'as NAME' (that row) resolved."""
  table = _read('README.md').split('| variant | D / critic minimises')[1]
  cells, previous = {}, None
  for line in table.split('\n')[2:]:
    if not line.startswith('| `'):
      break
    columns = [c.strip() for c in line.strip('|').split(' | ')]
    name, cell = columns[0].split('`')[1], columns[3]
    # 'same, λ 10': the row above's settings, then what the cell adds.
    if cell.startswith('same') and previous is not None:
      cell = cells[previous] + '; ' + cell[len('same') :]
    elif cell.startswith('as '):
      cell = cells[cell.split()[1].strip('`;')] + '; ' + cell
    cells[name], previous = cell, name
  return cells


def _stated(text):
  """Optimizer, rate, betas, n_critic and penalty weight written in a
  defaults cell (None where the cell does not say)."""
  optimizer = re.search(r'(Adam|RMSProp) ([0-9.e-]+)', text)
  betas = re.search(r'\((\d[\d.]*), (\d[\d.]*)\)', text)
  critic = re.search(r'n_critic (\d+)', text)
  # The last weight stated wins: 'same, λ 10' after the row above's.
  weights = re.findall(r'[λγ] ([0-9.]+)(?: and ([0-9.]+))?', text)
  weight = weights[-1] if weights else None
  stated = {
      'optim.g.name': optimizer and optimizer.group(1).lower(),
      'optim.g.lr': optimizer and float(optimizer.group(2)),
      'optim.g.b1': betas and float(betas.group(1)),
      'optim.g.b2': betas and float(betas.group(2)),
      'objective.n_critic': critic and int(critic.group(1)),
      'objective.penalty_weight': weight and float(weight[0]),
  }
  for field, pattern in (
      ('objective.dragan_c', r'\bc ([0-9.]+)'),
      ('objective.lecam_decay', r'decay ([0-9.]+)'),
  ):
    found = re.findall(pattern, text)
    stated[field] = float(found[-1]) if found else None
  return stated, weight


# Variants whose λ is a weight of their own, not objective.penalty_weight.
_OWN_WEIGHTS = {
    'cr': ('objective.cr_weight',),
    'bcr': ('objective.bcr_real', 'objective.bcr_fake'),
}


def test_the_variants_table_shows_the_defaults_the_commands_use():
  from experiments.configs import default
  from experiments.runner.config_layers import resolve_config

  cells = _variant_defaults()
  assert {'wgan_gp', 'r1', 'vanilla', 'dragan'} <= set(cells)
  for name, cell in cells.items():
    two_d, _, images = cell.removeprefix('2-D: ').partition('; images: ')
    sides = [('grid25', two_d), ('cifar10', images or two_d)]
    if '(images only)' in _read('README.md').split(f'`{name}`')[1][:20]:
      sides = []  # Its cell describes image runs only.
    for dataset, text in sides:
      config = resolve_config(default.get_config(), name, {}, dataset=dataset)
      schedule = 'linear' if dataset == 'grid25' else 'constant'
      assert config.optim.g.schedule == schedule, (name, dataset)
      stated, weight = _stated(text)
      if name in _OWN_WEIGHTS:
        stated['objective.penalty_weight'] = None
        for field, value in zip(_OWN_WEIGHTS[name], weight or ()):
          stated[field] = float(value or weight[0])
      for field, value in stated.items():
        if value is None or (
            field == 'objective.penalty_weight'
            and config.objective.penalty == 'none'
        ):
          continue  # Not stated, or a weight of a field of its own.
        section, key = field.rsplit('.', 1)
        actual = config
        for part in section.split('.'):
          actual = actual[part]
        assert (
            actual[key] == pytest.approx(value)
            if isinstance(value, float)
            else actual[key] == value
        ), (name, dataset, field, actual[key])
        if section == 'optim.g':  # The table gives one rate for both.
          assert config.optim.d[key] == actual[key], (name, dataset, field)
