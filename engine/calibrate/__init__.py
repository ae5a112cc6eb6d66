# SPDX-License-Identifier: Apache-2.0
"""Calibration of the evidence weights and cause priors against development cases.

``leukodx calibrate`` fits the scoring model of :mod:`engine.rank` (a softmax over the causes and
"other" of prior log-odds plus the weights of the evidence rules that fired) by penalised maximum
likelihood, shrinking toward the authored values, and measures it by nested grouped
cross-validation so that the figures it reports are out-of-fold. The fitted values are written as
a reviewable YAML file; nothing here changes the knowledge base itself. numpy and scipy come from
the optional ``calibrate`` extra and are imported only inside functions.
"""

from __future__ import annotations

EXTRA_HINT = "pip install 'leukodx[calibrate]'"
