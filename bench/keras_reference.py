"""The published transfer architecture in Keras/TensorFlow, built layer by layer (reference only).

Run with a Python that has tensorflow-cpu (never a quadpred dependency; `make bench-env`
creates bench/.venv-keras). Prints one JSON line: chunks/s of a training step and of inference.

Differences from the published file, both in the reference's favour: convolutions are
channels-last (TensorFlow's CPU kernels do not run channels-first Conv2D) with batch norm over
channels, and the step is a compiled tf.function (train_on_batch / predict_on_batch).
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow import keras  # noqa: E402
from tensorflow.keras import layers  # noqa: E402


def double_conv(x, filters: int, block: int):
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"b{block}_c{i}")(x)
        x = layers.BatchNormalization(name=f"b{block}_bn{i}")(x)
    return layers.Dropout(0.25, name=f"b{block}_do")(x)


def build(units: int = 512) -> keras.Model:
    inputs = keras.Input((128, 31, 1), name="logmel")
    x = inputs
    for block, (filters, pool) in enumerate(zip((32, 64, 128), (4, 4, 2)), start=1):
        x = double_conv(x, filters, block)
        x = layers.MaxPooling2D((pool, 1), name=f"b{block}_pool")(x)
    x = layers.MaxPooling2D((2, 1), name="latent_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    for i in range(3):
        x = layers.Dense(units, activation="relu", name=f"b{4 + i}_fc")(x)
        x = layers.Dropout(0.25, name=f"b{4 + i}_do")(x)
    outputs = []
    for head, (task, classes) in enumerate((("quadrants", 4), ("arousal", 2), ("valence", 2))):
        h = x
        for i in (1, 2):
            h = layers.Dense(units, activation="relu", name=f"b{7 + 2 * head + i - 1}_fc{i}")(h)
            h = layers.Dropout(0.25)(h)
        outputs.append(layers.Dense(classes, activation="softmax", name=task)(h))
    return keras.Model(inputs, outputs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(0)
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(1e-4),
                  loss=["sparse_categorical_crossentropy"] * 3)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, 128, 31, 1)).astype(np.float32)
    ys = [rng.integers(0, k, args.batch) for k in (4, 2, 2)]
    for _ in range(3):
        model.train_on_batch(x, ys)
    start = time.perf_counter()
    for _ in range(args.steps):
        model.train_on_batch(x, ys)
    train = args.batch * args.steps / (time.perf_counter() - start)
    for _ in range(3):
        model.predict_on_batch(x)
    start = time.perf_counter()
    for _ in range(args.steps * 3):
        model.predict_on_batch(x)
    infer = args.batch * args.steps * 3 / (time.perf_counter() - start)
    print(json.dumps({"train": train, "infer": infer, "tensorflow": tf.__version__,
                      "parameters": int(model.count_params())}))


if __name__ == "__main__":
    main()
