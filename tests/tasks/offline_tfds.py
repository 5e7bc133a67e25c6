"""Real TFDS builders run offline: only their download step is replaced.

`offline_build(name, folder, data_dir)` prepares TFDS dataset `name` with
its own builder, whose download manager hands back `folder` (laid out as the
builder finds its files after download and extraction) instead of fetching.
"""

import os

import tensorflow_datasets as tfds
from etils import epath

REAL_SAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "data", "real_samples")
# task name -> folder of tests/data/real_samples (the builder is the task's own).
REAL_SAMPLE_FOLDERS = {"piqa": "piqa", "copa": "super_glue_copa",
                       "boolq": "super_glue_boolq", "winogrande": "winogrande"}


class _LocalDownloads(tfds.download.DownloadManager):
    """A download manager that returns a local folder for every URL and fetches nothing."""

    def __init__(self, folder, **kwargs):
        super().__init__(**kwargs)
        self._folder = epath.Path(folder)

    def download_and_extract(self, url_or_urls):
        if isinstance(url_or_urls, dict):
            return {key: self._folder for key in url_or_urls}
        if isinstance(url_or_urls, (list, tuple)):
            return [self._folder for _ in url_or_urls]
        return self._folder

    download = extract = download_and_extract


def offline_build(name: str, folder: str, data_dir: str) -> None:
    builder = tfds.builder(name, data_dir=data_dir)
    downloads = os.path.join(data_dir, "downloads")
    builder._make_download_manager = lambda download_dir, download_config: _LocalDownloads(
        folder, download_dir=downloads)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False))
