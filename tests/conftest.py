"""Shared test setup: 4 fake CPU devices, set before JAX starts."""

import os

# Must happen before any JAX computation initialises the CPU backend.
os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=4')

import jax  # noqa: E402

jax.config.update('jax_num_cpu_devices', 4)
