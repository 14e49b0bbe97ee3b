"""Where export files go: a directory by default, or an S3-compatible bucket a CDN serves.

The contract is four calls and a clean-up. ``put`` must make the object visible atomically
(readers never see half a zip), and the export job writes every zip before it rewrites
``index.txt``; ``remove_temporaries`` removes what a killed ``put`` left behind. A file goes
out with the cache headers a CDN passes on (:func:`cache_control`; stored on the object by
:class:`S3Storage`, sent by the app's route for the directory): a zip never changes;
``index.txt`` may be cached a minute at most and revalidated, by its strong ETag.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tracer_server.settings import Settings

__all__ = [
    "IMMUTABLE",
    "SHORT_LIVED",
    "ExportStorage",
    "LocalDirectoryStorage",
    "S3Storage",
    "cache_control",
    "media_type",
    "storage_for",
    "valid_export_name",
]

_NAME = re.compile(r"(index\.txt|\d{1,20}-\d{1,20}-\d{5}\.zip)")
_TEMP_PREFIX = ".tmp-"  # a put in progress, or one a killed process left
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT_LIVED = "public, max-age=60, must-revalidate"


def valid_export_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name))


def cache_control(name: str) -> str:
    return SHORT_LIVED if name == "index.txt" else IMMUTABLE


def media_type(name: str) -> str:
    return "text/plain; charset=us-ascii" if name == "index.txt" else "application/zip"


class ExportStorage(Protocol):
    def put(self, name: str, data: bytes) -> None: ...
    def get(self, name: str) -> bytes | None: ...
    def delete(self, name: str) -> None: ...
    def names(self) -> list[str]: ...
    def remove_temporaries(self, older_than: float) -> int: ...


class LocalDirectoryStorage:
    """Files in one directory, written by rename so each appears whole."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        if not valid_export_name(name):
            raise ValueError(f"not an export file name: {name!r}")
        return self.root / name

    def put(self, name: str, data: bytes) -> None:
        target = self._path(name)
        fd, temp = tempfile.mkstemp(dir=self.root, prefix=_TEMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, 0o644)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def get(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except (FileNotFoundError, ValueError):
            return None

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if valid_export_name(p.name))

    def remove_temporaries(self, older_than: float) -> int:
        """Remove the ``.tmp-*`` files of interrupted puts last written over ``older_than``
        seconds ago (by the filesystem's clock, the one their mtimes come from); how many."""
        removed = 0
        for temp in self.root.glob(f"{_TEMP_PREFIX}*"):
            try:
                if time.time() - temp.stat().st_mtime >= older_than:
                    temp.unlink()
                    removed += 1
            except FileNotFoundError:  # its put finished, or another clean-up got there first
                pass
        return removed


class S3Storage:
    """Objects in an S3-compatible bucket (AWS S3, MinIO, SeaweedFS) under ``prefix``.

    A PUT makes an object visible whole, so no rename is needed and a killed put leaves
    nothing (``put_object`` is one request, never a multipart upload); each object carries its
    ``Cache-Control`` and content type, and S3's ETag of a single-part upload is the MD5 of its
    bytes: strong. Credentials come from the usual AWS chain (``AWS_ACCESS_KEY_ID`` ...),
    never from the settings file and never in a log.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "v1/exports/",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
    ) -> None:
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(retries={"max_attempts": 3, "mode": "standard"}, s3={"addressing_style": "path"})
            client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def put(self, name: str, data: bytes) -> None:
        if not valid_export_name(name):
            raise ValueError(f"not an export file name: {name!r}")
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.prefix + name,
            Body=data,
            ContentType=media_type(name),
            CacheControl=cache_control(name),
            ContentMD5=base64.b64encode(hashlib.md5(data).digest()).decode(),  # S3 checks the bytes it got
        )

    def get(self, name: str) -> bytes | None:
        if not valid_export_name(name):
            return None
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)
        except self.client.exceptions.NoSuchKey:
            return None
        data: bytes = response["Body"].read()
        return data

    def delete(self, name: str) -> None:
        if valid_export_name(name):
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + name)

    def remove_temporaries(self, older_than: float) -> int:
        return 0  # single-request PUTs: an interrupted one leaves no object and no upload

    def names(self) -> list[str]:
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        ):
            for item in page.get("Contents", []):
                name = item["Key"][len(self.prefix) :]
                if valid_export_name(name):
                    found.append(name)
        return sorted(found)


def storage_for(settings: Settings) -> ExportStorage:
    """The bucket of ``export_bucket_url`` (``s3://bucket[/prefix]``) if set, else the data dir."""
    if not settings.export_bucket_url:
        return LocalDirectoryStorage(settings.exports_dir)
    bucket, _, prefix = settings.export_bucket_url.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/") + "/" if prefix.strip("/") else "v1/exports/"
    return S3Storage(bucket, prefix, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region)
