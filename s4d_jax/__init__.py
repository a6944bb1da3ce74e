"""S4D state-space sequence models in JAX, with a fixed-point mode that matches Loihi 2 bit for bit.

Importing the package is cheap; JAX loads with the submodules that need it.
"""
__version__ = "0.1.0"
