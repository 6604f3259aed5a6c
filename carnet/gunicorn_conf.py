"""gunicorn settings for `carnet serve` (read by gunicorn with `-c`). Every value can be set from
the environment, so a systemd unit or a container changes them without editing this file."""

import multiprocessing
import os

bind = os.environ.get("CARNET_BIND", "127.0.0.1:8000")
# Sync workers: each request holds one database connection and one audit transaction.
workers = int(os.environ.get("CARNET_WORKERS", min(multiprocessing.cpu_count() * 2 + 1, 9)))
worker_class = "sync"
timeout = int(os.environ.get("CARNET_WORKER_TIMEOUT", "60"))
graceful_timeout = 30
# A worker is replaced after a bounded number of requests (memory kept in check), with jitter
# so the workers do not all restart at once.
max_requests = 2000
max_requests_jitter = 200
# Behind the reverse proxy only: it sets X-Forwarded-Proto; nothing else is trusted.
forwarded_allow_ips = os.environ.get("CARNET_FORWARDED_ALLOW_IPS", "127.0.0.1")
# Request lines and headers bounded (a patient record never travels in a URL).
limit_request_line = 4094
limit_request_fields = 100
accesslog = "-"
errorlog = "-"
# Paths and status only: query strings are not written (Django's log filter does the same).
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'


# Prometheus: each worker writes its samples to a folder that /metrics adds up; emptied when the
# server starts, a dead worker's live gauges dropped.
def on_starting(server):
    import tempfile
    from pathlib import Path

    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
        prefix="carnet-metrics-"
    )
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    for stale in Path(folder).glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
