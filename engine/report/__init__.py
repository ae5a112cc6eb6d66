# SPDX-License-Identifier: Apache-2.0
"""Self-contained HTML reports: one patient's page and a batch's evaluation report.

:mod:`engine.report.html` is the page frame and the differential, :mod:`engine.report.charts` the
batch report's inline-SVG charts, :mod:`engine.report.patient` and :mod:`engine.report.batch` the
two reports. The patient report's timeline is :mod:`engine.report.timeline` (drawing), with
:mod:`engine.report.axes` (scales, label placement), :mod:`engine.report.limits` (its reference
lines and bands, from the knowledge base) and :mod:`engine.report.summary` (the note-like parts).
"""
