"""Draw assignment/handwritten-3.png: a 28x28 grayscale 3, dark ink on white paper.

The lesson's recap asks students to "see if this network can recognize the
handwritten 3 image". Like a photo of paper, it is dark-on-light, so it must be
inverted to match MNIST's light-on-dark digits. Drawn as one wobbly pen stroke.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
TARGETS = [ROOT / "assignment" / "handwritten-3.png", ROOT / "autograder" / "data" / "handwritten-3.png"]


def stroke() -> tuple[np.ndarray, np.ndarray]:
    t1 = np.linspace(np.pi * 0.95, -np.pi * 0.5, 60)   # upper bowl, clockwise
    t2 = np.linspace(np.pi * 0.5, -np.pi * 0.95, 70)   # lower, larger bowl
    x = np.concatenate([0.48 + 0.2 * np.cos(t1), 0.47 + 0.25 * np.cos(t2)])
    y = np.concatenate([0.68 + 0.14 * np.sin(t1), 0.33 + 0.2 * np.sin(t2)])
    wobble = 0.008 * np.sin(np.linspace(0, 9, x.size))
    return x + wobble, y


def main() -> None:
    fig = plt.figure(figsize=(1, 1), dpi=28)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    x, y = stroke()
    ax.plot(x, y, color="#1a1a1a", linewidth=6, solid_capstyle="round")
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    gray = rgba[..., :3].mean(axis=2).astype(np.uint8)
    for target in TARGETS:
        Image.fromarray(gray, mode="L").save(target)
        print(f"wrote {target} {gray.shape}")


if __name__ == "__main__":
    main()
