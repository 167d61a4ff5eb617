"""The HTTP/1.1 client the gateway reaches upstreams with.

A small keep-alive client on asyncio protocols and httptools' C parser rather than
aiohttp: a stream held open costs a protocol, a parser, a response object and a timer
(about 4 KB) instead of the request, response, stream reader and connection objects
of aiohttp (about 12 KB), which is what lets one worker hold 5,000 streams in its
memory target.
It does only what the gateway needs: POST with a known body length, keep-alive pools
per origin, gzip/deflate bodies, outbound HTTP proxies (``proxy``), no redirects, no
cookies.
"""

from gateway.transport.client import HttpTransport
from gateway.transport.response import HttpResponse, ResponseHeaders

__all__ = ["HttpResponse", "HttpTransport", "ResponseHeaders"]
