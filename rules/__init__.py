# SPDX-License-Identifier: Apache-2.0
"""The leukodx knowledge base (YAML data only); installed as ``engine.rules`` so that a
non-editable install carries it. Nothing here is executed: this file only marks the package."""
