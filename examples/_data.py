"""The data of the Keras examples: scikit-learn's digits (ships with it, nothing downloaded) or,
with ``--mnist PATH``, MNIST from an ``.npz`` with Keras' keys (``x_train``, ``y_train``,
``x_test``, ``y_test``)."""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def load_data(mnist_path=None, seed=0, flat=False):
    """Train, validation and test splits, pixels in [0, 1]: images shaped (n, height, width, 1),
    or flattened rows with ``flat=True``. Digits: a fifth held out for the test, then a fifth
    of the rest for validation; MNIST: its own test set."""
    if mnist_path:
        with np.load(mnist_path) as data:
            x, y = data["x_train"] / 255.0, data["y_train"]
            x_test, y_test = data["x_test"] / 255.0, data["y_test"]
    else:  # 1,797 8x8 images with values 0..16
        digits = load_digits()
        x, x_test, y, y_test = train_test_split(digits.images / 16.0, digits.target, test_size=0.2,
                                                stratify=digits.target, random_state=seed)

    def shape(images):
        images = images.reshape(len(images), -1) if flat else images[..., None]
        return images.astype("float32")

    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.2, stratify=y,
                                                      random_state=seed)
    return (shape(x_train), y_train), (shape(x_val), y_val), (shape(x_test), y_test)
