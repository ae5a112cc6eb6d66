# SPDX-License-Identifier: Apache-2.0
"""Long-lived worker processes move the knowledge base out of the garbage collector's way.

A loaded and compiled knowledge base is a large graph of objects (rules, their conditions, the
validated output models shared by every differential) that lives as long as the process. Every
full collection of the cyclic garbage collector walks all of it, and a worker that answers
thousands of patients runs many: about 8% of the CPU per case on the bundled cases.
:func:`gc.freeze` moves every object alive at that moment to a permanent generation that
collections skip; objects made afterwards are collected as usual.

Only processes that leukodx itself starts and owns call this (batch workers, the service's
worker processes, and the process of ``leukodx serve``, which answers hook calls itself with
``--processes 0`` or on one core): never the library or an application that embeds the service
(``ServiceSettings.freeze_heap`` is off by default), where it would freeze the host
application's objects too.
"""

from __future__ import annotations

import gc


def freeze_long_lived() -> None:
    """Collect what is garbage now, then exempt every surviving object from later collections.
    Called once such a process has loaded and compiled its knowledge base and diagnosed the
    warm-up patient (:data:`engine.api.WARMUP_FACTS`)."""
    gc.collect()
    gc.freeze()
