"""The S4D compiler for Loihi 2: exported model → IR graph → passes → neurocore allocation → schedule →
Lava network. Imports NumPy (and Lava only where a network is built or run), never JAX."""
