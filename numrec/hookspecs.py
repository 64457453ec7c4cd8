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
