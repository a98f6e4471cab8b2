"""Unpaired image-to-image translation: CycleGAN (Zhu et al. 2017).

Two GANs tied by cycle consistency: G: X -> Y judged by D_Y, F: Y -> X
judged by D_X, and F(G(x)) ~ x, G(F(y)) ~ y. The same functional style as
the one-GAN core (gan_jax.state, gan_jax.steps):

* ``networks``: the ResNet generator, the PatchGAN discriminator (both with
  instance norm), sized from the image; MLPs for 2-D pairs;
* ``history``: the buffer of past generated images D is trained on;
* ``state``: ``CycleSpec`` (static) and ``CycleState`` (a pytree: four
  networks with their own optimizer states, two history buffers, the step,
  the loss weights);
* ``steps``: the pure, jittable train step and loop (``make_cycle_steps``);
* ``config``: validation and construction from a translation config
  (experiments/configs/translate.py);
* ``evaluation``: how right and how realistic the translations are.

The pairs of domains live in gan_jax.data.pairs.
"""
