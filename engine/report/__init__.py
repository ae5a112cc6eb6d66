# SPDX-License-Identifier: Apache-2.0
"""Self-contained HTML reports: one patient's page and a batch's evaluation report.

:mod:`engine.report.html` is the page frame, :mod:`engine.report.charts` the inline-SVG charts,
:mod:`engine.report.patient` and :mod:`engine.report.batch` the two reports.
"""
