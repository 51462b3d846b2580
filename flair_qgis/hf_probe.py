"""One short connection attempt to the model hub before a download, so that a machine without
network fails at once with one clear message, instead of after ``huggingface_hub``'s retries
(five, about 25-30 s, each logged)."""

from __future__ import annotations

import os
import socket
import urllib.request
from urllib.parse import urlsplit

DEFAULT_ENDPOINT = "https://huggingface.co"
TIMEOUT = 5.0  # seconds: a refused or unresolvable host answers at once, a firewall that drops never


def endpoint() -> str:
    """The hub's address: ``HF_ENDPOINT`` when set, else huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def unreachable(url: str | None = None, timeout: float = TIMEOUT) -> str | None:
    """Why the hub at ``url`` (default :func:`endpoint`) cannot be reached, or ``None`` when a TCP
    connection to it (or to the proxy the environment sets for it) opens within ``timeout``."""
    url = url or endpoint()
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    if not host:
        return f"HF_ENDPOINT {url!r} is not a URL"
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        proxied = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = proxied.hostname or host, proxied.port or 8080
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.gaierror:
        return f"the name {host} cannot be resolved: no network, or no DNS"
    except ConnectionRefusedError:
        return f"{host}:{port} refused the connection"
    except TimeoutError:
        return f"no answer from {host}:{port} within {timeout:g} s: no network, or a firewall"
    except OSError as e:
        return f"{host}:{port}: {e.strerror or e}"
