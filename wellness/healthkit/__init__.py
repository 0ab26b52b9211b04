"""Apple Health importer: reader → parser → dedup/rollups → Redis (staging + atomic swap)."""

from wellness.healthkit.errors import (
    ImportCancelled,
    ImportError_,
    ImportInProgress,
    NotHealthExport,
    TruncatedExport,
    UnsafeInput,
    ZipBombDetected,
)
from wellness.healthkit.importer import (
    ImportProgress,
    ImportSummary,
    forget_user_data,
    import_export,
)

__all__ = [
    "ImportCancelled", "ImportError_", "ImportInProgress", "ImportProgress", "ImportSummary",
    "NotHealthExport", "TruncatedExport", "UnsafeInput", "ZipBombDetected", "forget_user_data",
    "import_export",
]
