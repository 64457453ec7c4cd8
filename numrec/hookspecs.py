"""The plugin hooks of numrec (pluggy marker ``"numrec"``, entry-point group ``numrec``).

A plugin is a module with functions marked ``@numrec.hookimpl``; built-in plugins under
``plugins/`` are written exactly the same way. pluggy calls hooks with keyword
arguments only, so a hookimpl names the arguments it wants and may leave out the rest.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("numrec")
hookimpl = pluggy.HookimplMarker("numrec")


@hookspec
def register_datasets(register):
    """Called once, when numrec first needs its data sets (never at import).

    Call ``register(DatasetSpec(...))`` once for every data set the plugin provides.
    Returns nothing; a name registered twice is rejected by the host, naming both plugins.
    """


# --- training events, for loggers ----------------------------------------------------------
# The trainer calls these for every registered plugin (and calls the same-named methods
# ``on_train_begin`` / ``on_epoch_end`` / ``on_train_end`` of the callback objects given to
# ``numrec.train``), so a logger - TensorBoard, a metrics file, an experiment tracker -
# needs no change to numrec. The arguments are numrec's own objects: read them, do not
# change them. A hook's return value is ignored.


@hookspec
def train_begin(config, network):
    """Called once when a training run starts (also when it resumes from a checkpoint),
    before the first batch.

    ``config``: the run's training settings (``numrec.TrainConfig``): attributes such as
    ``epochs``, ``batch_size``, ``optimizer``, ``lr``, ``seed``, and ``config.to_dict()``
    giving them all as plain JSON-able values. ``network``: the ``numrec.Network`` being
    trained (``network.sizes``, ``network.config()``, ``network.class_names``).
    """


@hookspec
def epoch_end(record, network):
    """Called after every epoch, as soon as its record is complete (after the validation
    and test evaluations), before the next epoch starts.

    ``record``: the dict that is appended to the run's history: "epoch" (1, 2, ...),
    "loss" (mean training loss), "val_loss", "val_accuracy" (or the task's metrics),
    "test_accuracy", "test_loss", "lr", "seconds", "samples_per_s", ...; a value is None
    where it was not measured (no validation or test split). ``network``: the network with
    this epoch's weights.
    """


@hookspec
def train_end(history, network):
    """Called once when a training run ends: after the last epoch, an early stop, or a
    reached target accuracy (not when it is interrupted: a resumed run ends it later).

    ``history``: the list of every epoch's record (see ``epoch_end``), the run's return
    value. ``network``: the trained network (with the best epoch's weights restored, where
    the run restores them).
    """
