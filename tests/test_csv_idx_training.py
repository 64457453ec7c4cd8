"""The same digits loaded from CSV and from IDX train to bit-identical weights: the CSV
plugin keeps 0..255 pixels as uint8, scaled in the engine's gather exactly like IDX data."""

import numpy as np

import numrec
from numrec.idx import write_idx


def test_csv_and_idx_train_identically(tmp_path, numrec_cache, numrec_plugin_host):
    sample = numrec.load_dataset("mnist-sample")
    parts = {"train": (sample.train.X[:600], sample.train.y[:600]),
             "t10k": (sample.test.X[:150], sample.test.y[:150])}  # fmt: skip
    idx_dir = tmp_path / "idx"
    idx_dir.mkdir()
    for part, (X, y) in parts.items():
        write_idx(idx_dir / f"{part}-images-idx3-ubyte.gz", X.reshape(-1, 28, 28))
        write_idx(idx_dir / f"{part}-labels-idx1-ubyte.gz", y.astype(np.uint8))
        # Kaggle's layout: a header, the label first
        header = "label," + ",".join(f"pixel{i}" for i in range(784))
        rows = np.column_stack([y, X]).astype(np.int64)
        np.savetxt(tmp_path / f"{part}.csv", rows, fmt="%d", delimiter=",", header=header,
                   comments="")  # fmt: skip

    from_idx = numrec.load_dataset("mnist", data_dir=idx_dir)
    from_csv = numrec.load_dataset(
        "csv", train=tmp_path / "train.csv", test=tmp_path / "t10k.csv", label_column=0
    )
    assert from_csv.train.X.dtype == np.uint8
    np.testing.assert_array_equal(from_csv.train.X, from_idx.train.X)
    np.testing.assert_array_equal(from_csv.test.y, from_idx.test.y)

    weights = []
    for ds in (from_idx, from_csv):
        net = numrec.Network([784, 32, 10], seed=3)
        # augment=None: the IDX set declares an image shape, so the default "auto" would
        # augment it and not the CSV's rows
        numrec.train(net, ds, epochs=2, batch_size=50, seed=11, augment=None, progress=False)
        weights.append(net.theta)
    np.testing.assert_array_equal(weights[0], weights[1])
