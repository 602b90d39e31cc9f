"""``resqplug metrics serve --port N`` (a standalone Prometheus endpoint) and
``resqplug metrics show`` (the same text, once, on stdout)."""

from __future__ import annotations

import signal
import socket
import threading
from types import FrameType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import click

import resqplug

from .collector import exposition


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per scrape would drown the log


class ThreadedServer(WSGIServer):
    """One thread per scrape, so a slow one does not hold the others."""

    daemon_threads = True

    def process_request(self, request: Any, client_address: Any) -> None:
        args = (request, client_address)
        threading.Thread(target=self._handle, args=args, daemon=True).start()

    def _handle(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


class ThreadedServer6(ThreadedServer):
    address_family = socket.AF_INET6


def metrics_app(client: resqplug.Resq) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ.get("PATH_INFO", "/") not in ("/", "/metrics"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: the metrics are at /metrics\n"]
        body, media_type = exposition(client)
        start_response("200 OK", [("Content-Type", media_type)])
        return [body]

    return app


def listen(host: str, port: int, client: resqplug.Resq) -> WSGIServer:
    kind = ThreadedServer6 if ":" in host else ThreadedServer
    try:
        return make_server(
            host, port, metrics_app(client), server_class=kind, handler_class=QuietHandler
        )
    except OSError as exc:
        where = f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
        reason = exc.strerror or str(exc)
        raise resqplug.ConfigError(f"cannot listen on {where}: {reason}") from None


def stop_on_term(server: WSGIServer) -> None:
    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)


@click.group("metrics")
def metrics_group() -> None:
    """Prometheus metrics (resqplug-metrics)."""


@metrics_group.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=9642, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve /metrics for Prometheus (read-only figures, no job args; no auth)."""
    client = resqplug.default_client()
    client.ping()
    server = listen(host, port, client)
    stop_on_term(server)
    click.echo(f"resqplug metrics on http://{host}:{server.server_port}/metrics", err=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@metrics_group.command()
def show() -> None:
    """Print the metrics once, in Prometheus text format."""
    body, _ = exposition(resqplug.default_client())
    click.echo(body.decode("utf-8"), nl=False)
