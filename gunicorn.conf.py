"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py wsgi:app` (docs/deployment.md).

Everything an operator tunes comes from the environment; the BPMN timer/outbox worker is a separate
process (`flask --app wsgi worker`), never a thread in here.
"""
import multiprocessing
import os

# Behind the reverse proxy on the same host: listen on loopback only. GUNICORN_BIND=unix:/run/xinyong/app.sock works too.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")
# Sync workers: requests are short and CPU-bound (PDF rendering). WEB_CONCURRENCY is gunicorn's own convention.
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * multiprocessing.cpu_count() + 1, 9))
worker_class = "sync"
# Each worker builds its own app and database pool after the fork (no connections shared across processes).
preload_app = False
# The first letter after a deploy builds the font subset (about 15 s, see flask check); nothing else comes close.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# SIGTERM (systemctl stop/restart): finish in-flight requests for up to this long.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Recycle workers now and then so memory held by WeasyPrint/fontTools caches cannot grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = 200
# Refuse absurd request lines and header blocks before Flask sees them (uploads: MAX_FILE_BYTES per file, MAX_CONTENT_LENGTH per request, config.py).
limit_request_line = 8190
limit_request_fields = 100

# Logs to stdout/stderr (journald under systemd) unless files are named.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = os.environ.get("GUNICORN_ERROR_LOG", "-")
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Path without the query string (%(U)s, not %(r)s): search terms and filters stay out of the logs;
# %(D)s is the response time in microseconds for the load report.
access_log_format = '%({x-forwarded-for}i)s %(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(D)sus "%(a)s"'
proc_name = "xinyong-web"

# Reverse proxies in front of gunicorn whose X-Forwarded-For / X-Forwarded-Proto may be believed. With 1,
# the client address in audit events, lockouts and rate limits is the real client, not the proxy.
# Leave 0 when gunicorn is reached directly (the headers would then be forgeable).
FORWARDED_HOPS = int(os.environ.get("FORWARDED_HOPS", "0"))
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")


def post_worker_init(worker):
    """Trust the proxy's forwarding headers for exactly FORWARDED_HOPS hops."""
    if FORWARDED_HOPS > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        worker.wsgi = ProxyFix(worker.wsgi, x_for=FORWARDED_HOPS, x_proto=FORWARDED_HOPS, x_host=0)
