"""Helpers for the chapters themselves: headline numbers (glue) and the offline Vega bundle.

The Sphinx extension :mod:`scalingbook.book.vega_offline` is loaded by the book's
``_config.yml``; chapters call :func:`record` for every number their prose states.
"""

from .headlines import Headline, read_headlines, record

__all__ = ["Headline", "read_headlines", "record"]
