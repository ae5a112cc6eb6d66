# SPDX-License-Identifier: Apache-2.0
"""The CDS Hooks 2.0 service (extra ``service``).

:mod:`engine.service.app` is the HTTP application, :mod:`engine.service.hooks` turns a hook request
into cards, :mod:`engine.service.cards` builds the cards, :mod:`engine.service.models` holds the
wire models and :mod:`engine.service.auth` verifies the CDS client's JWT. Importing this package
does not import FastAPI: only :mod:`engine.service.app` needs it.
"""
