"""The Python API, cell by cell: load a zoo model, classify real MNIST test digits, stream them token by token
in float and in fixed point, compile for Loihi 2.

Run: PYTHONPATH=. python experiments/api_quickstart.py   (no network and no data set needed: the test digits
ship with the zoo model). Each `# %%` block is a notebook cell.
"""
# %% Load a model from the zoo (verified by sha256, cached) and read its card.
import time

import numpy as np

import s4d
import zoo

m = s4d.load("smnist-s4d-67k")
print(m)
print(m.card.splitlines()[0])

# %% Classify the MNIST test digits that ship with the model: pixels [batch, 784, 1], integers in [0, 255].
samples = zoo.load_samples(zoo.resolve("smnist-s4d-67k"))
x, labels = samples.sequences.astype(np.uint8), samples.labels
logits = m.classify(x)
print("labels     ", labels.tolist())
print("predictions", logits.argmax(-1).tolist())

# %% Stream the first digit one pixel at a time: the prediction after every token, as a live stream would see it.
s = m.stream()
first = s.push(x[:1, 0])  # the first push compiles the runtime (or loads it from numba's cache)
start = time.perf_counter()
outs = np.stack([first] + [s.push(x[:1, i]) for i in range(1, x.shape[1])], axis=1)[0]
print(f"float streaming: {(time.perf_counter() - start) / (x.shape[1] - 1) * 1e6:.1f} µs per token")
print("last streamed logits equal classify:", np.allclose(outs[-1], logits[0], atol=1e-4))
changes = [t + 1 for t in range(1, len(outs)) if outs[t].argmax() != outs[t - 1].argmax()]
print(f"the prediction last changed after token {changes[-1] if changes else 1} of {len(outs)}")

# %% The same in fixed point, the integer arithmetic Loihi 2 executes: streaming equals classify bit for bit.
f = s4d.load("smnist-s4d-67k", precision="fixed")
z = f.classify(x)
print("fixed-point predictions", z.argmax(-1).tolist())
fs = f.stream()
zs = [fs.push(x[:, i]) for i in range(x.shape[1])]
print("fixed streaming equals classify bit for bit:", np.array_equal(zs[-1], z))

# %% Compile for Loihi 2: the fields of `s4d compile --json` (estimates, not chip measurements).
report = f.compile(mode="pipelined")
low, high = report.estimated_latency_us_per_token_range
print(f"{report.neurocores} neurocores on {report.chips} chip(s), latency {report.latency_steps} steps, "
      f"estimated {low}–{high} µs per token")

# %% Simulate it in Lava (fixed point, one OS process per Lava process): every token's readout is compared
# with the spec's NumPy reference, bit for bit. Two of the shipped test sequences take about ten seconds.
simulated = f.compile(simulate=2)
print(f"Lava: bit-exact {simulated.bit_exact} on {simulated.simulated_sequences} sequences "
      f"({simulated.simulated_inputs}), {simulated.lava_steps_per_second:.0f} time steps/s")
