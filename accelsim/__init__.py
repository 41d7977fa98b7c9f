"""accelsim: a simulator of Eyeriss-style dataflow accelerators.

Heavy submodules (numba, simpy, matplotlib) are imported lazily by the code that needs them,
so ``import accelsim`` and ``accelsim --help`` stay fast.
"""

__version__ = "0.1.0"

from accelsim.errors import ConfigError  # noqa: E402  (cheap, part of the public API)

__all__ = ["ConfigError", "__version__"]
