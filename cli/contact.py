"""`thinbase contact resend`: deliver contact-form submissions whose email failed (or was never sent)."""

from __future__ import annotations

import contextlib
import uuid
from typing import Annotated, Any

import httpx
import typer

from thinbase.cli.common import JsonOption, session
from thinbase.cli.output import ExitCode, emit_json, fail, progress, progress_bar, table
from thinbase.db.sync import LoopThread

app = typer.Typer(help="Contact-form submissions: re-send the ones whose email did not go out.")


def _submission_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a submission id (a UUID)") from None


@app.command()
def resend(
    ids: Annotated[
        list[str] | None,
        typer.Argument(help="Submissions to send (default: every unsent one, oldest first)."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many (without IDs).")] = 100,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be sent; send nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Send unsent contact submissions through Resend and mark each sent or failed.

    Needs RESEND_API_KEY and EMAIL_FROM. Resend deduplicates on the submission id, so a message is never
    delivered twice. Exits 3 when a given id is not an unsent submission, 1 when email is not configured
    or a send failed."""
    wanted = [_submission_id(value) for value in ids or []]
    with session(as_json) as db:
        unsent: list[dict[str, Any]] = db.call(
            "list_unsent_contact_submissions", {"limit": 1000 if wanted else limit}
        )
        if wanted:
            by_id = {str(s["id"]): s for s in unsent}
            missing = [i for i in wanted if i not in by_id]
            if missing:
                fail(
                    f"no unsent contact submission {', '.join(missing)}",
                    hint="unknown, or already sent",
                    code=ExitCode.NOT_FOUND,
                    as_json=as_json,
                )
            chosen = [by_id[i] for i in wanted]
        else:
            chosen = unsent
        if dry_run:
            _report([{**_brief(s), "result": "would_send"} for s in chosen], as_json)
            return
        # Imported here: the email sender belongs to the edge app, and only this command needs it.
        from thinbase.errors import EmailError, EmailNotConfigured
        from thinbase.functions.contact.email import send_contact_email

        results: list[dict[str, Any]] = []
        loop = LoopThread("contact-resend")  # the sender is async (the edge app's); one loop for the batch
        http = httpx.AsyncClient()
        with contextlib.ExitStack() as cleanup, progress_bar("sending", len(chosen)) as advance:
            cleanup.callback(loop.stop)
            cleanup.callback(lambda: loop.run(http.aclose()))
            for submission in chosen:
                try:
                    message_id = loop.run(send_contact_email(db.target.settings, http, submission))
                except EmailNotConfigured as exc:
                    fail(
                        f"email is not configured: {exc}",
                        hint="set RESEND_API_KEY and EMAIL_FROM",
                        as_json=as_json,
                    )
                except EmailError as exc:
                    db.call(
                        "mark_contact_submission",
                        {"id": submission["id"], "status": "failed", "error": f"{exc.code}: {exc}"},
                    )
                    results.append({**_brief(submission), "result": "failed", "error": f"{exc.code}: {exc}"})
                else:
                    db.call(
                        "mark_contact_submission",
                        {"id": submission["id"], "status": "sent", "provider_message_id": message_id},
                    )
                    results.append({**_brief(submission), "result": "sent", "message_id": message_id})
                advance()
    _report(results, as_json)
    if any(r["result"] == "failed" for r in results):
        raise typer.Exit(int(ExitCode.FAILURE))


def _brief(submission: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": submission["id"],
        "created_at": submission["created_at"],
        "status": submission["status"],
        "attempts": submission["attempts"],
        "last_error": submission["last_error"],
    }


def _report(results: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        failed = sum(r["result"] == "failed" for r in results)
        emit_json(results, failed=(ExitCode.FAILURE, f"{failed} message(s) not sent") if failed else None)
        return
    if results:
        table(
            ("id", "received", "was", "attempts", "result", "detail"),
            (
                (
                    r["id"],
                    r["created_at"],
                    r["status"],
                    r["attempts"],
                    r["result"],
                    r.get("error") or r.get("message_id") or r.get("last_error"),
                )
                for r in results
            ),
            title="contact submissions",
        )
    progress(f"{len(results)} submission(s)" if results else "no unsent contact submissions")
