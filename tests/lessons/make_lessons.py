"""Writes the second lesson the tests grade: a dense network on Fashion-MNIST with validation_split and no
evaluate, as a marked solution notebook, and students' versions of it, each named for what it does; and a
third lesson, the same network built with the functional API.

    python tests/lessons/make_lessons.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent / "fashion_dense"
FUNCTIONAL = HERE.parent / "fashion_functional"

DATA = """\
from tensorflow import keras
from tensorflow.keras.datasets import fashion_mnist

(train_images, train_labels), (test_images, test_labels) = fashion_mnist.load_data()
train_images = train_images / 255.0
test_images = test_images / 255.0
print(train_images.shape, test_images.shape)"""

MODEL = """\
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Flatten, Dense

model = Sequential([
    keras.Input(shape=(28, 28)),
    Flatten(),
    Dense(128, activation='relu'),
    Dense(10, activation='softmax'),
])"""

# The same network with Keras' functional API: the third lesson's solution.
FUNCTIONAL_MODEL = """\
from tensorflow.keras import layers

inputs = keras.Input(shape=(28, 28))
x = layers.Flatten()(inputs)
x = layers.Dense(128, activation='relu')(x)
outputs = layers.Dense(10, activation='softmax')(x)
model = keras.Model(inputs, outputs)"""

COMPILE = "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])"
FIT = "history = model.fit(train_images, train_labels, epochs=5, batch_size=32, validation_split=0.2)"


def solution_block(code: str) -> str:
    return f"# BEGIN SOLUTION\n{code}\n# END SOLUTION"


def lesson(model: str = MODEL, compile_: str = COMPILE, fit: str = FIT, data: str = DATA,
           marked: bool = True) -> nbformat.NotebookNode:
    mark = solution_block if marked else (lambda code: code)
    nb = new_notebook(cells=[
        new_markdown_cell("# Dense network on Fashion-MNIST\n\nA first network that tells clothes apart."),
        new_markdown_cell("## The data\n\nLoad Fashion-MNIST and scale its pixels to 0..1."),
        new_code_cell(data),
        new_markdown_cell("## Building the network\n\nA `Sequential` model called `model`: flatten the 28×28 "
                          "images, a `Dense` layer of 128 `relu` units, and a `Dense` output layer of 10 units "
                          "with `softmax`."),
        new_code_cell(mark(model)),
        new_markdown_cell("## Compiling\n\nOptimizer `adam`, loss `sparse_categorical_crossentropy`, metric "
                          "`accuracy`."),
        new_code_cell(compile_ + ("  # SOLUTION" if marked else "")),
        new_markdown_cell("## Training\n\nFit for 5 epochs with `batch_size=32`, keeping 20% of the training "
                          "images for validation (`validation_split=0.2`)."),
        new_code_cell(mark(fit)),
    ])
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"  # stable files: the same script writes the same bytes
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return nb


def main() -> None:
    HERE.mkdir(exist_ok=True)
    students = {
        # the lesson as its solution has it
        "solution": lesson(),
        # 64 units where the lesson has 128: only the layer checks can tell
        "wrong_units": lesson(model=MODEL.replace("Dense(128", "Dense(64"), marked=False),
        # the lesson's network and settings under the student's own names and import style
        "own_names": lesson(
            data=DATA.replace("train_images", "x_train").replace("test_images", "x_test")
                     .replace("train_labels", "y_train").replace("test_labels", "y_test"),
            model="import tensorflow as tf\n\nnet = tf.keras.Sequential()\nnet.add(tf.keras.Input(shape=(28, 28)))\n"
                  "net.add(tf.keras.layers.Flatten())\nnet.add(tf.keras.layers.Dense(units=128, activation='relu'))\n"
                  "net.add(tf.keras.layers.Dense(units=10, activation='softmax'))",
            compile_="net.compile(loss='sparse_categorical_crossentropy', optimizer=tf.keras.optimizers.Adam(), "
                     "metrics=['accuracy'])",
            fit="net.fit(x_train, y_train, batch_size=32, epochs=5, validation_split=0.2)", marked=False),
    }
    for name, nb in students.items():
        nbformat.validate(nb)
        nbformat.write(nb, HERE / f"{name}.ipynb")
    FUNCTIONAL.mkdir(exist_ok=True)
    nbformat.write(lesson(model=FUNCTIONAL_MODEL), FUNCTIONAL / "solution.ipynb")


if __name__ == "__main__":
    main()
