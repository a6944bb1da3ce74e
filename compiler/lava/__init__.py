"""Lava processes of the fixed-point S4D network, in Lava's own layout: process.py / models.py.
(Lava imports every module of this directory when it looks for process models, so nothing else lives here;
the emitter is compiler/emit.py.)

Importing this package before Lava (compiler/emit.py does) makes Lava importable in a process that has
already fixed multiprocessing's start method: Lava calls `multiprocessing.set_start_method('fork')` on
import, which raises "context has already been set" once anything has fixed it, and a tqdm progress bar does
(it creates a multiprocessing lock). A notebook that trained or downloaded with a progress bar could
otherwise not simulate afterwards.
"""
import multiprocessing as _mp
import sys as _sys

_LAVA_SETS_FORK = "lava.magma.runtime.message_infrastructure.multiprocessing"

if _LAVA_SETS_FORK not in _sys.modules and (_method := _mp.get_start_method(allow_none=True)) is not None:
    if _method != "fork":
        raise RuntimeError(f"Lava runs its processes with multiprocessing's 'fork' start method, but this process "
                           f"has set {_method!r}; simulate in a process that does not set it")
    _mp.set_start_method(None, force=True)  # 'fork' already, which Lava sets again: clear it for Lava's call
