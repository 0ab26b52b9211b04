"""Synthetic Apple Health exports (seeded, streaming) with ground truth, and hostile inputs.

Public API: :func:`write_export`, :func:`write_zip`, :func:`make_demo_export`,
:class:`GenConfig`, :class:`GroundTruth`; hostile builders live in :mod:`.hostile`.
"""

from .generator import GenConfig, GroundTruth, make_demo_export, write_export, write_zip

__all__ = ["GenConfig", "GroundTruth", "make_demo_export", "write_export", "write_zip"]
