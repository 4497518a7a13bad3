"""The image datasets Keras ships that an assignment may be built on, and the words the grader uses for them.

An assignment names one (`[assignment] dataset` in assignment.toml). The grader intercepts that dataset's
`load_data()` in the kernel and serves the images it has: the full set from the Keras cache where it
is there, a file the instructor names with --data, or a small real subset shipped in the package
(`embedded`; None: the grader ships none, and says so). See data.py.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dataset:
    name: str  # the module in keras.datasets: fashion_mnist
    title: str  # as people write it: Fashion-MNIST
    image_shape: tuple[int, ...]  # one image as load_data() returns it
    train_size: int  # images load_data() returns for training and for testing
    test_size: int
    thing: str  # what one image shows, for sentences: "digit", "piece of clothing"
    things: str  # "digits", "pieces of clothing"
    classes: tuple[str, ...]  # the labels 0, 1, ... in words
    embedded: str | None  # the subset shipped in autograder/data, or None


DIGITS = tuple(str(d) for d in range(10))
DATASETS = {
    "mnist": Dataset("mnist", "MNIST", (28, 28), 60_000, 10_000, "digit", "digits", DIGITS,
                     "mnist-embedded.npz"),
    "fashion_mnist": Dataset(
        "fashion_mnist", "Fashion-MNIST", (28, 28), 60_000, 10_000, "piece of clothing", "pieces of clothing",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        "fashion-mnist-embedded.npz"),
    "cifar10": Dataset(
        "cifar10", "CIFAR-10", (32, 32, 3), 50_000, 10_000, "picture", "pictures",
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"), None),
}

# Every dataset in keras.datasets, by module, as people write it: a notebook that loads another one than
# its assignment's was handed in for another assignment (pipeline.other_assignment).
TITLES = {**{d.name: d.title for d in DATASETS.values()}, "cifar100": "CIFAR-100", "imdb": "the IMDB reviews",
          "reuters": "the Reuters newswires", "boston_housing": "the Boston housing prices",
          "california_housing": "the California housing prices"}


def named(name: str) -> Dataset:
    """The dataset an assignment names; KeyError lists the ones the grader knows."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a dataset the grader knows; it knows " + ", ".join(DATASETS)) from None
