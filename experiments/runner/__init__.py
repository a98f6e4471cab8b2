"""One run, start to finish (``python -m experiments.run``).

* ``config_layers``: the config file, dataset defaults, variant and flags
  in layers; resume checks.
* ``launch``: joining the other processes of a multi-host job.
* ``train``: ``train_and_evaluate(config, workdir)``: build, resume, train,
  evaluate, summarise.
* ``loop``: the interval loop a run and a sweep group share (divergence
  check, logging, evaluation and checkpoint cadence, stop requests).
* ``inputs``: the training batches, on device or streamed.
* ``evaluators``: the 2-D and image metrics and their sample pictures.
* ``evaluate_run``: a finished run's checkpoint evaluated after the fact
  (``python -m experiments.evaluate``).
* ``preemption``: SIGTERM and Ctrl-C as a request to stop and save.
* ``plots``: matplotlib without a display.
"""
