"""`pitlane release NAME VERSION`: publish a package version as a GTO-compatible Git tag."""

from __future__ import annotations

from pathlib import Path

import typer

from toolkit.cli import output


def release_command(
    name: str = typer.Argument(..., help="package name, e.g. detector or perception:detector"),
    version: str = typer.Argument(..., help="version; semver (1.2.0 / v1.2.0) interoperates with gto"),
    files: list[str] = typer.Option(
        None, "--files", "-f", help="DVC-tracked outputs to release (default: the train stage's outputs)"
    ),
    channel: str | None = typer.Option(None, "--channel", "-c", help="also assign this channel (NAME#CHANNEL#N)"),
    push: bool = typer.Option(True, "--push/--no-push", help="dvc push the files and git push the tags"),
    run_record: str | None = typer.Option(None, "--run-record", help="run record path (default: run.json)"),
    assign_only: bool = typer.Option(
        False, "--assign-only", help="only assign --channel to the existing version (no new version)"
    ),
    repo: Path = typer.Option(Path("."), "--repo", help="experiment repository"),
    sign_key: Path | None = typer.Option(
        None, "--sign-key", help="Ed25519 private key (PEM) to sign the manifest with (default: $PITLANE_SIGNING_KEY)"
    ),
    json_out: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Release NAME@VERSION: manifest in an annotated tag, files pushed to the DVC remote."""
    from toolkit.errors import UsageError
    from toolkit.release.release import assign_channel, release

    if assign_only:
        if not channel:
            raise UsageError("--assign-only needs --channel")
        stage = assign_channel(name, version, channel, repo=repo, push=push)
        if json_out:
            output.print_json({"stage_tag": stage})
        else:
            output.info(f"assigned {channel}: {stage}")
        return
    result = release(
        name,
        version,
        repo=repo,
        files=files or None,
        channel=channel,
        push=push,
        run_record=run_record,
        signing_key=sign_key,
    )
    if json_out:
        output.print_json(
            {"tag": result.tag, "stage_tag": result.stage_tag, "pushed": result.pushed, "manifest": result.manifest}
        )
        return
    signed = f", signed by {result.manifest.signature['keyid']}" if result.manifest.signature else ""
    output.info(f"released {result.tag} at {result.manifest.commit[:12]}{signed}")
    for f in result.manifest.files:
        output.info(f"  {f.path}  md5 {f.md5}  {f.size if f.size is not None else '?'} bytes")
    if result.stage_tag:
        output.info(f"assigned {channel}: {result.stage_tag}")
    if not result.pushed:
        output.info("not pushed (--no-push): push the tags and dvc push the files to publish")


def register(app: typer.Typer) -> None:
    app.command("release")(release_command)
