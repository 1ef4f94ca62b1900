"""A row's requests, built before anything is sent: what can go out, and why a row cannot.

Everything a value can raise on its way to the wire (a URL longer than web servers take,
text that cannot be encoded as UTF-8, a number JSON cannot hold, a value of a type JSON does
not know) is raised here, before a rate slot is taken, as :class:`Unsendable`: the sender
makes it that row's ``invalid`` outcome, never the run's end (issue 22), and a dry run says
it too (:func:`unsendable`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from importer.sending.protocol import Adapter, Call

__all__ = ["MAX_TARGET", "Unsendable", "build_request", "longest_cell", "unbuilt", "unsendable"]

#: The longest request target (path and query, percent-encoded, in bytes) we send. The
#: request line ("POST <target> HTTP/1.1") is what servers limit: Apache's LimitRequestLine
#: and nginx's large_client_header_buffers both default to 8 KB (8,190 bytes for Apache),
#: h11 (uvicorn, our sandbox) refuses a request line and headers over 16 KB, and httpx
#: itself refuses a URL over 64 KB with InvalidURL. No vendor documents its own limit (Zoho
#: People puts a whole session in the query string: ``sessionData``), so the common 8 KB,
#: less room for the method, the HTTP version and a proxy's absolute form. Over it, a
#: real server answers 414 or closes the connection, and the request proves nothing.
MAX_TARGET = 8_000


def build_request(
    call: Call,
    base_url: str,
    results: Mapping[str, str],
    client: httpx.Client | None = None,
    urls: dict[str, httpx.URL] | None = None,
    own: bool = True,
) -> httpx.Request:
    """The request of ``call`` under ``base_url`` (without the credentials), its body encoded.

    Args:
        call: the call; its path's ``{fields}`` are filled from ``results``.
        base_url: the vendor's host and prefix.
        results: earlier calls' results.
        client: the client whose headers and timeouts it takes.
        urls: a cache of parsed URLs (most rows share a few).
        own: whether the client is the run's own (see
            :meth:`importer.sending.sender.Sender._request`); else the caller's, whose
            cookies and defaults ``client.build_request`` merges in.

    Raises:
        Unsendable: it cannot be built (a value that cannot be encoded, a URL that is
            invalid or longer than :data:`MAX_TARGET`): nothing was sent.
    """
    form = dict(call.form) if call.form is not None else None
    params = dict(call.params) if call.params is not None else None
    try:
        url = _url(call, base_url, results)
        if client is not None and not own:
            request = client.build_request(call.method, url, json=call.json, data=form,
                                           params=params)  # fmt: skip
        else:
            parsed = urls.get(url) if urls is not None else None
            if parsed is None:
                parsed = httpx.URL(url)
                if urls is not None:
                    if len(urls) >= 1024:
                        urls.clear()
                    urls[url] = parsed
            request = httpx.Request(
                call.method,
                parsed,
                params=params,
                headers=client.headers if client is not None else None,
                json=call.json,
                data=form,
                extensions={"timeout": client.timeout.as_dict()} if client is not None else None,
            )
    except Exception as error:  # whatever a value raises on the way out: the row's
        raise Unsendable.of(error, call) from None
    length = len(request.url.raw_path)
    if length > MAX_TARGET:
        raise Unsendable("its URL is too long", length, call)
    return request


def _url(call: Call, base_url: str, results: Mapping[str, str]) -> str:
    if call.path.startswith(("http://", "https://")):
        return call.path  # a next-page link given by the vendor
    return base_url.rstrip("/") + call.path.format_map(results)


def longest_cell(label: Callable[[str], str], values: Mapping[str, str | None]) -> str:
    """The row's longest cell, by its column's label (``label``: a field's, as the vendor's
    sheet names it): what to shorten in a URL too long."""
    texts = {k: str(v) for k, v in values.items() if v is not None and not k.startswith("_")}
    if not texts:
        return ""
    name = max(texts, key=lambda k: len(texts[k]))
    return f"{label(name)} ({len(texts[name]):,} characters)"


class Unsendable(Exception):
    """A request that cannot be built from a row's values: never sent, the row's outcome.

    Attributes:
        reason: what is wrong, in words (no value is quoted: it may be long, or a secret).
        length: the request target's length, when it is too long.
        call: the call that could not be built, if known.
    """

    def __init__(self, reason: str, length: int = 0, call: Call | None = None) -> None:
        super().__init__(reason)
        self.reason, self.length, self.call = reason, length, call

    @classmethod
    def of(cls, error: BaseException, call: Call | None = None) -> Unsendable:
        """The words for what building a request raised (httpx, json, str.encode...)."""
        if isinstance(error, httpx.InvalidURL) and "too long" in str(error):
            # Over httpx's own 64 KB: measured as it would have been sent.
            query = str(httpx.QueryParams(dict(call.params))) if call and call.params else ""
            size = len(call.path) + 1 + len(query) if call else 0
            return cls("its URL is too long", max(size, MAX_TARGET + 1), call)
        if isinstance(error, UnicodeEncodeError):
            return cls(
                f"a value holds {error.object[error.start : error.end]!a}, which cannot "
                f"be sent as {error.encoding.upper()} (a broken character: retype it)",
                call=call,
            )
        if isinstance(error, httpx.InvalidURL):
            return cls(f"its URL is not valid ({str(error)[:120]})", call=call)
        detail = str(error).split(";")[0][:120]
        return cls(f"a value cannot be encoded ({type(error).__name__}: {detail})", call=call)


def unbuilt(error: Unsendable, longest: str = "", adapter: object = None) -> str:
    """One line for a row whose request could not be built (``adapter``: its ``url_hint``)."""
    what = f"the request to {error.call.name}" if error.call else "the request"
    if not error.length:
        return f"not sent: {what} cannot be built: {error.reason}"
    where = f"; the longest cell: {longest}" if longest else ""
    return (
        f"not sent: {what} would put {error.length:,} bytes in its URL (this vendor takes the "
        f"row's values in the URL), over the {MAX_TARGET:,} web servers accept{where}. "
        f"Shorten it{getattr(adapter, 'url_hint', '')}"
    )


def unsendable(
    adapter: Adapter,
    values: Mapping[str, str | None],
    base_url: str,
    label: Callable[[str], str] = str,
) -> str | None:
    """Why a row's requests could not be built (what a dry run says), or ``None``: they can
    (``label``: a field's column label, as :func:`longest_cell` takes it).

    Paths that take an earlier call's result are filled with a 24-character stand-in.
    """
    try:
        calls = adapter.calls(values)
    except Exception as error:  # the adapter's own, on a value
        return unbuilt(Unsendable.of(error))
    try:
        for call in calls:
            build_request(call, base_url, _StandIn())
    except Unsendable as error:
        return unbuilt(error, longest_cell(label, values), adapter)
    return None


class _StandIn(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "0" * 24
