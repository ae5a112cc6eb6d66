# SPDX-License-Identifier: Apache-2.0
"""The knowledge base: strict YAML reading, the rule language, loading and linting."""
