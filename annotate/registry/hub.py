"""Versions on the Hugging Face Hub (or any Hub-compatible endpoint: ``HF_ENDPOINT``,
``HF_TOKEN``): a version is one commit tagged ``vX.Y.Z``, its files the registry's byte for
byte, so the manifest's checksums hold there too and are checked on the way back."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from annotate.config import Settings, hide_passwords, mask_url
from annotate.errors import AnnotateError
from annotate.registry.manifest import copy_listed, read_manifest, verify


def push_to_hub(
    folder: Path,
    settings: Settings,
    repo: str,
    *,
    private: bool = True,
    message: str | None = None,
) -> dict[str, Any]:
    """Upload a published version folder to the Hub (or any Hub-compatible endpoint) as one
    commit and tag it ``vX.Y.Z``. The files are the registry's, byte for byte, so the
    manifest's checksums hold on the Hub too."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    manifest = verify(folder)
    version = manifest["version"]
    token = settings.hf_token.get_secret_value() if settings.hf_token else None
    if token is None:
        raise AnnotateError("Publishing to the Hub needs a token.", hint="Set HF_TOKEN.")
    api = HfApi(endpoint=settings.hf_endpoint or None, token=token)
    tag = f"v{version}"
    try:
        api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
        refs = api.list_repo_refs(repo, repo_type="dataset")
        if any(ref.name == tag for ref in refs.tags):
            raise AnnotateError(f"{repo} already has the tag {tag}; versions are immutable.")
        commit = api.upload_folder(
            folder_path=str(folder),
            repo_id=repo,
            repo_type="dataset",
            commit_message=message or f"{manifest['name']} {version}",
            delete_patterns=["data/*"],  # a version replaces the previous one's data files
        )
        api.create_tag(repo, tag=tag, repo_type="dataset", revision=commit.oid)
    except HfHubHTTPError as error:
        raise AnnotateError(
            f"The Hub at {mask_url(api.endpoint)} refused the upload: "
            f"{hide_passwords(str(error), api.endpoint)}."
        ) from None
    endpoint = mask_url(api.endpoint)
    return {"repo": repo, "tag": tag, "commit": commit.oid, "endpoint": endpoint}


def pull_from_hub(settings: Settings, repo: str, version: str, destination: Path) -> Path:
    """Download tag ``vVERSION`` of a Hub dataset into ``destination`` and verify every file
    against the manifest that came with it (never trusting a cache: offline, the Hub client
    can return the newest cached revision for an older tag)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    token = settings.hf_token.get_secret_value() if settings.hf_token else None
    destination.parent.mkdir(parents=True, exist_ok=True)
    # Downloaded next to the destination, which gets only what the manifest lists: not the
    # repo's .gitattributes, nor the client's .cache folder.
    with tempfile.TemporaryDirectory(prefix=".download-", dir=destination.parent) as download:
        try:
            snapshot_download(
                repo,
                repo_type="dataset",
                revision=f"v{version}",
                local_dir=download,
                token=token,
                endpoint=settings.hf_endpoint or None,
            )
        except HfHubHTTPError as error:
            reason = hide_passwords(str(error), settings.hf_endpoint)
            raise AnnotateError(f"Could not download {repo} v{version}: {reason}.") from None
        copy_listed(Path(download), destination, read_manifest(Path(download)))
    manifest = verify(destination)
    if manifest["version"] != version:
        raise AnnotateError(
            f"{repo} at v{version} holds version {manifest['version']}; do not use this copy."
        )
    return destination
