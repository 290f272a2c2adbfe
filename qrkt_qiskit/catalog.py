"""The names a user picks from (datasets, ansätze, ODE methods, presets), importing neither torch nor Qiskit.

The command line checks its arguments against these before it loads a heavy module, so
``qrkt train --dataset MNIST`` answers at once instead of after seconds of imports. Each
module that implements the names imports its list from here and asserts that its own table
matches it.
"""

__all__ = ["ANSATZ_NAMES", "ARCHS", "CIRCUIT_INITS", "IMAGE_DATASETS", "ODE_METHODS", "TEXT_DATASETS",
           "TEXT_PRESET_NAMES", "VIT_PRESET_NAMES"]

IMAGE_DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")  # qrkt_qiskit.data.vision
TEXT_DATASETS = ("imdb",)  # qrkt_qiskit.data.text
ANSATZ_NAMES = ("qrkt", "qrkt-2n", "qrkt-reupload", "basic")  # qrkt_qiskit.circuits
CIRCUIT_INITS = ("uniform", "normal")  # how a circuit's weights start: qrkt_qiskit.layers.QuantumLayer
ODE_METHODS = ("rk1", "rk2", "rk3", "rk4", "rk4_enh")  # qrkt_qiskit.models.blocks' Butcher tableaux
ARCHS = ("shared", "thesis")  # qrkt_qiskit.models.blocks.check_arch
VIT_PRESET_NAMES = ("mnist", "mnist-1block", "cifar10", "digits", "digits-lean")  # qrkt_qiskit.models.vit.VIT_PRESETS
TEXT_PRESET_NAMES = ("imdb", "imdb-quantum")  # qrkt_qiskit.models.text.TEXT_PRESETS
