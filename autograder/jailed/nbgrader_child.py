"""Run ``nbgrader autograde`` for one submission, inside the nbgrader step's sandbox.

``python -I nbgrader_child.py JOB.json``. The job (read-only, written by the grading parent)
names the course copy, the gradebook copy, the student, the assignment and the limits; the
course config is loaded from ``job["config"]``. Everything nbgrader and the kernel write lands
in the sandbox's scratch. At the end this program writes a small JSON summary to
``job["summary"]``: what nbgrader recorded per cell (as :func:`read_autograde` returns it), the
output size of each executed notebook and a log tail. The parent treats that summary as
untrusted: the student's kernel ran in this sandbox and could have rewritten it.

Output floods are bounded here, where they arrive: every zmq message larger than
``job["max_message_bytes"]`` is refused by the socket (the kernel's peer is dropped, the cell
then fails), and a cell keeps at most ``job["cell_output_bytes"]`` of output.
"""

import json
import logging
import os
import sys
import warnings

# jsonschema (through nbformat) imports this optional IRI checker if it can; building its
# grammar takes seconds per submission, and notebooks never need the "iri" format.
sys.modules.setdefault("rfc3987_syntax", None)

TRUNCATED = "\n... [출력이 너무 길어 잘렸습니다 / output truncated] ...\n"


def read_autograde(url, assignment, student):
    """What ``nbgrader autograde`` recorded for one student.

    Returns ``{"timestamp": str | None, "notebooks": {name: {"grades": {grade_id:
    {"auto_score", "max_score", "needs_manual_grade"}}, "comments": {grade_id: auto_comment},
    "late_penalty": float | None}}}``; ``{}`` when the student has no submission there.
    """
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(url) as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return {}
        out = {"timestamp": sub.timestamp.isoformat() if sub.timestamp else None, "notebooks": {}}
        for nb in sub.notebooks:
            grades = {
                g.name: {
                    "auto_score": g.auto_score,
                    "max_score": g.max_score,
                    "needs_manual_grade": bool(g.needs_manual_grade),
                }
                for g in nb.grades
            }
            comments = {c.name: c.auto_comment for c in nb.comments}
            out["notebooks"][nb.name] = {
                "grades": grades,
                "comments": comments,
                "late_penalty": nb.late_submission_penalty,
            }
        return out


def _output_size(out):
    try:
        return len(json.dumps(out))
    except (TypeError, ValueError):
        return 0


def cap_outputs(max_message_bytes, cell_output_bytes):
    """Bound what the notebook client keeps of the kernel's output (see the module docstring)."""
    import zmq
    from nbclient import NotebookClient
    from nbformat.v4 import new_output

    start = NotebookClient.async_start_new_kernel_client

    async def start_client(self):
        # Sockets made from now on by this context (the client's channels) refuse big messages.
        self.km.context.setsockopt(zmq.MAXMSGSIZE, int(max_message_bytes))
        return await start(self)

    output = NotebookClient.output

    def bounded_output(self, outs, msg, display_id, cell_index):
        used = getattr(self, "_intro2ai_used", {})
        self._intro2ai_used = used
        if used.get(cell_index, 0) > cell_output_bytes:
            return None
        out = output(self, outs, msg, display_id, cell_index)
        if out is None:
            return out
        used[cell_index] = used.get(cell_index, 0) + _output_size(out)
        if used[cell_index] > cell_output_bytes:
            if outs and outs[-1] is out:
                outs.pop()
            outs.append(new_output("stream", name="stderr", text=TRUNCATED))
            used[cell_index] = cell_output_bytes + 1
        return out

    NotebookClient.async_start_new_kernel_client = start_client
    NotebookClient.output = bounded_output


def bounded_heartbeat_stop():
    """Make jupyter_client's ``HBChannel.stop`` wait at most 5 s for its thread.

    When a kernel dies (killed for a limit, ``os._exit``) the heartbeat thread reconnects and
    blocks in ``send`` on a REQ socket that has no peer, so ``stop()`` -> ``join()`` never
    returns and nbclient's cleanup hangs (seen with jupyter_client 8.10). The thread is a
    daemon thread of a process that exits right after, so it is left behind, with its socket.
    """
    from jupyter_client.channels import HBChannel

    if getattr(HBChannel.stop, "_intro2ai_bounded", False):
        return

    def stop(self):
        self._running = False
        self._exit.set()
        self.join(timeout=5)
        if not self.is_alive():
            self.close()

    stop._intro2ai_bounded = True
    HBChannel.stop = stop


def make_api(job):
    """An ``NbGraderAPI`` on the course copy, with the course config and the job's settings."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    cfg = Config()
    config = job.get("config")
    if config and os.path.isfile(config):
        cfg.merge(
            PyFileConfigLoader(os.path.basename(config), path=os.path.dirname(config)).load_config()
        )
    cfg.CourseDirectory.root = job["course"]
    cfg.CourseDirectory.db_url = "sqlite:///" + job["gradebook"]
    if job.get("kernel_name"):
        cfg.Execute.kernel_name = job["kernel_name"]
    if job.get("cell_timeout"):
        cfg.Execute.timeout = int(job["cell_timeout"])
    cfg.NbGraderAPI.log_level = "WARN"
    api = NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)
    for handler in list(api.log.handlers):  # the log goes into the summary, not to a terminal
        if isinstance(handler, logging.StreamHandler):
            api.log.removeHandler(handler)
    api.log.propagate = False
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    return api


def notebook_sizes(course, assignment, student):
    folder = os.path.join(course, "autograded", student, assignment)
    out = {}
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return out
    for name in names:
        if name.endswith(".ipynb"):
            try:
                out[name[: -len(".ipynb")]] = os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0], encoding="utf-8") as fh:
        job = json.load(fh)
    bounded_heartbeat_stop()
    cap_outputs(job["max_message_bytes"], job["cell_output_bytes"])
    api = make_api(job)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SQLAlchemy autoflush warnings of nbgrader
            result = api.autograde(job["assignment"], job["student"], force=True, create=True)
    except Exception as exc:  # nbgrader itself failed: reported, never raised
        result = {"success": False, "error": repr(exc)}
    try:
        autograde = read_autograde(
            "sqlite:///" + job["gradebook"], job["assignment"], job["student"]
        )
    except Exception as exc:
        autograde = {}
        result["error"] = (result.get("error") or "") + f"\n[reading the gradebook failed: {exc!r}]"
    text = (result.get("log") or "") + (result.get("error") or "")
    summary = {
        "success": bool(result.get("success")),
        "log": text[-4000:],
        "autograde": autograde,
        "notebook_bytes": notebook_sizes(job["course"], job["assignment"], job["student"]),
    }
    tmp = job["summary"] + ".part"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(summary, fh)
    os.replace(tmp, job["summary"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
