# SPDX-License-Identifier: Apache-2.0
"""Inference backends behind one seam (base.py): experta (default) and CLIPS."""
