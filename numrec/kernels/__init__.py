"""The compiled engine: plain module-level Numba kernels, grouped by what they do.

- ``codes``   - integer codes for activations, outputs and optimizers, one place for flags
- ``layers``  - forward and backward passes over a block of rows (one shard)
- ``step``    - the mini-batch training loop: gather, shards, fixed-order reduce, update
- ``infer``   - parallel forward passes for predict / evaluate / gradients

Python classes (``numrec.Network``, ``numrec.train``) hold the state and call these.
"""
