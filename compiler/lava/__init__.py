"""Lava processes of the fixed-point S4D network, in Lava's own layout: process.py / models.py.
(Lava imports every module of this directory when it looks for process models, so nothing else lives here;
the emitter is compiler/emit.py.)"""
