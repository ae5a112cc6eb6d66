# SPDX-License-Identifier: Apache-2.0
"""The one place the package version is written (pyproject.toml reads it from here)."""

__version__ = "0.1.0"
